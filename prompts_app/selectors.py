"""Selectors read: lookups that raise NotFound naming what was missing, and the
read models the API and the admin serve."""

from __future__ import annotations

import datetime as dt
import difflib
from decimal import Decimal
import json
from typing import Any

from django.db.models import Sum
from django.utils import timezone

from promptledger import rendering
from prompts_app import cache as resolve_cache
from prompts_app import validation
from prompts_app.errors import DomainError, NotFound
from prompts_app.models import (
    Alert,
    EvalRun,
    ExampleSet,
    ExampleSetVersion,
    Label,
    LabelMove,
    Project,
    Prompt,
    PromptVersion,
    UsageRollup,
)
from prompts_app.jsonutil import sha256_of
from prompts_app.ledger import MAX_LEDGER_DAYS, ROLLUP_SUMS, pico_to_dollars
from prompts_app.tokens import count_rendered_tokens


def prompt_get(*, project: Project, name: str) -> Prompt:
    prompt = Prompt.objects.filter(project=project, name=name).first()
    if prompt is None:
        raise NotFound(f"No prompt named '{name}' in project '{project.name}'.", field="name")
    return prompt


def prompt_list(*, project: Project):
    return Prompt.objects.filter(project=project).order_by("name")


def _parse_version_number(value: Any, *, field: str = "version") -> int:
    if isinstance(value, bool):
        raise DomainError(f"'{field}' must be a positive integer.", field=field)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise DomainError(
            f"'{field}' must be a positive integer, not {value!r}.", field=field
        ) from None
    if number < 1:
        raise DomainError(f"'{field}' must be a positive integer.", field=field)
    return number


def prompt_version_get(*, prompt: Prompt, number: Any) -> PromptVersion:
    number = _parse_version_number(number)
    version = (
        PromptVersion.objects.filter(prompt=prompt, number=number)
        .select_related("example_set_version__example_set")
        .first()
    )
    if version is None:
        raise NotFound(f"Prompt '{prompt.name}' has no version {number}.", field="version")
    return version


def prompt_version_list(*, prompt: Prompt):
    return (
        PromptVersion.objects.filter(prompt=prompt)
        .select_related("example_set_version__example_set")
        .order_by("-number")
    )


def prompt_version_for(
    *, prompt: Prompt, label: str | None, version: Any = None
) -> tuple[PromptVersion, str | None]:
    """The version a runtime client gets: by number, by label, or production
    falling back to the latest version. Returns (version, label name or None)."""
    if version is not None and label is not None:
        raise DomainError("Give either 'label' or 'version', not both.", field="label")
    if version is not None:
        return prompt_version_get(prompt=prompt, number=version), None
    if label in (None, ""):
        found = (
            Label.objects.filter(prompt=prompt, name=Label.PRODUCTION)
            .select_related("version")
            .first()
        )
        if found is not None:
            return found.version, Label.PRODUCTION
        label = Label.LATEST
    if label == Label.LATEST:
        latest = prompt_version_list(prompt=prompt).first()
        if latest is None:
            raise NotFound(f"Prompt '{prompt.name}' has no versions yet.", field="version")
        return latest, Label.LATEST
    found = Label.objects.filter(prompt=prompt, name=label).select_related("version").first()
    if found is None:
        raise NotFound(f"Prompt '{prompt.name}' has no label '{label}'.", field="label")
    return found.version, label


def version_examples(version: PromptVersion) -> list[dict]:
    if version.example_set_version_id is None:
        return []
    return version.example_set_version.as_render_examples()


def resolve_payload(*, prompt: Prompt, version: PromptVersion, label: str | None) -> dict:
    esv = version.example_set_version
    return {
        "prompt": prompt.name,
        "kind": prompt.kind,
        "version": version.number,
        "label": label,
        "template": version.template if prompt.kind == Prompt.KIND_TEXT else None,
        "messages": version.messages if prompt.kind == Prompt.KIND_CHAT else None,
        "examples": version_examples(version),
        "example_set": {"name": esv.example_set.name, "version": esv.number} if esv else None,
        "model_config": version.model_config,
        "template_options": version.template_options,
        "variables": version.variables,
        "content_hash": version.content_hash,
        "created_at": version.created_at.isoformat().replace("+00:00", "Z"),
    }


def _etag(payload: dict) -> str:
    return '"' + sha256_of(payload)[:32] + '"'


def prompt_resolve(
    *, project: Project, name: str, label: str | None = None, version: Any = None
) -> dict:
    """{"payload", "etag"} for a runtime client; served from the cache when it can be."""
    if version is not None:
        selector = f"v{_parse_version_number(version)}"
    else:
        selector = f"l:{label or ''}"
    entry, generation = resolve_cache.get(project.pk, name, selector)
    if entry is not None:
        return entry
    prompt = prompt_get(project=project, name=name)
    found, label_name = prompt_version_for(prompt=prompt, label=label, version=version)
    payload = resolve_payload(prompt=prompt, version=found, label=label_name)
    entry = {"payload": payload, "etag": _etag(payload)}
    resolve_cache.put(project.pk, name, selector, generation, entry)
    return entry


