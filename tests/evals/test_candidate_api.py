"""The API of candidate-model runs: ask for one (POST …/evals/ with
candidate_model), read it (GET /evals/{id}/) and every candidate's evidence
(GET …/evals/candidates); bad input is a 4xx that stores nothing.

Runs are carried through their real steps by calling the services the worker
calls, against the local stand-in for OpenAI (no worker in this module)."""

from __future__ import annotations

import pytest

from prompts_app.models import EvalRun
from prompts_app.services import evals, library
from tests.evals.conftest import CANDIDATE, CASES, GOOD_REPLIES, OWN_MODEL, WORSE_REPLIES, new_version

pytestmark = pytest.mark.django_db

URL = "/api/v1/prompts/ask/evals/"


def carry_through(run: EvalRun) -> EvalRun:
    """What the worker does, in this process: static checks, each case, finalize."""
    for case_name, repeat in evals.eval_run_start(run_id=run.pk):
        evals.eval_case_execute(run_id=run.pk, case_name=case_name, repeat_index=repeat)
    return evals.eval_run_finalize(run_id=run.pk)


@pytest.fixture
def suite(ask, provider, prices, fake_openai):
    """ask: v1 in production and graded on its own model (every answer good), v2 the latest."""
    evals.eval_suite_update(prompt=ask, provider="fake", cases=CASES)
    fake_openai.replies.update(GOOD_REPLIES)
    v1 = new_version(ask)
    carry_through(EvalRun.objects.get(prompt_version=v1))
    library.label_move(prompt=ask, label="production", version_number=1, reason="launch", actor="ada")
    new_version(ask, "Please: {{ ask }}")
    return ask


