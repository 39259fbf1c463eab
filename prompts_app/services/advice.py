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

from promptledger import rendering
from prompts_app.errors import DomainError
from prompts_app.lib import advisor, strategies, what_if
from prompts_app.lib.cache_prefix import CachePrefix, cache_prefix
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
from prompts_app.selectors.evals import candidate_evidence, eval_run_latest, eval_suite_cases
from prompts_app.lib.formatting import format_money, format_percent
from prompts_app.selectors.ledger import cache_hit_ratio_by_version, rollup_window
from prompts_app.selectors.pricing import catalogue_in_force
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
        written=Sum("cache_write_input_tokens"),
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
        "cache_write_input_tokens": totals["written"] or 0,
        "output_tokens": totals["output_tokens"] or 0,
        "days_observed": (today - first_day).days + 1 if first_day else 0,
        "model": by_model.most_common(1)[0][0] if by_model else None,
        "from": start.isoformat(),
        "to": today.isoformat(),
    }


def model_offer(row: ModelPrice) -> strategies.ModelOffer:
    """A catalogue row as the pure strategy module takes it."""
    return strategies.ModelOffer(
        model=row.model,
        provider=row.provider,
        input=row.input_per_1m,
        cached_input=row.cached_input_per_1m,
        cache_write=row.cache_write_per_1m,
        output=row.output_per_1m,
        batch_multiplier=row.batch_multiplier,
        flex_multiplier=row.flex_multiplier,
        min_cacheable_tokens=row.min_cacheable_tokens,
        shutdown_date=row.shutdown_date,
        training=row.training_per_1m,
        training_available_until=row.training_available_until,
        ft_input=row.ft_input_per_1m,
        ft_cached_input=row.ft_cached_input_per_1m,
        ft_output=row.ft_output_per_1m,
        ft_hosting_per_month=row.ft_hosting_per_month,
        source=row.source,
        source_date=row.source_date,
    )


def _sample_variables(prompt: Prompt, version: PromptVersion) -> dict:
    """Variables that render the version: the eval suite's first case that has
    them, else the first example's input, else a short string per variable."""
    suite = getattr(prompt, "eval_suite", None)
    if suite is not None:
        for case in eval_suite_cases(suite=suite):
            if case.get("variables"):
                return dict(case["variables"])
    if version.example_set_version_id:
        for example in version.example_set_version.as_render_examples():
            if isinstance(example["input"], dict):
                return dict(example["input"])
    body = version.messages if prompt.kind == Prompt.KIND_CHAT else version.template
    return {name: "sample" for name in rendering.infer_variables(prompt.kind, body)}


def version_cache_prefix(version: PromptVersion) -> CachePrefix | None:
    """The version's static leading run (see lib.cache_prefix), or None when no
    sample variables render it."""
    prompt = version.prompt
    examples = (
        version.example_set_version.as_render_examples() if version.example_set_version_id else []
    )
    body = version.messages if prompt.kind == Prompt.KIND_CHAT else version.template
    try:
        return cache_prefix(
            prompt.kind,
            body,
            _sample_variables(prompt, version),
            examples=examples,
            options=version.template_options,
        )
    except rendering.RenderError:
        return None


def _evidence(prompt: Prompt) -> dict[str, strategies.Evidence]:
    def dec(value):
        return None if value is None else Decimal(str(value))

    found = {}
    for model, row in candidate_evidence(prompt=prompt).items():
        found[model] = strategies.Evidence(
            status=row["status"],
            run_id=row["run_id"],
            pass_rate=dec(row.get("pass_rate")),
            format_adherence=dec(row.get("format_adherence")),
            cost_per_call=dec(row.get("cost_per_call")),
            baseline_run_id=row.get("baseline_run_id"),
            baseline_pass_rate=dec(row.get("baseline_pass_rate")),
            baseline_format_adherence=dec(row.get("baseline_format_adherence")),
        )
    return found


