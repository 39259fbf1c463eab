"""What a candidate run says, in one word: the ready-versus-failed rule on
hand-made summaries, and candidate_evidence's reads (which runs count, how many
queries)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from prompts_app.models import EvalRun
from prompts_app.selectors.evals import candidate_evidence, candidate_status, eval_run_latest
from prompts_app.services import library
from tests.evals.conftest import new_version


def run_with(status: str, pass_rate=None, format_adherence=None, baseline: dict | None = None) -> EvalRun:
    summary = {"candidate": {"pass_rate": pass_rate, "format_adherence": format_adherence,
                             "cost_per_call": None, "baseline": baseline}}
    return EvalRun(status=status, candidate_model="cand", summary=summary)


BASE = {"run": 1, "pass_rate": "0.7500", "format_adherence": "0.5000", "cost_per_call": None}


@pytest.mark.parametrize(
    ("run", "expected"),
    [
        (run_with("queued"), "running"),
        (run_with("running"), "running"),
        (run_with("error"), "error"),
        (run_with("rendered"), "error"),
        (run_with("no_cases"), "error"),
        # a failed run is judged by its rates: it can pass as well as production,
        # whose graded run failed cases too (0.75 here)
        (run_with("failed", "0.8000", "1.0000", BASE), "ready"),
        (run_with("failed", "0.7000", "1.0000", BASE), "failed"),
        (run_with("passed", "1.0000", "1.0000", None), "no_baseline"),
        (run_with("passed", "1.0000", "1.0000", BASE), "ready"),
        # equal is "at least as well"
        (run_with("passed", "0.7500", "0.5000", BASE), "ready"),
        # below the baseline on either figure is not ready
        (run_with("passed", "0.7499", "1.0000", BASE), "failed"),
        (run_with("passed", "1.0000", "0.4999", BASE), "failed"),
        # format adherence only counts when both have one
        (run_with("passed", "1.0000", None, BASE), "ready"),
        (run_with("passed", "1.0000", "0.1000", {**BASE, "format_adherence": None}), "ready"),
        # a run with no pass rate cannot be compared
        (run_with("passed", None, None, BASE), "failed"),
    ],
)
def test_the_ready_rule(run, expected):
    assert candidate_status(run) == expected


@pytest.mark.django_db
def test_evidence_is_of_the_production_version_in_a_fixed_number_of_queries(
    ask, django_assert_max_num_queries
):
    v1, v2 = new_version(ask), new_version(ask, "v2 {{ ask }}")
    finished = {"status": "passed", "finished_at": timezone.now()}
    for model in ("m-a", "m-b", "m-c"):
        EvalRun.objects.create(prompt_version=v1, candidate_model=model, trigger="manual", **finished)
    newest_a = EvalRun.objects.create(prompt_version=v1, candidate_model="m-a", trigger="manual")
    EvalRun.objects.create(prompt_version=v2, candidate_model="m-z", trigger="manual", **finished)

    # Nothing in production: the latest version's candidates.
    assert set(candidate_evidence(prompt=ask)) == {"m-z"}
    library.label_move(prompt=ask, label="production", version_number=1, reason="launch", actor="ada")
    with django_assert_max_num_queries(2):
        evidence = candidate_evidence(prompt=ask)
    assert list(evidence) == ["m-a", "m-b", "m-c"]
    assert evidence["m-a"]["run_id"] == newest_a.pk and evidence["m-a"]["status"] == "running"
    assert evidence["m-b"]["status"] == "no_baseline"
    # None of them is the version's own latest run.
    assert eval_run_latest(version=v1).candidate_model == ""
