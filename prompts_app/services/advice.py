"""Feeds the pure advisor from the ledger, the tokenizer and the example sets,
and raises an alert once when a prompt's verdict turns to (or away from)
`fine_tune`.

Volume is the trailing 30 days scaled to a 30-day month: when the prompt has
been used for fewer days (its first usage in the window is recent), the calls
are scaled by 30 / days observed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from prompts_app.errors import DomainError
from prompts_app.lib import advisor
from prompts_app.lib.tokens import count_message_tokens, count_text_tokens
from prompts_app.models import (
    AdviceState,
    AdvisorSettings,
    Alert,
    ModelPrice,
    Project,
    Prompt,
    PromptVersion,
    UsageRollup,
)
from prompts_app.selectors.advice import PAYBACK_SCHEDULE_MONTHS
from prompts_app.selectors.evals import eval_run_latest
from prompts_app.selectors.ledger import rollup_window
from prompts_app.services import alerts, finetune

WINDOW_DAYS = 30
EXAMPLES_USED = re.compile(r"\bexamples\b")
JINJA_TAGS = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


def advisor_settings_for(project: Project) -> AdvisorSettings:
    """The project's advisor settings, for reading. A project that never saved any
    gets the defaults in memory (an unsaved row), so a read never writes."""
    found = AdvisorSettings.objects.filter(project=project).first()
    return found if found is not None else AdvisorSettings(project=project)


def static_tokens(version: PromptVersion) -> dict:
    """Tokens of the part of the prompt that is the same on every call: the
    template text without its Jinja tags (the system messages, for chat) and
    the few-shot examples."""
    if version.prompt.kind == Prompt.KIND_CHAT:
        static_text = "\n".join(
            m["content"] for m in version.messages or [] if m["role"] == "system"
        )
    else:
        static_text = version.template
    prompt_tokens = count_text_tokens(JINJA_TAGS.sub("", static_text))
    examples = (
        version.example_set_version.as_render_examples() if version.example_set_version_id else []
    )
    if version.prompt.kind == Prompt.KIND_TEXT and not EXAMPLES_USED.search(version.template):
        examples = []  # a text template that never loops over `examples` does not send them
    if version.prompt.kind == Prompt.KIND_CHAT:
        pairs = []
        for example in examples:
            user = finetune.example_user_message(version.prompt, version, example["input"])
            pairs += [
                {"role": "user", "content": user},
                {"role": "assistant", "content": example["output"]},
            ]
        example_tokens = count_message_tokens(pairs) - 3 if pairs else 0  # no reply priming
    else:
        example_tokens = sum(
            count_text_tokens(str(e["input"])) + count_text_tokens(e["output"]) for e in examples
        )
    return {"prompt_tokens": prompt_tokens, "example_tokens": example_tokens}


def _usage_window(prompt: Prompt, today: dt.date) -> dict:
    start, today = rollup_window(days=WINDOW_DAYS, today=today)
    rollups = UsageRollup.objects.filter(prompt=prompt, day__gte=start, day__lte=today)
    totals = rollups.aggregate(
        calls=Sum("calls"),
        input_tokens=Sum("input_tokens"),
        cached=Sum("cached_input_tokens"),
        output_tokens=Sum("output_tokens"),
    )
    first_day = rollups.order_by("day").values_list("day", flat=True).first()
    by_model = Counter()
    for model, calls in rollups.values_list("model").annotate(calls=Sum("calls")):
        by_model[model] = calls
    return {
        "calls": totals["calls"] or 0,
        "input_tokens": totals["input_tokens"] or 0,
        "cached_input_tokens": totals["cached"] or 0,
        "output_tokens": totals["output_tokens"] or 0,
        "days_observed": (today - first_day).days + 1 if first_day else 0,
        "model": by_model.most_common(1)[0][0] if by_model else None,
        "from": start.isoformat(),
        "to": today.isoformat(),
    }


def prompt_advice(*, prompt: Prompt, now: dt.datetime | None = None) -> dict:
    """The verdict for one prompt, with every input, figure and reason."""
    now = now or timezone.now()
    config = advisor_settings_for(prompt.project)
    version = finetune.production_version(prompt)
    if version is None:
        raise DomainError(
            f"Prompt '{prompt.name}' has no versions yet: nothing to advise on.", field="name"
        )
    usage = _usage_window(prompt, now.date())
    model = usage["model"] or version.model_config.get("model")
    price = (
        ModelPrice.objects.in_force(project=prompt.project, model=model, at=now) if model else None
    )
    context = {
        "prompt": prompt.name,
        "production_version": version.number,
        "model": model,
        "window": usage,
        "currency": "USD",
    }
    if price is None:
        return _no_advice(
            context, f"The price sheet has no price for model '{model}': add it to get advice."
        )
    if price.ft_input_per_1m is None or price.training_per_1m is None:
        return _no_advice(
            context,
            f"'{model}' has no fine-tuning offer in the price sheet (no tuned-model or training price): "
            "keep prompting, or price a tunable model.",
        )
    static = static_tokens(version)
    removable = max(
        0, static["prompt_tokens"] + static["example_tokens"] - config.residual_instruction_tokens
    )
    calls = Decimal(usage["calls"])
    scale = Decimal(WINDOW_DAYS) / usage["days_observed"] if usage["days_observed"] else Decimal(0)
    dataset = finetune.finetune_dataset(prompt, version=version)
    approved = len(dataset["train"]) + len(dataset["validation"])
    one_time = advisor.training_cost(
        training_tokens=finetune.training_tokens(dataset["train"]),
        epochs=config.epochs,
        training_price_per_1m=price.training_per_1m,
        data_preparation_cost=config.data_preparation_cost,
    )
    latest_run = eval_run_latest(version=version, finished=True)
    pass_rate = (latest_run.summary.get("model") or {}).get("pass_rate") if latest_run else None
    inputs = advisor.AdvisorInputs(
        calls_per_month=calls * scale,
        avg_input_tokens=Decimal(usage["input_tokens"]) / calls if calls else Decimal(0),
        avg_output_tokens=Decimal(usage["output_tokens"]) / calls if calls else Decimal(0),
        tokens_removable=Decimal(removable),
        input_price_per_1m=price.input_per_1m,
        output_price_per_1m=price.output_per_1m,
        ft_input_price_per_1m=price.ft_input_per_1m,
        ft_output_price_per_1m=price.ft_output_per_1m,
        cached_input_share=(
            Decimal(usage["cached_input_tokens"]) / usage["input_tokens"]
            if usage["input_tokens"]
            else Decimal(0)
        ),
        cached_input_price_per_1m=price.cached_input_per_1m,
        ft_cached_input_price_per_1m=price.ft_cached_input_per_1m,
        one_time_cost=one_time,
        approved_examples=approved,
        versions_last_30_days=PromptVersion.objects.filter(
            prompt=prompt, created_at__gte=now - dt.timedelta(days=WINDOW_DAYS)
        ).count(),
        payback_horizon_months=config.payback_horizon_months,
        prefill_ms_per_token=config.prefill_ms_per_token,
        volume_floor_calls_per_month=Decimal(config.volume_floor_calls_per_month),
        min_approved_examples=config.min_approved_examples,
        max_versions_last_30_days=config.max_versions_last_30_days,
        eval_pass_rate=Decimal(pass_rate) if pass_rate is not None else None,
    )
    advice = advisor.advise(inputs)
    context["static_tokens"] = {
        **static,
        "residual_instruction_tokens": config.residual_instruction_tokens,
    }
    context["training"] = {
        "epochs": config.epochs,
        "training_price_per_1m": str(price.training_per_1m),
        "data_preparation_cost": str(config.data_preparation_cost),
    }
    return {**context, **advice.as_dict(schedule_months=PAYBACK_SCHEDULE_MONTHS)}


def _no_advice(context: dict, reason: str) -> dict:
    return {
        **context,
        "verdict": advisor.Verdict.KEEP_PROMPTING.value,
        "reasons": [reason],
        "checks": {},
        "figures": {},
        "units": dict(advisor.UNITS),
        "inputs": {},
        "payback_schedule": [],
    }


def advice_evaluate(*, prompt: Prompt, now: dt.datetime | None = None) -> Alert | None:
    """Re-evaluate one prompt; an alert fires once per change into or out of `fine_tune`."""
    try:
        advice = prompt_advice(prompt=prompt, now=now)
    except DomainError:
        return None
    with transaction.atomic():
        state = AdviceState.objects.select_for_update().filter(prompt=prompt).first()
        previous = state.verdict if state else None
        is_fine_tune = advice["verdict"] == advisor.Verdict.FINE_TUNE.value
        was_fine_tune = previous == advisor.Verdict.FINE_TUNE.value
        alert = None
        if is_fine_tune != was_fine_tune:
            kind = Alert.KIND_FINE_TUNE if is_fine_tune else Alert.KIND_NO_LONGER
            alert = alerts.alert_create(prompt=prompt, kind=kind, advice=advice)
        figures = {"verdict": advice["verdict"], **(advice.get("figures") or {})}
        if state is None:
            AdviceState.objects.create(prompt=prompt, verdict=advice["verdict"], figures=figures)
        else:
            state.verdict, state.figures, state.evaluated_at = (
                advice["verdict"],
                figures,
                timezone.now(),
            )
            state.save(update_fields=["verdict", "figures", "evaluated_at"])
    return alert


def advice_pass_all(*, now: dt.datetime | None = None) -> dict:
    """The daily pass: re-evaluate every prompt that has versions."""
    report = {"prompts": 0, "alerts": 0}
    for prompt in (
        Prompt.objects.filter(latest_version_number__gt=0).select_related("project").iterator()
    ):
        report["prompts"] += 1
        report["alerts"] += advice_evaluate(prompt=prompt, now=now) is not None
    return report