def prompt_advice(*, prompt: Prompt, now: dt.datetime | None = None) -> dict:
    """The verdict for one prompt, with every input, figure and reason, and the
    strategies compared (keep, cache, prune, move, fine-tune per provider, batch).

    `what_if_inputs`, posted to the what-if API, gives the same figures."""
    now = now or timezone.now()
    config = advisor_settings_for(prompt.project)
    version = finetune.production_version(prompt)
    if version is None:
        raise DomainError(
            f"Prompt '{prompt.name}' has no versions yet: nothing to advise on.", field="name"
        )
    usage = _usage_window(prompt, now.date())
    model = usage["model"] or version.model_config.get("model")
    catalogue = catalogue_in_force(project=prompt.project, at=now)
    price = next((row for row in catalogue if row.model == model), None)
    context = {
        "prompt": prompt.name,
        "production_version": version.number,
        "model": model,
        "window": usage,
        "currency": "USD",
        "as_of": now.date().isoformat(),
    }
    if price is None:
        return _no_advice(
            context, f"The price sheet has no price for model '{model}': add it to get advice."
        )
    tunable = price.ft_input_per_1m is not None and price.training_per_1m is not None
    static = static_tokens(version)
    prefix = version_cache_prefix(version)
    static_total = static["prompt_tokens"] + static["example_tokens"]
    if prefix is not None:
        static_total = max(static_total, prefix.prefix_tokens)
    removable = max(0, static_total - config.residual_instruction_tokens)
    calls = Decimal(usage["calls"])
    scale = Decimal(WINDOW_DAYS) / usage["days_observed"] if usage["days_observed"] else Decimal(0)
    dataset = finetune.finetune_dataset(prompt, version=version)
    approved = len(dataset["train"]) + len(dataset["validation"])
    training_tokens = finetune.training_tokens(dataset["train"])
    versions_30 = PromptVersion.objects.filter(
        prompt=prompt, created_at__gte=now - dt.timedelta(days=WINDOW_DAYS)
    ).count()
    input_tokens = usage["input_tokens"]
    read_share = Decimal(usage["cached_input_tokens"]) / input_tokens if input_tokens else Decimal(0)
    write_share = (
        Decimal(usage["cache_write_input_tokens"]) / input_tokens if input_tokens else Decimal(0)
    )
    per_call_in = Decimal(input_tokens) / calls if calls else Decimal(0)
    per_call_out = Decimal(usage["output_tokens"]) / calls if calls else Decimal(0)
    one_time = (
        advisor.training_cost(
            training_tokens=training_tokens,
            epochs=config.epochs,
            training_price_per_1m=price.training_per_1m,
            data_preparation_cost=config.data_preparation_cost,
        )
        if tunable
        else None
    )
    strategy_inputs = strategies.StrategyInputs(
        as_of=now.date(),
        calls_per_month=calls * scale,
        avg_input_tokens=per_call_in,
        avg_output_tokens=per_call_out,
        cache_read_share=read_share,
        cache_write_share=write_share,
        current=model_offer(price),
        candidates=[model_offer(row) for row in catalogue if row.model != model],
        static_tokens=static_total,
        cacheable_prefix_tokens=min(prefix.prefix_tokens, static_total) if prefix else 0,
        breaking_variable=prefix.breaking_variable if prefix else None,
        example_tokens=static["example_tokens"],
        tokens_removable=Decimal(removable),
        training_tokens=training_tokens,
        epochs=config.epochs,
        data_preparation_cost=config.data_preparation_cost,
        one_time_cost=one_time,
        versions_last_30_days=versions_30,
        approved_examples=approved,
        min_approved_examples=config.min_approved_examples,
        max_versions_last_30_days=config.max_versions_last_30_days,
        assumed_cache_hit_rate=config.assumed_cache_hit_rate,
        horizon_months=config.payback_horizon_months,
        asynchronous=prompt.asynchronous,
        evidence=_evidence(prompt),
    )
    compared = [found.as_dict() for found in strategies.compare(strategy_inputs)]
    context["static_tokens"] = {
        **static,
        "residual_instruction_tokens": config.residual_instruction_tokens,
    }
    context["cache_prefix"] = prefix.as_dict() if prefix else None
    context["lifecycle"] = {
        "model": model,
        "shutdown_date": price.shutdown_date.isoformat() if price.shutdown_date else None,
        "training_available_until": (
            price.training_available_until.isoformat() if price.training_available_until else None
        ),
        "source": price.lifecycle_source,
    }
    if not tunable:
        result = _no_advice(
            context,
            f"'{model}' has no fine-tuning offer in the price sheet (no tuned-model or training "
            "price): keep prompting, or price a tunable model.",
        )
        result["strategies"] = compared
        return result
    latest_run = eval_run_latest(version=version, finished=True)
    pass_rate = (latest_run.summary.get("model") or {}).get("pass_rate") if latest_run else None
    inputs = advisor.AdvisorInputs(
        calls_per_month=strategy_inputs.calls_per_month,
        avg_input_tokens=per_call_in,
        avg_output_tokens=per_call_out,
        tokens_removable=Decimal(removable),
        input_price_per_1m=price.input_per_1m,
        output_price_per_1m=price.output_per_1m,
        ft_input_price_per_1m=price.ft_input_per_1m,
        ft_output_price_per_1m=price.ft_output_per_1m,
        cached_input_share=read_share,
        cached_input_price_per_1m=price.cached_input_per_1m,
        ft_cached_input_price_per_1m=price.ft_cached_input_per_1m,
        cache_write_share=write_share,
        cache_write_price_per_1m=price.cache_write_per_1m,
        ft_fixed_cost_per_month=price.ft_hosting_per_month or Decimal(0),
        as_of=now.date(),
        training_available_until=price.training_available_until,
        model_shutdown_date=price.shutdown_date,
        one_time_cost=one_time,
        approved_examples=approved,
        versions_last_30_days=versions_30,
        payback_horizon_months=config.payback_horizon_months,
        prefill_ms_per_token=config.prefill_ms_per_token,
        volume_floor_calls_per_month=Decimal(config.volume_floor_calls_per_month),
        min_approved_examples=config.min_approved_examples,
        max_versions_last_30_days=config.max_versions_last_30_days,
        eval_pass_rate=Decimal(pass_rate) if pass_rate is not None else None,
    )
    advice = advisor.advise(inputs)
    context["training"] = {
        "epochs": config.epochs,
        "training_price_per_1m": str(price.training_per_1m),
        "data_preparation_cost": str(config.data_preparation_cost),
    }
    return {
        **context,
        **advice.as_dict(schedule_months=PAYBACK_SCHEDULE_MONTHS),
        "strategies": compared,
        "what_if_inputs": what_if.strategy_inputs_as_what_if(strategy_inputs, inputs),
    }


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
        "strategies": [],
        "what_if_inputs": None,
    }


