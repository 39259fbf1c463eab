"""Eval-run reads: runs of a prompt, one run, the latest run of a version, and
the evidence of candidate-model runs.

A candidate run (`EvalRun.candidate_model` set) runs a version's suite on another
model than the version's own. It is evidence for a strategy that changes the
model, never a verdict on the version: `eval_run_latest` (the version's status,
the production gate, the advisor's consistency) leaves candidate runs out."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Count, OuterRef, Prefetch, Subquery

from prompts_app.errors import DomainError, NotFound
from prompts_app.models import (
    EvalRun,
    EvalSuite,
    ModelPrice,
    Project,
    Prompt,
    PromptVersion,
    Provider,
)
from prompts_app.selectors.library import _parse_version_number, prompt_version_for

# --- evals --------------------------------------------------------------------


def eval_suite_get(*, prompt: Prompt) -> EvalSuite:
    """The prompt's eval suite; an empty, unsaved one (no provider, no cases) when it
    has none yet, so reading it never writes."""
    found = EvalSuite.objects.filter(prompt=prompt).select_related("provider").first()
    return found if found is not None else EvalSuite(prompt=prompt)


def eval_suite_cases(*, suite: EvalSuite) -> list[dict[str, Any]]:
    """The suite's cases in order, as a run copies them (none for an unsaved suite)."""
    if suite.pk is None:
        return []
    return [case.as_snapshot() for case in suite.cases.all()]


def eval_run_list(
    *, prompt: Prompt, version: Any = None, ids: Any = None, candidate: bool | None = None
):
    """The prompt's runs, newest first; only those of one version, or with the given
    ids. `candidate`: None for every run, False for runs on the version's own model
    only, True for candidate-model runs only."""
    runs = EvalRun.objects.filter(prompt_version__prompt=prompt).select_related("prompt_version")
    if version not in (None, ""):
        runs = runs.filter(prompt_version__number=_parse_version_number(version))
    if ids is not None:
        runs = runs.filter(pk__in=list(ids))
    if candidate is True:
        runs = runs.exclude(candidate_model="")
    elif candidate is False:
        runs = runs.filter(candidate_model="")
    return runs.order_by("-created_at", "-id")


def eval_result_list(*, run: EvalRun):
    return run.results.all()


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


def eval_run_latest(
    *, version: PromptVersion, finished: bool = False, besides: EvalRun | None = None
) -> EvalRun | None:
    """The latest eval run of `version` on its own model: the newest made (whatever
    its status), or with `finished=True` the one that finished last. `besides`
    leaves one run out (to compare a run with the version's previous one).

    Candidate-model runs never count: they say how another model does on the
    suite, not whether this version passes (the production gate reads this)."""
    runs = EvalRun.objects.filter(prompt_version=version, candidate_model="")
    if besides is not None:
        runs = runs.exclude(pk=besides.pk)
    if finished:
        return runs.filter(status__in=EvalRun.TERMINAL).order_by("-finished_at", "-id").first()
    return runs.order_by("-created_at", "-id").first()


def prompt_version_list_with_runs(*, versions):
    """`versions` (the admin's list of versions) with their labels and their runs,
    newest first, as `runs_newest_first`: two more queries for the whole page
    instead of a latest-run lookup per row. The runs leave out `cases`, the copy of
    the suite each run keeps, which a list never shows, and candidate-model runs,
    which never stand for their version."""
    runs = EvalRun.objects.filter(candidate_model="").defer("cases").order_by("-created_at", "-id")
    return versions.prefetch_related(
        "labels", Prefetch("eval_runs", queryset=runs, to_attr="runs_newest_first")
    )


# --- candidate models ------------------------------------------------------------

