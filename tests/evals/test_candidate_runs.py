"""Candidate-model runs on a real Celery worker against the local stand-in for
OpenAI: every answer comes from the candidate model, the summary holds its pass
rate, format adherence and cost per call beside the current model's, worked out
here by hand, and a candidate run never counts for its version."""

from __future__ import annotations

from decimal import Decimal

import pytest

from prompts_app.lib.assertions import RUBRIC_SYSTEM
from prompts_app.models import EvalRun, Label
from prompts_app.selectors.evals import candidate_evidence, eval_run_latest
from prompts_app.services import evals, library
from tests.evals.conftest import (
    CANDIDATE,
    CASES,
    GOOD_REPLIES,
    OWN_MODEL,
    UNPRICED,
    WORSE_REPLIES,
    new_version,
    wait_for_run,
    wait_for_runs_of,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

# Tokens the stand-in bills per case (input = words of `ask` + 4; output = words of the reply):
#   json-a 7 in / 2 out, json-b 7 / 2, plain 6 / 2, code 6 / 1 (GOOD_REPLIES; WORSE_REPLIES too).
# house-model at $0.50 / $1.50 per 1M: 6.5 + 6.5 + 6 + 4.5 = 23.5 → 5.875 per 1M calls' mean.
BASELINE_COST = Decimal("5.875") / 10**6
# cand-model at $1 / $2 per 1M: 11 + 11 + 10 + 8 = 40 → 10 per 1M.
CANDIDATE_COST = Decimal(10) / 10**6


@pytest.fixture
def graded_v1(celery_worker, ask, provider, prices, fake_openai):
    """ask v1 on house-model, its suite run once with every answer good (the baseline)."""
    evals.eval_suite_update(prompt=ask, provider="fake", cases=CASES)
    fake_openai.replies.update(GOOD_REPLIES)
    version = new_version(ask)
    (baseline,) = wait_for_runs_of(version)
    assert baseline.status == EvalRun.PASSED
    fake_openai.requests.clear()
    return version, baseline


def test_a_candidate_run_records_its_figures_beside_the_current_models(graded_v1, fake_openai):
    version, baseline = graded_v1
    fake_openai.replies.update(WORSE_REPLIES)
    run = evals.eval_run_request_candidate(version=version, model=CANDIDATE, requested_by="ada")
    run = wait_for_run(run.pk)

    assert run.status == EvalRun.FAILED  # json-b answered prose: a run like any other
    assert {request["model"] for request in fake_openai.requests} == {CANDIDATE}
    assert len(fake_openai.requests) == 4
    candidate = run.summary["candidate"]
    assert candidate["model"] == CANDIDATE
    assert candidate["version_model"] == OWN_MODEL
    assert candidate["pass_rate"] == "0.7500"  # 3 of 4 calls passed
    assert candidate["format_adherence"] == "0.6667"  # json-a, code of json-a, json-b, code
    assert Decimal(candidate["cost_per_call"]) == CANDIDATE_COST
    assert candidate["cost_per_call"] == "0.0000100000"
    assert candidate["priced"] is True and candidate["notes"] == []
    assert candidate["baseline"] == {
        "run": baseline.pk,
        "version": 1,
        "model": OWN_MODEL,
        "status": "passed",
        "graded_calls": 4,
        "pass_rate": "1.0000",
        "format_adherence": "1.0000",
        "cost_per_call": "0.0000058750",
    }
    assert Decimal(candidate["baseline"]["cost_per_call"]) == BASELINE_COST
    # The static estimate prices the candidate too; the model summary agrees.
    assert run.summary["static"]["model"] == CANDIDATE
    assert run.summary["model"]["pass_rate"] == "0.7500"
    assert run.summary["model"]["format_adherence"] == "0.6667"

    evidence = candidate_evidence(prompt=version.prompt)
    assert evidence == {
        CANDIDATE: {
            "status": "failed",
            "run_id": run.pk,
            "version": 1,
            "pass_rate": "0.7500",
            "format_adherence": "0.6667",
            "cost_per_call": "0.0000100000",
            "baseline_run_id": baseline.pk,
            "baseline_model": OWN_MODEL,
            "baseline_pass_rate": "1.0000",
            "baseline_format_adherence": "1.0000",
            "baseline_cost_per_call": "0.0000058750",
            "finished_at": run.finished_at,
        }
    }


def test_a_candidate_that_passes_as_well_as_production_is_ready(graded_v1, fake_openai):
    version, _ = graded_v1
    library.label_move(prompt=version.prompt, label="production", version_number=1, reason="launch",
                       actor="ada")
    run = wait_for_run(evals.eval_run_request_candidate(version=version, model=CANDIDATE).pk)
    assert run.status == EvalRun.PASSED
    assert run.summary["candidate"]["pass_rate"] == "1.0000"
    assert run.summary["candidate"]["format_adherence"] == "1.0000"
    evidence = candidate_evidence(prompt=version.prompt)
    assert evidence[CANDIDATE]["status"] == "ready"
    assert evidence[CANDIDATE]["cost_per_call"] == "0.0000100000"


def test_an_unpriced_candidate_has_no_cost_and_says_so(graded_v1, fake_openai):
    version, _ = graded_v1
    run = wait_for_run(evals.eval_run_request_candidate(version=version, model=UNPRICED).pk)
    candidate = run.summary["candidate"]
    assert run.status == EvalRun.PASSED
    assert candidate["priced"] is False
    assert candidate["cost_per_call"] is None
    assert run.results.filter(cost__isnull=False).count() == 0
    assert "no price in force" in candidate["notes"][0] and UNPRICED in candidate["notes"][0]
    assert candidate_evidence(prompt=version.prompt)[UNPRICED]["status"] == "ready"


def test_the_latest_run_of_each_candidate_model_is_its_evidence(graded_v1, fake_openai):
    version, _ = graded_v1
    fake_openai.replies.update(WORSE_REPLIES)
    first = wait_for_run(evals.eval_run_request_candidate(version=version, model=CANDIDATE).pk)
    fake_openai.replies.update(GOOD_REPLIES)
    second = wait_for_run(evals.eval_run_request_candidate(version=version, model=CANDIDATE).pk)
    other = wait_for_run(evals.eval_run_request_candidate(version=version, model=UNPRICED).pk)
    evidence = candidate_evidence(prompt=version.prompt)
    assert first.status == "failed"
    assert {model: row["run_id"] for model, row in evidence.items()} == {
        CANDIDATE: second.pk, UNPRICED: other.pk
    }
    assert evidence[CANDIDATE]["status"] == "ready"


def test_without_a_graded_run_on_the_same_cases_there_is_no_baseline(graded_v1, fake_openai):
    version, _ = graded_v1
    # The suite changes after the current model's run: its pass rate was on other cases.
    evals.eval_suite_update(prompt=version.prompt, cases=CASES[:3])
    run = wait_for_run(evals.eval_run_request_candidate(version=version, model=CANDIDATE).pk)
    assert run.status == EvalRun.PASSED
    assert run.summary["candidate"]["baseline"] is None
    assert "re-run the version" in run.summary["candidate"]["notes"][0]
    assert candidate_evidence(prompt=version.prompt)[CANDIDATE]["status"] == "no_baseline"


def test_rubrics_are_graded_by_the_versions_own_model(celery_worker, ask, provider, prices, fake_openai):
    fake_openai.replies[RUBRIC_SYSTEM] = "SCORE: 5 - fine."
    fake_openai.replies["say hi"] = "hi there"
    evals.eval_suite_update(prompt=ask, provider="fake", cases=[
        {"name": "polite", "variables": {"ask": "say hi"}, "assertions": [{"type": "rubric", "rubric": "polite"}]}
    ])
    version = new_version(ask)
    wait_for_runs_of(version)
    fake_openai.requests.clear()
    run = wait_for_run(evals.eval_run_request_candidate(version=version, model=CANDIDATE).pk)
    assert run.status == EvalRun.PASSED
    by_role = {request["messages"][0]["role"]: request["model"] for request in fake_openai.requests}
    assert by_role == {"user": CANDIDATE, "system": OWN_MODEL}  # the answer; the grader
    assert run.summary["candidate"]["grader_model"] == OWN_MODEL
    assert run.summary["candidate"]["format_adherence"] is None  # a rubric is no format check


def test_a_passing_candidate_run_does_not_unlock_a_protected_production(
    celery_worker, writer, ask, provider, prices, fake_openai
):
    ask.protect_production = True
    ask.save()
    evals.eval_suite_update(prompt=ask, provider="fake", cases=CASES)
    fake_openai.replies.update(WORSE_REPLIES)
    version = new_version(ask)
    (own,) = wait_for_runs_of(version)
    assert own.status == EvalRun.FAILED

    fake_openai.replies.update(GOOD_REPLIES)
    candidate = wait_for_run(evals.eval_run_request_candidate(version=version, model=CANDIDATE).pk)
    assert candidate.status == EvalRun.PASSED
    assert candidate_evidence(prompt=ask)[CANDIDATE]["status"] == "ready"  # 1.0 ≥ 0.75

    # The newest run of v1 passed, but it is the candidate's: the version is still failed.
    assert eval_run_latest(version=version) == own
    assert eval_run_latest(version=version, finished=True) == own
    assert "failed, not passed" in evals.production_gate_refusal(version)
    refused = writer.client.put("/api/v1/prompts/ask/labels/production", {"version": 1}, format="json")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "promotion_refused"
    assert f"(#{own.pk})" in refused.json()["error"]["message"]
    assert not Label.objects.filter(prompt=ask, name=Label.PRODUCTION).exists()
