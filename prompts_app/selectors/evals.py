"""Eval-run reads: runs of a prompt, one run, the latest run of a version."""

from __future__ import annotations

from typing import Any

from prompts_app.errors import DomainError, NotFound
from prompts_app.models import (
    EvalRun,
    EvalSuite,
    Project,
    Prompt,
    PromptVersion,
)
from prompts_app.selectors.library import _parse_version_number

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


def eval_run_list(*, prompt: Prompt, version: Any = None, ids: Any = None):
    """The prompt's runs, newest first; only those of one version, or with the given ids."""
    runs = EvalRun.objects.filter(prompt_version__prompt=prompt).select_related("prompt_version")
    if version not in (None, ""):
        runs = runs.filter(prompt_version__number=_parse_version_number(version))
    if ids is not None:
        runs = runs.filter(pk__in=list(ids))
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
    """The latest eval run of `version`: the newest made (whatever its status), or
    with `finished=True` the one that finished last. `besides` leaves one run out
    (to compare a run with the version's previous one)."""
    runs = EvalRun.objects.filter(prompt_version=version)
    if besides is not None:
        runs = runs.exclude(pk=besides.pk)
    if finished:
        return runs.filter(status__in=EvalRun.TERMINAL).order_by("-finished_at", "-id").first()
    return runs.order_by("-created_at", "-id").first()
