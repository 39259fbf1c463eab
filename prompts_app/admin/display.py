"""How the admin writes things out: numbers with their units (through the one
formatter, `prompts_app.lib.formatting`), verdicts in words, eval runs and
costs as badges, links and JSON blocks.

The run summaries and the advisor's figures hold exact decimal strings; these
functions only write them out, so every page rounds the same way.
"""

from __future__ import annotations

import datetime as dt
import json

from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from prompts_app.admin.base import eval_run_url, eval_status_url
from prompts_app.lib.advisor import Verdict
from prompts_app.lib.formatting import (
    format_money,
    format_ms,
    format_number,
    format_percent,
    format_signed_money,
    format_tokens,
    to_decimal,
)
from prompts_app.models import EvalRun

# Short names for the admin's many call sites; each returns None for no value.
money = format_money
signed_money = format_signed_money
percent = format_percent
milliseconds = format_ms


def token_count(value, *, signed: bool = False) -> str | None:
    return format_tokens(value, signed=signed)


def with_unit(value, unit: str) -> str:
    """A figure and its unit as a person reads them: '$764.11 / month',
    '1.96 months', '40,419 calls / month', '$0.15 per 1M tokens'; a date as
    '2027-01-14' (a date, or an ISO date string with the unit "date")."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if unit == "date":
        return str(value) if value not in (None, "") else "—"
    number = to_decimal(value)
    if number is None:
        return "—"
    if unit == "USD":
        return money(number)
    if unit.startswith("USD/"):
        return f"{money(number)} / {unit[4:]}"
    if unit.startswith("USD per "):
        return f"{money(number)} {unit[4:]}"
    if unit.startswith("share"):
        return f"{format_number(number, max_places=4)} ({percent(number)})"
    return f"{format_number(number)} {unit.replace('/', ' / ')}"


def seconds_between(start, end) -> str | None:
    if start is None or end is None:
        return None
    return f"{format_number((end - start).total_seconds(), max_places=1)} s"


def local_time(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


# --- verdicts -------------------------------------------------------------------

# The advisor's codes stay in CSS classes and URLs; people read these words.
VERDICTS = {
    Verdict.FINE_TUNE.value: (
        "Fine-tune", "Fine-tuning pays off: the money, the volume, the data and the prompt's stability all say yes."
    ),
    Verdict.PREPARE_DATA.value: (
        "Prepare data", "The money says yes, but there are not enough approved examples yet: approve more, then tune."
    ),
    Verdict.KEEP_PROMPTING.value: (
        "Keep prompting", "Keep sending the prompt: tuning would not pay off, or the prompt is still changing."
    ),
}


def verdict_words(verdict: str) -> str:
    return VERDICTS.get(verdict, (verdict, ""))[0]


def verdict_badge(verdict: str | None) -> dict | None:
    """`verdict` is the code (for the CSS class), `label` the words shown."""
    if not verdict:
        return None
    label, meaning = VERDICTS.get(verdict, (verdict, ""))
    return {"verdict": verdict, "label": label, "meaning": meaning}


# --- cost strategies (lib/strategies.py) --------------------------------------------

# The kinds' codes stay in CSS classes; people read these words.
STRATEGY_KINDS = {
    "keep": "Keep as is",
    "cache_prefix": "Prompt caching",
    "prune_examples": "Fewer examples",
    "downshift": "Move to another model",
    "fine_tune": "Fine-tune",
    "batch": "Batch API",
    "flex": "Flex processing",
}

# The price sheet's provider codes (fixtures/model_prices.json) as their makers write them.
PROVIDERS = {
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "google": "Google",
    "fireworks": "Fireworks AI",
    "groq": "Groq",
    "mistral": "Mistral AI",
    "together": "Together AI",
}


def strategy_kind_words(kind: str) -> str:
    return STRATEGY_KINDS.get(kind, kind.replace("_", " ").capitalize())


def provider_words(provider: str | None) -> str:
    return PROVIDERS.get(provider or "", provider or "the provider")


def sentence(text: str) -> str:
    """A message as a sentence: a capital first letter when it starts with a plain
    word (the strategies' blockers may start lower-case); a name such as
    'gpt-5-nano' or 'o3' keeps its case."""
    first = text.split(" ", 1)[0] if text else ""
    if first.isalpha() and first.islower():
        return text[:1].upper() + text[1:]
    return text


# --- eval runs and costs ------------------------------------------------------------

# What people read for each run status (the model's choices: "rendered, not
# graded", "no cases"); the code stays in the CSS class, so each has its colour.
STATUS_WORDS = dict(EvalRun.STATUS_CHOICES)

STATUS_HINTS = {
    EvalRun.QUEUED: "waiting for a worker",
    EvalRun.RUNNING: "in progress",
    EvalRun.PASSED: "every case rendered and the model's answers passed every assertion",
    EvalRun.FAILED: "a case failed an assertion or did not render",
    EvalRun.ERROR: "the provider or the run itself failed",
    EvalRun.RENDERED: "every case rendered; no model provider, so nothing was graded (not a pass)",
    EvalRun.NO_CASES: "the eval suite has no cases, so nothing was checked (not a pass)",
}

# Still moving: a page showing one of these polls for the final status.
ACTIVE_STATUSES = (EvalRun.QUEUED, EvalRun.RUNNING)


def status_words(status: str) -> str:
    return STATUS_WORDS.get(status, status)


def static_of(run: EvalRun | None) -> dict | None:
    return (run.summary or {}).get("static") if run is not None else None


def eval_badge(run: EvalRun | None, *, latest: bool = False) -> dict | None:
    """A run as a coloured status badge linking to its page. `latest`: the badge
    stands for its version's latest run, so a page that polls follows a newer run."""
    if run is None:
        return None
    words = status_words(run.status)
    title = (f"Run #{run.pk} ({run.trigger}, {local_time(run.created_at)}): {words} — "
             f"{STATUS_HINTS.get(run.status, '')}")
    rate = percent(((run.summary or {}).get("model") or {}).get("pass_rate"))
    if rate is not None:
        title += f"; pass rate {rate}"
    return {
        "run": run,
        "status": run.status,
        "label": words,
        "url": eval_run_url(run),
        "title": title,
        "active": run.status in ACTIVE_STATUSES,
        "poll_url": eval_status_url(run.prompt_version.prompt_id),
        "version": run.prompt_version.number if latest else None,
    }


def cost_per_call(static: dict | None) -> dict | None:
    """The static checks' estimated cost per call with its unit, or why there is none."""
    if not static:
        return None
    model = static.get("model")
    cost = money(static.get("est_cost_per_call"))
    if cost is not None:
        return {
            "text": f"{cost} / call",
            "estimated": True,
            "title": f"{model}: mean input tokens of the suite's cases at the input price, plus the "
            "expected outputs' tokens at the output price (per 1M-token list prices in force).",
        }
    if not model:
        text, title = "no model", "Name a model in the version's model config, or give the eval suite a provider."
    elif not static.get("priced"):
        text, title = "not priced", f"{model} has no price in this project's price sheet: add one under Model prices."
    else:
        text, title = "no case rendered", "No eval case rendered, so there are no tokens to price."
    return {"text": text, "estimated": False, "title": title}


# --- HTML fragments for list columns ------------------------------------------------------


def link(url: str, text) -> str:
    return format_html('<a href="{}">{}</a>', url, text)


def json_block(value) -> str:
    return format_html('<pre class="pl-code-block">{}</pre>', json.dumps(value, indent=2, ensure_ascii=False))


def status_badge_html(badge: dict | None) -> str:
    """The same markup as evalrun/_badge.html (which the status endpoint renders)."""
    if badge is None:
        return "—"
    return mark_safe(render_to_string("admin/prompts_app/evalrun/_badge.html", {"badge": badge}).strip())


def cost_html(cost: dict | None) -> str:
    if cost is None:
        return "—"
    css = "pl-cost" if cost["estimated"] else "pl-cost pl-cost-missing"
    return format_html('<span class="{}" title="{}">{}</span>', css, cost["title"], cost["text"])