def test_a_candidate_run_is_queued_on_the_production_version_by_default(writer, suite):
    response = writer.client.post(URL, {"candidate_model": CANDIDATE}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["candidate_model"] == CANDIDATE
    assert body["version"] == 1  # production, not the latest (v2)
    assert body["status"] == "queued"
    assert body["candidate_status"] == "running"
    assert body["candidate"] is None
    assert body["requested_by"] == "api-key:writer"
    run = EvalRun.objects.get(pk=body["id"])
    assert run.candidate_model == CANDIDATE and run.trigger == EvalRun.TRIGGER_MANUAL


def test_a_candidate_run_of_a_chosen_version(writer, suite):
    response = writer.client.post(URL, {"candidate_model": CANDIDATE, "version": 2}, format="json")
    assert response.status_code == 202
    assert response.json()["version"] == 2


def test_a_normal_rerun_still_runs_the_latest_version_on_its_own_model(writer, suite):
    response = writer.client.post(URL, {}, format="json")
    assert response.status_code == 202
    assert response.json()["version"] == 2 and response.json()["candidate_model"] == ""
    assert response.json()["candidate_status"] is None


def test_the_run_and_the_candidates_endpoint_show_the_comparison(writer, suite, fake_openai):
    fake_openai.replies.update(WORSE_REPLIES)
    run_id = writer.client.post(URL, {"candidate_model": CANDIDATE}, format="json").json()["id"]
    run = carry_through(EvalRun.objects.get(pk=run_id))
    assert run.status == "failed"

    detail = writer.client.get(f"/api/v1/evals/{run_id}/").json()
    assert detail["candidate_model"] == CANDIDATE
    assert detail["candidate_status"] == "failed"
    assert detail["candidate"]["pass_rate"] == "0.7500"
    assert detail["candidate"]["format_adherence"] == "0.6667"
    assert detail["candidate"]["cost_per_call"] == "0.0000100000"
    assert detail["candidate"]["baseline"]["pass_rate"] == "1.0000"
    assert detail["candidate"]["baseline"]["cost_per_call"] == "0.0000058750"
    assert detail["summary"]["candidate"] == detail["candidate"]
    assert len(detail["results"]) == 4

    evidence = writer.client.get(URL + "candidates").json()
    assert evidence["version"] == 1 and evidence["model"] == OWN_MODEL
    row = evidence["candidates"][CANDIDATE]
    assert row["status"] == "failed" and row["run_id"] == run_id
    assert (row["pass_rate"], row["baseline_pass_rate"]) == ("0.7500", "1.0000")
    assert (row["format_adherence"], row["baseline_format_adherence"]) == ("0.6667", "1.0000")
    assert (row["cost_per_call"], row["baseline_cost_per_call"]) == ("0.0000100000", "0.0000058750")

    listed = writer.client.get(URL + "?version=1").json()["results"]
    assert [r["candidate_model"] for r in listed] == [CANDIDATE, ""]


def test_no_candidate_run_yet_means_an_empty_map(reader, suite):
    response = reader.client.get(URL + "candidates")
    assert response.status_code == 200
    assert response.json() == {"version": 1, "model": OWN_MODEL, "candidates": {}}


@pytest.mark.parametrize(
    ("body", "status", "field", "code"),
    [
        ({"candidate_model": ""}, 400, "candidate_model", "invalid"),
        ({"candidate_model": "   "}, 400, "candidate_model", "invalid"),
        ({"candidate_model": "x" * 201}, 400, "candidate_model", "invalid"),
        ({"candidate_model": "gpt 5"}, 400, "candidate_model", "invalid"),
        ({"candidate_model": "gpt-5\u0007"}, 400, "candidate_model", "invalid"),
        ({"candidate_model": OWN_MODEL}, 400, "candidate_model", "not_a_candidate"),
        ({"candidate_model": 42}, 400, "candidate_model", None),
        ({"candidate_model": None}, 400, "candidate_model", None),
        ({"candidate_model": CANDIDATE, "version": 9}, 404, "version", "not_found"),
        ({"candidate_model": CANDIDATE, "version": 0}, 400, "version", None),
        ({"candidate_model": CANDIDATE, "modle": "typo"}, 400, "modle", None),
    ],
)
def test_bad_input_is_refused_and_stores_nothing(writer, suite, body, status, field, code):
    before = EvalRun.objects.count()
    response = writer.client.post(URL, body, format="json")
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["field"] == field
    if code:
        assert error["code"] == code
    assert EvalRun.objects.count() == before


def test_a_suite_without_a_provider_is_refused(writer, suite):
    evals.eval_suite_update(prompt=suite, provider="")
    response = writer.client.post(URL, {"candidate_model": CANDIDATE}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_provider"
    assert "provider" in response.json()["error"]["message"]
    assert not EvalRun.objects.exclude(candidate_model="").exists()


def test_a_suite_without_cases_is_refused(writer, suite):
    evals.eval_suite_update(prompt=suite, cases=[])
    response = writer.client.post(URL, {"candidate_model": CANDIDATE}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_cases"


def test_a_prompt_without_versions_has_nothing_to_run(writer, acme, provider):
    from tests.factories import PromptFactory

    PromptFactory(project=acme, name="empty")
    response = writer.client.post("/api/v1/prompts/empty/evals/", {"candidate_model": CANDIDATE}, format="json")
    assert response.status_code == 404
    assert writer.client.get("/api/v1/prompts/empty/evals/candidates").json() == {
        "version": None, "model": None, "candidates": {}
    }


def test_reading_needs_read_and_asking_needs_write(reader, outsider, suite):
    assert reader.client.post(URL, {"candidate_model": CANDIDATE}, format="json").status_code == 403
    # Another project's prompt does not exist for the outsider.
    assert outsider.client.get(URL + "candidates").status_code == 404
    assert outsider.client.post(URL, {"candidate_model": CANDIDATE}, format="json").status_code == 404


def test_the_openapi_schema_documents_candidate_runs(reader):
    schema = reader.client.get("/api/schema/?format=json").json()
    assert "/api/v1/prompts/{name}/evals/candidates" in schema["paths"]
    components = schema["components"]["schemas"]
    assert "candidate_model" in components["EvalRunCreateInputRequest"]["properties"]
    run = components["EvalRunOutput"]["properties"]
    assert {"candidate_model", "candidate", "candidate_status"} <= set(run)