def prompt_render(
    *, project: Project, name: str, label: str | None, version: Any, variables: Any
) -> dict:
    resolved = prompt_resolve(project=project, name=name, label=label, version=version)["payload"]
    return render_payload(resolved, variables)


def render_payload(resolved: dict, variables: Any) -> dict:
    body = resolved["messages"] if resolved["kind"] == Prompt.KIND_CHAT else resolved["template"]
    output = rendering.render(
        resolved["kind"],
        body,
        variables,
        examples=resolved["examples"],
        schema=resolved["variables"],
        options=resolved.get("template_options"),
    )
    result = {
        "prompt": resolved["prompt"],
        "version": resolved["version"],
        "label": resolved["label"],
        "kind": resolved["kind"],
        "content_hash": resolved["content_hash"],
        "text": output if isinstance(output, str) else None,
        "messages": output if isinstance(output, list) else None,
        "token_count": count_rendered_tokens(output),
    }
    return result


def draft_render(
    *, template: Any, messages: Any, variables: Any, examples: Any, template_options: Any = None
) -> dict:
    """Render a draft that is not saved (admin preview, CI linting). Stores nothing."""
    if (template is None) == (messages is None):
        raise DomainError(
            "Give exactly one of 'template' (text) or 'messages' (chat).", field="template"
        )
    kind = Prompt.KIND_TEXT if template is not None else Prompt.KIND_CHAT
    body = validation.prompt_body_clean(kind, template, messages)
    cleaned = validation.examples_clean(examples if examples is not None else [])
    render_examples = [{"input": e["input"], "output": e["output"]} for e in cleaned]
    output = rendering.render(
        kind,
        body,
        variables if variables is not None else {},
        examples=render_examples,
        options=template_options,
    )
    return {
        "kind": kind,
        "text": output if isinstance(output, str) else None,
        "messages": output if isinstance(output, list) else None,
        "token_count": count_rendered_tokens(output),
        "variables": rendering.infer_variables(kind, body, template_options),
    }


def label_list(*, prompt: Prompt):
    return Label.objects.filter(prompt=prompt).select_related("version").order_by("name")


def label_history(*, prompt: Prompt, label: str | None = None):
    moves = LabelMove.objects.filter(prompt=prompt).select_related("from_version", "to_version")
    if label:
        moves = moves.filter(label=label)
    return moves.order_by("-moved_at", "-id")


# --- diffs ------------------------------------------------------------------


def _lines_of(version: PromptVersion, section: str) -> list[str]:
    if section == "template":
        return (version.template or "").splitlines(keepends=False)
    if section == "messages":
        lines: list[str] = []
        for message in version.messages or []:
            lines.append(f"[{message['role']}]")
            lines.extend(message["content"].splitlines())
        return lines
    if section == "examples":
        lines = []
        for index, example in enumerate(version_examples(version), start=1):
            lines.append(f"# example {index}")
            lines.append(
                "input: " + json.dumps(example["input"], sort_keys=True, ensure_ascii=False)
            )
            lines.extend(("output: " + example["output"]).splitlines())
        return lines
    if section == "model_config":
        return json.dumps(version.model_config, indent=2, sort_keys=True).splitlines()
    if section == "variables":
        return json.dumps(version.variables, indent=2, sort_keys=True).splitlines()
    if section == "template_options":
        return [f"{key}: {str(value).lower()}" for key, value in version.template_options.items()]
    raise ValueError(section)


DIFF_SECTIONS = (
    "template",
    "messages",
    "template_options",
    "examples",
    "model_config",
    "variables",
)


def prompt_version_diff(*, prompt: Prompt, from_number: Any, to_number: Any) -> dict:
    """A unified diff, section by section, between two versions of a prompt."""
    if from_number in (None, "") or to_number in (None, ""):
        raise DomainError("Give both 'from' and 'to' version numbers.", field="from")
    old = prompt_version_get(prompt=prompt, number=from_number)
    new = prompt_version_get(prompt=prompt, number=to_number)
    sections = {}
    for section in DIFF_SECTIONS:
        diff = list(
            difflib.unified_diff(
                _lines_of(old, section),
                _lines_of(new, section),
                fromfile=f"v{old.number}/{section}",
                tofile=f"v{new.number}/{section}",
                lineterm="",
            )
        )
        sections[section] = "\n".join(diff)
    return {
        "prompt": prompt.name,
        "from": old.number,
        "to": new.number,
        "changed": [name for name, text in sections.items() if text],
        "sections": sections,
        "diff": "\n".join(text for text in sections.values() if text),
    }


# --- example sets -----------------------------------------------------------


def example_set_get(*, project: Project, name: str) -> ExampleSet:
    found = ExampleSet.objects.filter(project=project, name=name).first()
    if found is None:
        raise NotFound(f"No example set named '{name}' in project '{project.name}'.", field="name")
    return found


def example_set_version_get(*, example_set: ExampleSet, number: Any) -> ExampleSetVersion:
    number = _parse_version_number(number)
    found = ExampleSetVersion.objects.filter(example_set=example_set, number=number).first()
    if found is None:
        raise NotFound(
            f"Example set '{example_set.name}' has no version {number}.", field="version"
        )
    return found


