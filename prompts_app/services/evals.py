"""Eval runs: configuration, the run's steps, and its summary.

A run is made for every new version (after the transaction commits) and can
be asked for again, on the version's own model or on a candidate model (see
`eval_run_request_candidate`). Its steps are idempotent so a redelivered Celery message
never duplicates work: `eval_run_start` claims the run and computes the static
checks, each `eval_case_execute` writes at most one result per (case, repeat)
(a unique constraint backs it), and `eval_run_finalize` closes the run under a
row lock once every expected result is in. Job state lives in our rows; the
sweeper re-enqueues whatever a lost message or a killed worker left behind.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from promptledger import rendering
from prompts_app.errors import Conflict, DomainError, NotFound
from prompts_app.infra import jobs
from prompts_app.lib import assertions as checks
from prompts_app.lib.providers import ProviderError, chat_completion
from prompts_app.lib.tokens import count_rendered_tokens, count_text_tokens
from prompts_app.models import (
    EvalCase,
    EvalCaseResult,
    EvalRun,
    EvalSuite,
    Label,
    ModelPrice,
    Prompt,
    PromptVersion,
    Provider,
)
from prompts_app.selectors.evals import eval_run_latest
from prompts_app.selectors.library import version_examples
from prompts_app.services.pricing import call_cost

logger = logging.getLogger(__name__)

MAX_REPEATS = 20
MAX_CASES = 500


# --- configuration ------------------------------------------------------------


def eval_suite_get_or_create(*, prompt: Prompt) -> EvalSuite:
    suite, _ = EvalSuite.objects.get_or_create(prompt=prompt)
    return suite


def _cases_clean(cases: Any) -> list[dict]:
    if not isinstance(cases, list):
        raise DomainError("'cases' must be a list.", field="cases")
    if len(cases) > MAX_CASES:
        raise DomainError(f"At most {MAX_CASES} cases per suite.", field="cases")
    cleaned, seen = [], set()
    for index, case in enumerate(cases):
        where = f"cases[{index}]"
        if not isinstance(case, dict):
            raise DomainError(f"{where} must be an object.", field=where)
        unknown = set(case) - {"name", "variables", "expected_output", "assertions"}
        if unknown:
            raise DomainError(
                f"{where} has unknown keys: {', '.join(sorted(unknown))}.", field=where
            )
        name = case.get("name") or f"case-{index + 1}"
        if not isinstance(name, str) or len(name) > 100:
            raise DomainError(
                f"{where}.name must be a string of at most 100 characters.", field=f"{where}.name"
            )
        if name in seen:
            raise DomainError(f"{where}.name '{name}' is used twice.", field=f"{where}.name")
        seen.add(name)
        variables = case.get("variables", {})
        if not isinstance(variables, dict):
            raise DomainError(f"{where}.variables must be an object.", field=f"{where}.variables")
        expected = case.get("expected_output", "")
        if not isinstance(expected, str):
            raise DomainError(
                f"{where}.expected_output must be a string.", field=f"{where}.expected_output"
            )
        cleaned.append(
            {
                "name": name,
                "variables": variables,
                "expected_output": expected,
                "assertions": checks.assertions_clean(
                    case.get("assertions", []), field=f"{where}.assertions"
                ),
            }
        )
    return cleaned


@transaction.atomic
def eval_suite_update(
    *,
    prompt: Prompt,
    cases: list[dict] | None = None,
    repeats: int | None = None,
    provider: str | None = None,
) -> EvalSuite:
    """Replace a suite's settings and (when given) its cases. `provider` is a
    provider name of the project, or "" for none (static checks only)."""
    suite = eval_suite_get_or_create(prompt=prompt)
    if repeats is not None:
        if (
            isinstance(repeats, bool)
            or not isinstance(repeats, int)
            or not 1 <= repeats <= MAX_REPEATS
        ):
            raise DomainError(
                f"'repeats' must be an integer from 1 to {MAX_REPEATS}.", field="repeats"
            )
        suite.repeats = repeats
    if provider is not None:
        if provider == "":
            suite.provider = None
        else:
            found = Provider.objects.filter(project=prompt.project, name=provider).first()
            if found is None:
                raise NotFound(
                    f"No provider named '{provider}' in this project: add one in the admin.",
                    field="provider",
                )
            suite.provider = found
    suite.save()
    if cases is not None:
        cleaned = _cases_clean(cases)
        suite.cases.all().delete()
        EvalCase.objects.bulk_create(
            EvalCase(suite=suite, position=i, **c) for i, c in enumerate(cleaned)
        )
    return suite


@transaction.atomic
def eval_suite_save(
    *,
    prompt: Prompt,
    cases: list[dict] | None = None,
    repeats: int | None = None,
    provider: str | None = None,
    rerun: bool = False,
    requested_by: str = "",
) -> tuple[EvalSuite, EvalRun | None]:
    """Save a suite and, with `rerun`, ask for a run of the prompt's latest version
    with it, all or nothing: a bad case stores nothing and queues nothing.

    With `cases`, `repeats` and `provider` all None the suite is left as it is (a
    re-run of the suite unchanged). The run is None without `rerun`, or when the
    prompt has no version yet."""
    if cases is None and repeats is None and provider is None:
        suite = eval_suite_get_or_create(prompt=prompt)
    else:
        suite = eval_suite_update(prompt=prompt, cases=cases, repeats=repeats, provider=provider)
    run = None
    if rerun:
        latest = PromptVersion.objects.filter(prompt=prompt).order_by("-number").first()
        if latest is not None:
            run = eval_run_request(version=latest, requested_by=requested_by)
    return suite, run


# --- making and enqueueing runs ---------------------------------------------------


def _provider_snapshot(provider: Provider | None) -> dict | None:
    if provider is None:
        return None
    return {
        "name": provider.name,
        "base_url": provider.base_url,
        "model": provider.model,
        "api_key_env": provider.api_key_env,
        "timeout_seconds": provider.timeout_seconds,
        "max_retries": provider.max_retries,
    }


def eval_run_create(
    *,
    version: PromptVersion,
    trigger: str = EvalRun.TRIGGER_MANUAL,
    requested_by: str = "",
    candidate_model: str = "",
) -> EvalRun:
    """Make a run of the prompt's suite as it is now; it is enqueued once the
    transaction commits (never before, so a worker always finds the row)."""
    suite = EvalSuite.objects.filter(prompt_id=version.prompt_id).select_related("provider").first()
    cases = [case.as_snapshot() for case in suite.cases.all()] if suite else []
    run = EvalRun.objects.create(
        prompt_version=version,
        trigger=trigger,
        requested_by=requested_by[:150],
        cases=cases,
        provider=_provider_snapshot(suite.provider if suite else None),
        repeats=suite.repeats if suite else 1,
        candidate_model=candidate_model,
    )
    transaction.on_commit(lambda: eval_run_enqueue(run_id=run.pk))
    return run


@transaction.atomic
def eval_run_request(*, version: PromptVersion, requested_by: str = "") -> EvalRun:
    """A re-run asked for by a person (admin or API)."""
    return eval_run_create(
        version=version, trigger=EvalRun.TRIGGER_MANUAL, requested_by=requested_by
    )


CANDIDATE_MODEL_MAX_LENGTH = EvalRun._meta.get_field("candidate_model").max_length


@transaction.atomic
def eval_run_request_candidate(
    *, version: PromptVersion, model: str, requested_by: str = ""
) -> EvalRun:
    """A manual run of the version's suite on `model` instead of the version's own
    model: same provider endpoint, same cases, every answer from `model` (a
    rubric is still graded by the version's own model, so the candidate's pass
    rate and its baseline's have the same judge). Evidence for a strategy that
    changes the model; it never counts for the version's status or the gate.

    Refused (nothing stored, nothing queued) when the model name is empty, too
    long or has spaces or control characters, when it is the version's own model
    (ask for a normal run instead), or when the suite has no provider or no case."""
    field = "candidate_model"
    name = model.strip() if isinstance(model, str) else ""
    if not name:
        raise DomainError("Name the candidate model to run the suite on.", field=field)
    if len(name) > CANDIDATE_MODEL_MAX_LENGTH:
        raise DomainError(
            f"A model name has at most {CANDIDATE_MODEL_MAX_LENGTH} characters.", field=field
        )
    if any(ch.isspace() or not ch.isprintable() for ch in name):
        raise DomainError(
            "A model name has no spaces or control characters.", field=field
        )
    suite = EvalSuite.objects.filter(prompt_id=version.prompt_id).select_related("provider").first()
    if suite is None or suite.provider is None:
        raise Conflict(
            "The eval suite has no model provider, so a candidate model's answers could not be "
            "graded. Give the suite a provider first.",
            field="provider",
            code="no_provider",
        )
    if not suite.cases.exists():
        raise Conflict(
            "The eval suite has no cases: there is nothing to run the candidate model on. "
            "Add cases first.",
            field="cases",
            code="no_cases",
        )
    own = _version_model(version, _provider_snapshot(suite.provider))
    if name == own:
        raise DomainError(
            f"'{name}' is the model v{version.number} already uses: that is a normal run, "
            "not a candidate. Re-run the version instead.",
            field=field,
            code="not_a_candidate",
        )
    return eval_run_create(
        version=version,
        trigger=EvalRun.TRIGGER_MANUAL,
        requested_by=requested_by,
        candidate_model=name,
    )


def eval_run_enqueue(*, run_id: int) -> bool:
    """Send the run's first task. If the broker is down the run stays queued
    and the sweeper sends it later, so a version is never left without its run."""
    if not jobs.send("prompts_app.tasks.eval_run_execute", run_id=run_id):
        return False
    EvalRun.objects.filter(pk=run_id, status=EvalRun.QUEUED).update(enqueued_at=timezone.now())
    return True


def eval_case_enqueue(*, run_id: int, case_name: str, repeat_index: int) -> bool:
    # A case that could not be sent is resent by the sweeper's resume of stale runs.
    return jobs.send(
        "prompts_app.tasks.eval_case_execute",
        run_id=run_id,
        case_name=case_name,
        repeat_index=repeat_index,
    )


# --- static checks ------------------------------------------------------------------


def render_case(version: PromptVersion, variables: dict) -> str | list[dict]:
    return rendering.render(
        version.prompt.kind,
        version.body,
        variables,
        examples=version_examples(version),
        schema=version.variables,
        options=version.template_options,
    )


def as_messages(rendered: str | list[dict]) -> list[dict]:
    return [{"role": "user", "content": rendered}] if isinstance(rendered, str) else rendered


def _price_for(version: PromptVersion, model: str | None) -> ModelPrice | None:
    if not model:
        return None
    return ModelPrice.objects.in_force(project=version.prompt.project, model=model)


def _version_model(version: PromptVersion, provider: dict | None) -> str | None:
    return version.model_config.get("model") or (provider or {}).get("model")


def _run_model(run: EvalRun) -> str | None:
    """The model a run's answers come from: its candidate, else the version's own."""
    return run.candidate_model or _version_model(run.prompt_version, run.provider)


def static_checks(
    version: PromptVersion,
    cases: list[dict],
    provider: dict | None = None,
    *,
    model: str | None = None,
) -> dict:
    """Render every case; token count and estimated cost per call (input tokens
    at the input price, plus the expected output's tokens at the output price)
    on `model`, by default the version's own."""
    model = model or _version_model(version, provider)
    price = _price_for(version, model)
    per_case, input_tokens, output_tokens = [], [], []
    for case in cases:
        try:
            rendered = render_case(version, case["variables"])
        except rendering.RenderError as exc:
            per_case.append({"name": case["name"], "renders": False, "error": exc.message})
            continue
        tokens = count_rendered_tokens(rendered)
        expected_tokens = count_text_tokens(case.get("expected_output") or "")
        input_tokens.append(tokens)
        output_tokens.append(expected_tokens)
        per_case.append({"name": case["name"], "renders": True, "input_tokens": tokens})
    avg_in = Decimal(sum(input_tokens)) / len(input_tokens) if input_tokens else None
    avg_out = Decimal(sum(output_tokens)) / len(output_tokens) if output_tokens else Decimal(0)
    cost = None
    if price is not None and avg_in is not None:
        cost = (avg_in * price.input_per_1m + avg_out * price.output_per_1m) / Decimal(1_000_000)
    return {
        "version": version.number,
        "model": model,
        "priced": price is not None,
        "cases": per_case,
        "cases_rendered": len(input_tokens),
        "render_failures": len(per_case) - len(input_tokens),
        "avg_input_tokens": str(avg_in.quantize(Decimal("0.01"))) if avg_in is not None else None,
        "est_cost_per_call": str(cost.quantize(Decimal("0.0000000001")))
        if cost is not None
        else None,
    }


def _delta(new: str | None, old: str | None) -> str | None:
    if new is None or old is None:
        return None
    return str(Decimal(new) - Decimal(old))


def _comparison(
    version: PromptVersion, cases: list[dict], provider: dict | None, mine: dict
) -> dict:
    """Static figures of the previous and the production version on the same cases."""
    compared = {}
    previous = PromptVersion.objects.filter(
        prompt_id=version.prompt_id, number=version.number - 1
    ).first()
    production = (
        Label.objects.filter(prompt_id=version.prompt_id, name=Label.PRODUCTION)
        .select_related("version")
        .first()
    )
    for name, other in (
        ("previous", previous),
        ("production", production.version if production else None),
    ):
        if other is None:
            compared[name] = None
            continue
        # The production version is often the version itself: no need to render it twice.
        theirs = mine if other.pk == version.pk else static_checks(other, cases, provider)
        compared[name] = {
            "version": other.number,
            "avg_input_tokens": theirs["avg_input_tokens"],
            "est_cost_per_call": theirs["est_cost_per_call"],
            "delta_avg_input_tokens": _delta(mine["avg_input_tokens"], theirs["avg_input_tokens"]),
            "delta_est_cost_per_call": _delta(
                mine["est_cost_per_call"], theirs["est_cost_per_call"]
            ),
        }
    return compared


# --- the run's steps ------------------------------------------------------------------


def _load_run(run_id: int) -> EvalRun:
    return EvalRun.objects.select_related(
        "prompt_version__prompt__project", "prompt_version__example_set_version"
    ).get(pk=run_id)


def eval_run_start(*, run_id: int) -> list[tuple[str, int]]:
    """Claim the run, record the static checks, and return the (case, repeat)
    model calls still missing a result. Safe to call again at any point."""
    with transaction.atomic():
        run = EvalRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.is_finished:
            return []
        if run.status == EvalRun.QUEUED:
            run.status = EvalRun.RUNNING
            run.started_at = timezone.now()
            run.save(update_fields=["status", "started_at"])
    run = _load_run(run_id)
    version = run.prompt_version
    static = static_checks(version, run.cases, run.provider, model=_run_model(run))
    static["compared"] = _comparison(version, run.cases, run.provider, static)
    with transaction.atomic():
        locked = EvalRun.objects.select_for_update().get(pk=run_id)
        if locked.is_finished:
            return []
        locked.summary = {**locked.summary, "static": static}
        locked.save(update_fields=["summary"])
    if not run.provider:
        return []
    done = set(
        EvalCaseResult.objects.filter(run_id=run_id).values_list("case_name", "repeat_index")
    )
    return [
        (case["name"], repeat)
        for case in run.cases
        for repeat in range(run.repeats)
        if (case["name"], repeat) not in done
    ]


def _provider_call(provider: dict, model: str, messages: list[dict], config: dict):
    api_key = settings.PROVIDER_API_KEYS.get(provider.get("api_key_env") or "")
    return chat_completion(
        base_url=provider["base_url"],
        model=model,
        messages=messages,
        api_key=api_key,
        temperature=config.get("temperature"),
        max_tokens=config.get("max_tokens"),
        response_format=config.get("response_format")
        if isinstance(config.get("response_format"), dict)
        else None,
        timeout_seconds=provider.get("timeout_seconds", 30.0),
        max_retries=provider.get("max_retries", 3),
        backoff_seconds=settings.PROVIDER_BACKOFF_SECONDS,
    )


def eval_case_execute(*, run_id: int, case_name: str, repeat_index: int) -> EvalCaseResult | None:
    """Run one case once against the model and store its result, unless it is stored already."""
    run = _load_run(run_id)
    if run.is_finished or not run.provider:
        return None
    existing = EvalCaseResult.objects.filter(
        run=run, case_name=case_name, repeat_index=repeat_index
    ).first()
    if existing is not None:
        return existing
    case = next((c for c in run.cases if c["name"] == case_name), None)
    if case is None:
        logger.error("eval run %s has no case %r", run_id, case_name)
        return None
    version = run.prompt_version
    model = _run_model(run)
    # The judge of a rubric is the version's own model even on a candidate run, so
    # the candidate's pass rate and its baseline's are graded alike.
    grader_model = _version_model(version, run.provider)
    result = EvalCaseResult(run=run, case_name=case_name, repeat_index=repeat_index)
    try:
        rendered = render_case(version, case["variables"])
    except rendering.RenderError as exc:
        result.status, result.error = EvalCaseResult.FAILED, f"does not render: {exc.message}"
        return _store(result)
    messages = as_messages(rendered)
    try:
        completion = _provider_call(run.provider, model, messages, version.model_config)
    except ProviderError as exc:
        result.status, result.error = EvalCaseResult.ERROR, f"provider failed: {exc.message}"
        return _store(result)
    result.output = completion.text
    result.latency_ms = completion.latency_ms
    result.input_tokens = completion.input_tokens
    result.output_tokens = completion.output_tokens
    price = _price_for(version, model)
    if price is not None:
        result.cost = call_cost(
            price,
            input_tokens=completion.input_tokens,
            output_tokens=completion.output_tokens,
            cached_input_tokens=completion.cached_input_tokens,
        )
    verdicts = []
    for assertion in case["assertions"]:
        if assertion["type"] == checks.MODEL_GRADED:
            task_text = "\n\n".join(f"[{m['role']}] {m['content']}" for m in messages)
            try:
                grade = _provider_call(
                    run.provider,
                    grader_model,
                    checks.rubric_messages(completion.text, assertion, task_text),
                    {},
                )
            except ProviderError as exc:
                result.status, result.error = EvalCaseResult.ERROR, f"grader failed: {exc.message}"
                result.assertions = [v.as_dict() for v in verdicts]
                return _store(result)
            verdicts.append(checks.rubric_verdict(grade.text, assertion))
        else:
            verdicts.append(
                checks.check(completion.text, assertion, case.get("expected_output", ""))
            )
    result.assertions = [v.as_dict() for v in verdicts]
    result.status = (
        EvalCaseResult.PASSED if all(v.passed for v in verdicts) else EvalCaseResult.FAILED
    )
    return _store(result)


def _store(result: EvalCaseResult) -> EvalCaseResult:
    # A redelivered task may have raced us here: the unique constraint keeps one.
    EvalCaseResult.objects.bulk_create([result], ignore_conflicts=True)
    return EvalCaseResult.objects.get(
        run_id=result.run_id, case_name=result.case_name, repeat_index=result.repeat_index
    )


def _case_consistency(case: dict, results: list[EvalCaseResult]) -> dict:
    format_types = [a for a in case["assertions"] if a["type"] in checks.FORMAT_TYPES]
    format_ok = [
        all(v["passed"] for v in r.assertions if v["type"] in checks.FORMAT_TYPES)
        for r in results
        if r.status != EvalCaseResult.ERROR
    ]
    answered = [r for r in results if r.status != EvalCaseResult.ERROR]
    return {
        "name": case["name"],
        "runs": len(results),
        "passed": sum(r.status == EvalCaseResult.PASSED for r in results),
        "pass_rate": _rate(sum(r.status == EvalCaseResult.PASSED for r in results), len(results)),
        "format_adherence": _rate(sum(format_ok), len(format_ok)) if format_types else None,
        "distinct_outputs": len({r.output for r in answered}),
    }


def _rate(part: int, whole: int) -> str | None:
    return str((Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"))) if whole else None


COST_PLACES = Decimal("0.0000000001")  # as EvalCaseResult.cost stores it


def _evidence_figures(cases: list[dict], results: list[EvalCaseResult]) -> dict:
    """The three figures a candidate model is judged on, over the calls that got an
    answer graded (a provider or grader failure is an error, not a grade):

    - pass_rate: share of graded calls that passed every assertion;
    - format_adherence: share of graded answers of cases with format assertions
      (checks.FORMAT_TYPES: is_json, json_schema, regex) that pass all of them;
      None when the suite has no format assertion (or no answer to check);
    - cost_per_call: mean cost of the priced calls, a Decimal string; None when
      no call has a price (the model is not on the project's price sheet)."""
    graded = [r for r in results if r.status != EvalCaseResult.ERROR]
    passed = sum(r.status == EvalCaseResult.PASSED for r in graded)
    with_format = {
        case["name"]
        for case in cases
        if any(a["type"] in checks.FORMAT_TYPES for a in case["assertions"])
    }
    # A case that did not render has no answer and no verdicts: nothing to judge.
    format_verdicts = [
        [v["passed"] for v in r.assertions if v["type"] in checks.FORMAT_TYPES]
        for r in graded
        if r.case_name in with_format
    ]
    format_verdicts = [verdicts for verdicts in format_verdicts if verdicts]
    costs = [r.cost for r in graded if r.cost is not None]
    mean_cost = sum(costs, Decimal(0)) / len(costs) if costs else None
    return {
        "graded_calls": len(graded),
        "pass_rate": _rate(passed, len(graded)),
        "format_adherence": _rate(sum(all(v) for v in format_verdicts), len(format_verdicts))
        if format_verdicts
        else None,
        "cost_per_call": str(mean_cost.quantize(COST_PLACES)) if mean_cost is not None else None,
    }


def _model_summary(run: EvalRun, results: list[EvalCaseResult]) -> dict:
    by_case: dict[str, list[EvalCaseResult]] = {}
    for result in results:
        by_case.setdefault(result.case_name, []).append(result)
    costs = [r.cost for r in results if r.cost is not None]
    latencies = sorted(r.latency_ms for r in results if r.latency_ms is not None)
    passed = sum(r.status == EvalCaseResult.PASSED for r in results)
    figures = _evidence_figures(run.cases, results)
    return {
        "calls": len(results),
        "passed": passed,
        "failed": sum(r.status == EvalCaseResult.FAILED for r in results),
        "errors": sum(r.status == EvalCaseResult.ERROR for r in results),
        "pass_rate": _rate(passed, len(results)),
        "total_cost": str(sum(costs, Decimal(0))) if costs else None,
        "avg_input_tokens": _avg(
            [r.input_tokens for r in results if r.status != EvalCaseResult.ERROR]
        ),
        "avg_output_tokens": _avg(
            [r.output_tokens for r in results if r.status != EvalCaseResult.ERROR]
        ),
        "median_latency_ms": latencies[len(latencies) // 2] if latencies else None,
        "format_adherence": figures["format_adherence"],
        "cost_per_call": figures["cost_per_call"],
        "cases": [_case_consistency(case, by_case.get(case["name"], [])) for case in run.cases],
    }


def _avg(values: list[int]) -> str | None:
    return str((Decimal(sum(values)) / len(values)).quantize(Decimal("0.01"))) if values else None


def _production_pass_rate(run: EvalRun) -> dict | None:
    label = (
        Label.objects.filter(prompt_id=run.prompt_version.prompt_id, name=Label.PRODUCTION)
        .select_related("version")
        .first()
    )
    if label is None:
        return None
    theirs = eval_run_latest(version=label.version, finished=True, besides=run)
    if theirs is None:
        return {"version": label.version.number, "run": None}
    their_rate = (theirs.summary.get("model") or {}).get("pass_rate")
    return {
        "version": label.version.number,
        "run": theirs.pk,
        "status": theirs.status,
        "pass_rate": their_rate,
    }


BASELINE_LOOKBACK = 20  # the newest runs of a version searched for one on the same cases


def _baseline_run(run: EvalRun) -> EvalRun | None:
    """The current model's run to compare a candidate run with: the latest graded
    run (passed or failed) on the version's own model, with exactly the candidate
    run's cases, of the same version, else of the production version."""
    versions = [run.prompt_version]
    label = (
        Label.objects.filter(prompt_id=run.prompt_version.prompt_id, name=Label.PRODUCTION)
        .select_related("version")
        .first()
    )
    if label is not None and label.version_id != run.prompt_version_id:
        versions.append(label.version)
    for version in versions:
        graded = (
            EvalRun.objects.filter(
                prompt_version=version,
                candidate_model="",
                status__in=[EvalRun.PASSED, EvalRun.FAILED],
            )
            .select_related("prompt_version")
            .order_by("-finished_at", "-id")[:BASELINE_LOOKBACK]
        )
        for other in graded:
            # Pass rates on different cases say nothing about each other.
            if other.provider and other.cases == run.cases:
                return other
    return None


def _candidate_summary(run: EvalRun, results: list[EvalCaseResult]) -> dict:
    """A candidate run's pass rate, format adherence and cost per call beside the
    same figures of the current model (`baseline`: its latest graded run on the
    same cases, or None when it has none)."""
    version = run.prompt_version
    figures = _evidence_figures(run.cases, results)
    priced = _price_for(version, run.candidate_model) is not None
    baseline_run = _baseline_run(run)
    baseline = None
    if baseline_run is not None:
        theirs = _evidence_figures(baseline_run.cases, list(baseline_run.results.all()))
        baseline = {
            "run": baseline_run.pk,
            "version": baseline_run.prompt_version.number,
            "model": _version_model(baseline_run.prompt_version, baseline_run.provider),
            "status": baseline_run.status,
            **theirs,
        }
    notes = []
    if not priced:
        notes.append(
            f"{run.candidate_model} has no price in force on this project's price sheet, so "
            "its cost per call is unknown: add a price under Model prices."
        )
    if baseline is None:
        notes.append(
            f"The current model has no graded run of v{version.number} on these cases to "
            "compare with: re-run the version, then the candidate."
        )
    return {
        "model": run.candidate_model,
        "version_model": _version_model(version, run.provider),
        "grader_model": _version_model(version, run.provider),
        "priced": priced,
        **figures,
        "baseline": baseline,
        "notes": notes,
    }


@transaction.atomic
def eval_run_finalize(*, run_id: int) -> EvalRun | None:
    """Close the run once every expected result is in; a no-op before that and after."""
    run = EvalRun.objects.select_for_update().filter(pk=run_id).first()
    if run is None or run.is_finished or "static" not in run.summary:
        return run
    results = list(run.results.all())
    if len(results) < run.expected_result_count:
        return run
    summary = dict(run.summary)
    static = summary["static"]
    if run.provider:
        summary["model"] = _model_summary(run, results)
    if run.candidate_model:
        summary["candidate"] = _candidate_summary(run, results)
    summary["production"] = _production_pass_rate(run)
    errors = [r for r in results if r.status == EvalCaseResult.ERROR]
    if not run.cases:
        run.status = EvalRun.NO_CASES
        summary["note"] = "no cases: the eval suite is empty, so nothing was checked"
    elif errors:
        run.status = EvalRun.ERROR
        run.error = errors[0].error
    elif static["render_failures"] or any(r.status == EvalCaseResult.FAILED for r in results):
        run.status = EvalRun.FAILED
    elif not run.provider:
        run.status = EvalRun.RENDERED
    else:
        run.status = EvalRun.PASSED
    if run.cases and not run.provider:
        summary["note"] = (
            "rendered, not graded: the suite has no model provider, so only the static "
            "checks ran (every case renders; tokens and cost)"
        )
    run.summary = summary
    run.finished_at = timezone.now()
    run.save(update_fields=["summary", "status", "error", "finished_at"])
    return run


def eval_run_fail(*, run_id: int, reason: str) -> None:
    EvalRun.objects.filter(pk=run_id).exclude(status__in=EvalRun.TERMINAL).update(
        status=EvalRun.ERROR, error=reason[:2000], finished_at=timezone.now()
    )


def eval_runs_sweep(
    *,
    now: dt.datetime | None = None,
    unsent_after: dt.timedelta = dt.timedelta(seconds=30),
    stale_after: dt.timedelta = dt.timedelta(minutes=5),
    give_up_after: dt.timedelta = dt.timedelta(minutes=30),
) -> dict:
    """Recover runs that a lost message, a stopped broker or a killed worker left behind."""
    now = now or timezone.now()
    report = {"enqueued": 0, "resumed": 0, "timed_out": 0}
    for run in EvalRun.objects.filter(
        status__in=[EvalRun.QUEUED, EvalRun.RUNNING], created_at__lt=now - give_up_after
    ):
        eval_run_fail(run_id=run.pk, reason=f"timed out: not finished within {give_up_after}")
        report["timed_out"] += 1
    never_sent = EvalRun.objects.filter(
        status=EvalRun.QUEUED, enqueued_at__isnull=True, created_at__lt=now - unsent_after
    )
    lost = EvalRun.objects.filter(status=EvalRun.QUEUED, enqueued_at__lt=now - stale_after)
    for run_id in set(never_sent.values_list("pk", flat=True)) | set(
        lost.values_list("pk", flat=True)
    ):
        report["enqueued"] += eval_run_enqueue(run_id=run_id)
    for run_id in EvalRun.objects.filter(
        status=EvalRun.RUNNING, started_at__lt=now - stale_after
    ).values_list("pk", flat=True):
        eval_run_enqueue(run_id=run_id)
        report["resumed"] += 1
    return report


def production_gate_refusal(version: PromptVersion) -> str | None:
    """Why `version` may not become a protected production, or None when it may:
    only a latest run that `passed` (graded by a model) lets it through."""
    latest = eval_run_latest(version=version)
    if latest is None:
        return f"version {version.number} has no eval run."
    where = f"the latest eval run of version {version.number} (#{latest.pk})"
    if latest.status == EvalRun.RENDERED:
        return (
            f"{where} only rendered its cases: the eval suite has no model provider, so "
            "nothing was graded. Add a provider to the suite and re-run it."
        )
    if latest.status == EvalRun.NO_CASES:
        return f"{where} had no cases to check. Add cases to the eval suite and re-run it."
    if latest.status != EvalRun.PASSED:
        return f"{where} is {latest.status}, not passed."
    return None