def _world_alerts(prompt: Prompt, advice: dict, now: dt.datetime) -> dict[str, tuple]:
    """The alerts the advice calls for now, by a key that says what each is about
    (so each fires once while its condition holds): {key: (kind, message, figures)}.

    - a strategy nothing blocks saves at least the project's threshold a month;
    - a version's cache hit ratio fell by at least the threshold against the
      version before it (its change broke the cached prefix);
    - the production model shuts down within the warning window, with the
      replacement candidates and their eval status.
    """
    config = advisor_settings_for(prompt.project)
    found: dict[str, tuple] = {}
    for strategy in advice.get("strategies") or []:
        if strategy["kind"] == "keep" or strategy["blockers"]:
            continue
        if strategy["evidence"].get("status") in ("failed", "error"):
            continue  # its eval run says no: not a saving to act on
        saving = Decimal(strategy["monthly_saving"])
        if saving >= config.strategy_alert_min_saving:
            status = strategy["evidence"].get("status")
            proof = {
                "not_needed": "nothing to test",
                "ready": "its eval run passes as well as production",
                "running": "its eval run is still running",
                "no_baseline": "its eval ran, but production has no graded run to compare with",
            }.get(status, "untested: run the eval suite on it first")
            found[f"strategy:{strategy['key']}"] = (
                Alert.KIND_STRATEGY_SAVING,
                f"'{prompt.name}': {strategy['title']} saves {format_money(saving)} a month "
                f"(at least {format_money(config.strategy_alert_min_saving)}); {proof}.",
                {"strategy": strategy},
            )
    start, today = rollup_window(days=WINDOW_DAYS, today=now.date())
    for row in cache_hit_ratio_by_version(prompt=prompt, since=start, until=today):
        if row["drop"] is not None and row["drop"] >= config.cache_drop_alert_points:
            found[f"cache_drop:v{row['version_number']}"] = (
                Alert.KIND_CACHE_DROP,
                f"'{prompt.name}' v{row['version_number']} hits the prompt cache on "
                f"{format_percent(row['ratio'])} of input tokens, down from "
                f"{format_percent(row['ratio'] + row['drop'])} on v{row['previous_version']}: "
                "its change probably broke the cached prefix (a variable or edit moved "
                "before the static text).",
                {
                    "version": row["version_number"],
                    "previous_version": row["previous_version"],
                    "cache_hit_ratio": str(row["ratio"]),
                    "drop": str(row["drop"]),
                },
            )
    lifecycle = advice.get("lifecycle") or {}
    if lifecycle.get("shutdown_date"):
        shutdown = dt.date.fromisoformat(lifecycle["shutdown_date"])
        days = (shutdown - now.date()).days
        if 0 <= days <= config.shutdown_warning_days:
            moves = [
                s for s in advice.get("strategies") or [] if s["kind"] == "downshift"
            ]
            listed = "; ".join(
                f"{s['model']} ({_EVIDENCE_WORDS.get(s['evidence'].get('status'), 'untested')}, "
                f"{format_money(Decimal(s['monthly_cost']))} a month)"
                for s in moves
            ) or "none in the price sheet: add one and run the eval suite on it"
            found[f"shutdown:{lifecycle['model']}:{shutdown.isoformat()}"] = (
                Alert.KIND_SHUTDOWN_SOON,
                f"'{prompt.name}' runs on {lifecycle['model']}, which shuts down on "
                f"{shutdown.isoformat()} (in {days} days). Replacement candidates: {listed}.",
                {
                    "model": lifecycle["model"],
                    "shutdown_date": shutdown.isoformat(),
                    "days_left": days,
                    "candidates": [
                        {
                            "model": s["model"],
                            "evidence": s["evidence"],
                            "monthly_cost": s["monthly_cost"],
                        }
                        for s in moves
                    ],
                },
            )
    return found