# What a candidate's latest run says, for the strategies that change the model.
# A model with no candidate run is absent (the caller reads that as "untested").
CANDIDATE_READY = "ready"
CANDIDATE_FAILED = "failed"
CANDIDATE_RUNNING = "running"
CANDIDATE_ERROR = "error"
CANDIDATE_NO_BASELINE = "no_baseline"
CANDIDATE_STATUSES = (
    CANDIDATE_READY,
    CANDIDATE_FAILED,
    CANDIDATE_RUNNING,
    CANDIDATE_ERROR,
    CANDIDATE_NO_BASELINE,
)


def eval_evidence_version(*, prompt: Prompt) -> PromptVersion | None:
    """The version candidate models are measured on: the one `production` points
    to, else the latest; None when the prompt has no version yet."""
    try:
        version, _ = prompt_version_for(prompt=prompt, label=None)
    except NotFound:
        return None
    return version


def eval_version_model(*, version: PromptVersion, suite: EvalSuite | None) -> str | None:
    """The model a version's eval calls use: its model_config's, else the suite
    provider's default (as services.evals does for a run)."""
    provider_model = suite.provider.model if suite is not None and suite.provider else None
    return (version.model_config or {}).get("model") or provider_model


def candidate_model_choices(*, prompt: Prompt, current: str | None) -> list[str]:
    """Models of the project's price sheet, other than `current`, by name."""
    models = (
        ModelPrice.objects.filter(project_id=prompt.project_id)
        .exclude(model=current or "")
        .values_list("model", flat=True)
        .distinct()
        .order_by("model")
    )
    return list(models)


def _at_least(mine: str | None, theirs: str | None) -> bool:
    return mine is not None and theirs is not None and Decimal(mine) >= Decimal(theirs)


def candidate_status(run: EvalRun) -> str:
    """A candidate run in one word. `ready` when it was graded (passed or failed:
    a suite can hold cases no model gets right) and its pass rate is at least the
    baseline's, its format adherence too when both have one: it passes at least as
    well as the current model. A graded run with no baseline is `no_baseline`."""
    if not run.is_finished:
        return CANDIDATE_RUNNING
    if run.status not in (EvalRun.PASSED, EvalRun.FAILED):
        # error; rendered and no_cases cannot happen (a candidate needs a provider
        # and cases) but graded nothing either way
        return CANDIDATE_ERROR
    figures = (run.summary or {}).get("candidate") or {}
    baseline = figures.get("baseline")
    if not baseline:
        return CANDIDATE_NO_BASELINE
    if not _at_least(figures.get("pass_rate"), baseline.get("pass_rate")):
        return CANDIDATE_FAILED
    mine, theirs = figures.get("format_adherence"), baseline.get("format_adherence")
    if mine is not None and theirs is not None and not _at_least(mine, theirs):
        return CANDIDATE_FAILED
    return CANDIDATE_READY


def candidate_evidence_row(run: EvalRun) -> dict[str, Any]:
    """One candidate run's figures beside its baseline's (the current model's)."""
    figures = (run.summary or {}).get("candidate") or {}
    baseline = figures.get("baseline") or {}
    return {
        "status": candidate_status(run),
        "run_id": run.pk,
        "version": run.prompt_version.number,
        "pass_rate": figures.get("pass_rate"),
        "format_adherence": figures.get("format_adherence"),
        "cost_per_call": figures.get("cost_per_call"),
        "baseline_run_id": baseline.get("run"),
        "baseline_model": baseline.get("model"),
        "baseline_pass_rate": baseline.get("pass_rate"),
        "baseline_format_adherence": baseline.get("format_adherence"),
        "baseline_cost_per_call": baseline.get("cost_per_call"),
        "finished_at": run.finished_at,
    }


def candidate_runs_latest(*, version: PromptVersion | None) -> dict[str, EvalRun]:
    """The latest candidate run of `version` per candidate model (one query), by model name."""
    if version is None:
        return {}
    newest_of_model = (
        EvalRun.objects.filter(prompt_version=version, candidate_model=OuterRef("candidate_model"))
        .order_by("-created_at", "-id")
        .values("pk")[:1]
    )
    runs = (
        EvalRun.objects.filter(prompt_version=version, pk=Subquery(newest_of_model))
        .exclude(candidate_model="")
        .select_related("prompt_version")
        .defer("cases")
        .order_by("candidate_model")
    )
    return {run.candidate_model: run for run in runs}