# --- evals --------------------------------------------------------------------


def eval_run_list(*, prompt: Prompt, version: Any = None):
    runs = EvalRun.objects.filter(prompt_version__prompt=prompt).select_related("prompt_version")
    if version not in (None, ""):
        runs = runs.filter(prompt_version__number=_parse_version_number(version))
    return runs.order_by("-created_at", "-id")


def eval_run_get(*, project: Project, run_id: Any):
    try:
        pk = int(run_id)
    except (TypeError, ValueError):
        raise DomainError(f"'{run_id}' is not an eval run id.", field="id") from None
    run = (
        EvalRun.objects.filter(pk=pk, prompt_version__prompt__project=project)
        .select_related("prompt_version__prompt")
        .prefetch_related("results")
        .first()
    )
    if run is None:
        raise NotFound(f"No eval run {pk} in project '{project.name}'.", field="id")
    return run


def eval_run_latest(*, version: PromptVersion):
    return version.eval_runs.order_by("-created_at", "-id").first()


# --- ledger -------------------------------------------------------------------

LEDGER_GROUPS = {"day": "day", "version": "version_number", "model": "model"}


def _ledger_window(days: Any, today: dt.date | None) -> tuple[int, dt.date, dt.date]:
    try:
        days = int(days)
    except (TypeError, ValueError):
        raise DomainError(
            f"'days' must be a whole number of days, not {days!r}.", field="days"
        ) from None
    if not 1 <= days <= MAX_LEDGER_DAYS:
        raise DomainError(f"'days' must be from 1 to {MAX_LEDGER_DAYS}.", field="days")
    today = today or timezone.now().date()
    return days, today - dt.timedelta(days=days - 1), today


def _ledger_row(values: dict) -> dict:
    calls = values["calls"] or 0
    return {
        "calls": calls,
        "error_calls": values["error_calls"] or 0,
        "unpriced_calls": values["unpriced_calls"] or 0,
        "input_tokens": values["input_tokens"] or 0,
        "cached_input_tokens": values["cached_input_tokens"] or 0,
        "output_tokens": values["output_tokens"] or 0,
        "cost": str(pico_to_dollars(values["cost_pico"] or 0)),
        "avg_latency_ms": (
            str((Decimal(values["latency_ms_total"]) / calls).quantize(Decimal("0.1")))
            if calls
            else None
        ),
    }


def _ledger_sums():
    return {name: Sum(name) for name in ROLLUP_SUMS}


def prompt_ledger(
    *, prompt: Prompt, days: Any = 30, group_by: str = "day", today: dt.date | None = None
) -> dict:
    """Calls, tokens and cost (USD) of one prompt over the last `days` days (UTC), grouped."""
    if group_by not in LEDGER_GROUPS:
        raise DomainError("'group_by' must be day, version or model.", field="group_by")
    days, start, end = _ledger_window(days, today)
    rollups = UsageRollup.objects.filter(prompt=prompt, day__gte=start, day__lte=end)
    column = LEDGER_GROUPS[group_by]
    rows = []
    for values in rollups.values(column).annotate(**_ledger_sums()).order_by(column):
        key = values[column]
        rows.append(
            {group_by: key.isoformat() if isinstance(key, dt.date) else key, **_ledger_row(values)}
        )
    return {
        "prompt": prompt.name,
        "days": days,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "group_by": group_by,
        "currency": "USD",
        "rows": rows,
        "totals": _ledger_row(rollups.aggregate(**_ledger_sums())),
    }


def project_ledger(*, project: Project, days: Any = 30, today: dt.date | None = None) -> dict:
    """Per-prompt totals for the whole project over the last `days` days."""
    days, start, end = _ledger_window(days, today)
    rollups = UsageRollup.objects.filter(project=project, day__gte=start, day__lte=end)
    rows = [
        {"prompt": values["prompt__name"], **_ledger_row(values)}
        for values in rollups.values("prompt__name")
        .annotate(**_ledger_sums())
        .order_by("prompt__name")
    ]
    return {
        "project": project.name,
        "days": days,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "currency": "USD",
        "rows": rows,
        "totals": _ledger_row(rollups.aggregate(**_ledger_sums())),
    }


# --- alerts -------------------------------------------------------------------


def alert_list(*, project: Project, state: str | None = None):
    alerts = Alert.objects.filter(project=project).select_related("prompt")
    if state is not None:
        if state not in (Alert.STATE_NEW, Alert.STATE_ACKNOWLEDGED):
            raise DomainError("'state' must be new or acknowledged.", field="state")
        alerts = alerts.filter(state=state)
    return alerts.order_by("-created_at", "-id")


def alert_get(*, project: Project, alert_id: Any) -> Alert:
    try:
        pk = int(alert_id)
    except (TypeError, ValueError):
        raise DomainError(f"'{alert_id}' is not an alert id.", field="id") from None
    found = Alert.objects.filter(project=project, pk=pk).select_related("prompt").first()
    if found is None:
        raise NotFound(f"No alert {pk} in project '{project.name}'.", field="id")
    return found