_EVIDENCE_WORDS = {
    "ready": "eval passed as well as production",
    "failed": "eval failed",
    "running": "eval running",
    "error": "eval errored",
    "no_baseline": "eval ran, production has no graded run to compare",
    "untested": "untested",
}


def advice_evaluate(*, prompt: Prompt, now: dt.datetime | None = None) -> list[Alert]:
    """Re-evaluate one prompt. A verdict alert fires once per change into or out of
    `fine_tune`; the others (`_world_alerts`) once while their condition holds,
    and again only after it cleared. Returns the alerts raised."""
    now = now or timezone.now()
    try:
        advice = prompt_advice(prompt=prompt, now=now)
    except DomainError:
        return []
    wanted = _world_alerts(prompt, advice, now)
    raised: list[Alert] = []
    with transaction.atomic():
        state = AdviceState.objects.select_for_update().filter(prompt=prompt).first()
        previous = state.verdict if state else None
        is_fine_tune = advice["verdict"] == advisor.Verdict.FINE_TUNE.value
        was_fine_tune = previous == advisor.Verdict.FINE_TUNE.value
        if is_fine_tune != was_fine_tune:
            kind = Alert.KIND_FINE_TUNE if is_fine_tune else Alert.KIND_NO_LONGER
            raised.append(alerts.alert_create(prompt=prompt, kind=kind, advice=advice))
        already = set((state.figures or {}).get("alerted", [])) if state else set()
        for key in sorted(set(wanted) - already):
            kind, message, figures = wanted[key]
            raised.append(
                alerts.alert_create(
                    prompt=prompt, kind=kind, advice=advice, message=message, figures=figures
                )
            )
        figures = {
            "verdict": advice["verdict"],
            **(advice.get("figures") or {}),
            # conditions still holding; one that cleared can alert again later
            "alerted": sorted(wanted),
        }
        if state is None:
            AdviceState.objects.create(prompt=prompt, verdict=advice["verdict"], figures=figures)
        else:
            state.verdict, state.figures, state.evaluated_at = (
                advice["verdict"],
                figures,
                timezone.now(),
            )
            state.save(update_fields=["verdict", "figures", "evaluated_at"])
    return raised


def advice_pass_all(*, now: dt.datetime | None = None) -> dict:
    """The daily pass: re-evaluate every prompt that has versions."""
    report = {"prompts": 0, "alerts": 0}
    for prompt in (
        Prompt.objects.filter(latest_version_number__gt=0).select_related("project").iterator()
    ):
        report["prompts"] += 1
        report["alerts"] += len(advice_evaluate(prompt=prompt, now=now))
    return report