def candidate_evidence(*, prompt: Prompt) -> dict[str, dict[str, Any]]:
    """Per candidate model, what its latest run on the production version (the
    latest version when nothing is in production) says: {status: ready | failed |
    running | error | no_baseline, run_id, pass_rate, format_adherence,
    cost_per_call, baseline_pass_rate, baseline_format_adherence,
    baseline_cost_per_call, finished_at, …}. Models never run are absent, which
    means "untested". Two queries (the version, then its candidate runs; three
    when nothing is in production), whatever the number of models."""
    runs = candidate_runs_latest(version=eval_evidence_version(prompt=prompt))
    return {model: candidate_evidence_row(run) for model, run in runs.items()}


def candidate_overview(*, prompt: Prompt) -> dict[str, Any]:
    """What the candidate-model pages and the API show: the version candidates are
    measured on (None when the prompt has no version) and how it was chosen
    (`label`: "production" or "latest"), its own model, and per
    candidate model its latest run (`runs`) and what that run says (`evidence`,
    as `candidate_evidence`)."""
    try:
        version, label = prompt_version_for(prompt=prompt, label=None)
    except NotFound:
        version, label = None, None
    suite = EvalSuite.objects.filter(prompt=prompt).select_related("provider").first()
    runs = candidate_runs_latest(version=version)
    return {
        "version": version,
        "label": label,
        "model": eval_version_model(version=version, suite=suite) if version else None,
        "suite": suite,
        "runs": runs,
        "evidence": {model: candidate_evidence_row(run) for model, run in runs.items()},
    }


# --- the admin's lists and dropdowns -----------------------------------------------


def provider_list_counted(*, providers):
    """`providers` (the admin's list) with `suites`, the number of eval suites that
    use each, counted in the list's own query instead of one count per row."""
    return providers.annotate(suites=Count("evalsuite"))


def eval_suite_list_counted(*, suites):
    """`suites` (the admin's list) with `cases_total`, each suite's number of cases,
    counted in the list's own query instead of one count per row."""
    return suites.annotate(cases_total=Count("cases"))


def eval_run_list_without_cases(*, runs):
    """`runs` (the admin's list) without `cases`, the copy of the suite each run
    keeps, which a list never shows and which can be large."""
    return runs.defer("cases")


def eval_run_list_brief(
    *, prompt: Prompt, version: Any = None, ids: Any = None, candidate: bool | None = None,
    limit: int | None = None,
):
    """`eval_run_list` without each run's copy of the suite (`cases`), for badges and
    histories that never show it; at most `limit` runs when given."""
    runs = eval_run_list(prompt=prompt, version=version, ids=ids, candidate=candidate).defer("cases")
    return runs[:limit] if limit is not None else runs


def eval_suite_has_cases(*, suite: EvalSuite) -> bool:
    """Whether the suite has a case (one cheap query): a candidate run needs one."""
    return suite.pk is not None and suite.cases.exists()


def provider_choices(*, project: Project | None = None):
    """What a suite's provider dropdown offers: the project's providers, or with no
    project every provider by project and name; the project is joined because each
    option may show its name."""
    if project is not None:
        return Provider.objects.filter(project=project).select_related("project")
    return Provider.objects.select_related("project").order_by("project__name", "name")


def eval_suite_prompt_choices():
    """Prompts that have no eval suite yet, by project and name: what the add-suite
    dropdown offers (one suite per prompt)."""
    return (
        Prompt.objects.filter(eval_suite__isnull=True)
        .select_related("project")
        .order_by("project__name", "name")
    )
