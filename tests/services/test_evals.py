"""Eval runs on a real Celery worker (Redis broker), against a local server that
speaks the OpenAI Chat Completions wire format."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from prompts_app.models import EvalCaseResult, EvalRun, Prompt, PromptVersion, Provider
from prompts_app.services import evals, library
from tests.factories import PromptFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def wait_for_run(run_id: int, timeout: float = 60.0) -> EvalRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = EvalRun.objects.get(pk=run_id)
        if run.is_finished:
            return run
        time.sleep(0.1)
    raise AssertionError(
        f"eval run {run_id} still {EvalRun.objects.get(pk=run_id).status} after {timeout} s"
    )


def only_run_of(version: PromptVersion) -> EvalRun:
    runs = list(EvalRun.objects.filter(prompt_version=version))
    assert len(runs) == 1, runs
    return wait_for_run(runs[0].pk)


@pytest.fixture
def provider(acme, fake_openai):
    return Provider.objects.create(
        project=acme,
        name="fake",
        base_url=fake_openai.base_url,
        model="gpt-4o-mini",
        timeout_seconds=2.0,
        max_retries=3,
    )


@pytest.fixture
def greet(acme):
    return PromptFactory(project=acme, name="greet", kind=Prompt.KIND_TEXT)


def new_version(prompt, template, **kwargs):
    return library.prompt_version_create(
        prompt=prompt, template=template, author="tester", **kwargs
    )


def test_a_new_version_gets_exactly_one_run_with_static_checks(celery_worker, writer, greet):
    evals.eval_suite_update(
        prompt=greet,
        cases=[
            {
                "name": "ada",
                "variables": {"name": "Ada"},
                "expected_output": "Hello Ada, how can I help?",
            },
            {"name": "bo", "variables": {"name": "Bo"}},
        ],
    )
    new_version(greet, "Hi {{ name }}", model_config={"model": "gpt-4o-mini"})
    response = writer.client.post(
        "/api/v1/prompts/greet/versions/",
        {"template": "Hello there {{ name }}, welcome!", "model_config": {"model": "gpt-4o-mini"}},
        format="json",
    )
    assert response.status_code == 201
    v2 = PromptVersion.objects.get(prompt=greet, number=2)
    run = only_run_of(v2)

    assert run.status == EvalRun.RENDERED  # no provider: rendered, not graded
    assert run.trigger == EvalRun.TRIGGER_AUTO
    static = run.summary["static"]
    assert [c["name"] for c in static["cases"]] == ["ada", "bo"]
    assert static["render_failures"] == 0
    # "Hello there Ada, welcome!" = 6 tokens, "... Bo, ..." = 6: mean 6.00;
    # expected outputs: 8 tokens and 0 → mean 4. gpt-4o-mini: $0.15 in, $0.60 out per 1M.
    assert static["avg_input_tokens"] == "6.00"
    assert (
        Decimal(static["est_cost_per_call"])
        == (Decimal(6) * Decimal("0.15") + Decimal(4) * Decimal("0.6")) / 10**6
    )
    previous = static["compared"]["previous"]
    assert previous["version"] == 1
    assert previous["avg_input_tokens"] == "2.00"  # "Hi", " Ada" / "Hi", " Bo"
    assert previous["delta_avg_input_tokens"] == "4.00"
    assert static["compared"]["production"] is None
    assert run.summary["note"].startswith("rendered, not graded")


def test_a_template_that_fails_to_render_a_case_fails_the_run(celery_worker, greet):
    evals.eval_suite_update(prompt=greet, cases=[{"name": "no-vars", "variables": {}}])
    version = new_version(greet, "Hi {{ name }}")
    run = only_run_of(version)
    assert run.status == EvalRun.FAILED
    assert run.summary["static"]["cases"][0]["renders"] is False
    assert "name" in run.summary["static"]["cases"][0]["error"]


def test_every_assertion_kind_passes_and_fails_against_the_model(
    celery_worker, greet, provider, fake_openai
):
    fake_openai.replies["json please"] = '{"total": 12.5, "currency": "EUR"}'
    fake_openai.replies["prose please"] = "The total is twelve euros."
    # The grader sees the rubric prompt; its system message maps to a fixed grade.
    from prompts_app.lib.assertions import RUBRIC_SYSTEM

    fake_openai.replies[RUBRIC_SYSTEM] = "SCORE: 2 - misses the total."
    schema = {
        "type": "object",
        "required": ["total", "currency"],
        "properties": {"total": {"type": "number"}},
    }
    all_kinds = [
        {"type": "contains", "value": "total"},
        {"type": "not_contains", "value": "sorry"},
        {"type": "equals"},
        {"type": "regex", "pattern": r"\d+\.\d"},
        {"type": "is_json"},
        {"type": "json_schema", "schema": schema},
        {"type": "max_tokens", "value": 15},
    ]
    evals.eval_suite_update(
        prompt=greet,
        provider="fake",
        cases=[
            {
                "name": "good",
                "variables": {"ask": "json please"},
                "expected_output": '{"total": 12.5, "currency": "EUR"}',
                "assertions": all_kinds,
            },
            {
                "name": "bad",
                "variables": {"ask": "prose please"},
                "expected_output": '{"total": 12.5}',
                "assertions": [
                    *all_kinds[:3],
                    all_kinds[3],
                    all_kinds[4],
                    all_kinds[5],
                    {"type": "max_tokens", "value": 2},
                    {"type": "not_contains", "value": "twelve"},
                    {"type": "rubric", "rubric": "States the numeric total.", "min_score": 4},
                ],
            },
        ],
    )
    version = new_version(greet, "{{ ask }}", model_config={"model": "gpt-4o-mini"})
    run = only_run_of(version)

    results = {r.case_name: r for r in run.results.all()}
    good = {a["type"]: a["passed"] for a in results["good"].assertions}
    assert good == {t["type"]: True for t in all_kinds}
    assert results["good"].status == EvalCaseResult.PASSED
    bad = [(a["type"], a["passed"]) for a in results["bad"].assertions]
    assert bad == [
        ("contains", True),
        ("not_contains", True),
        ("equals", False),
        ("regex", False),
        ("is_json", False),
        ("json_schema", False),
        ("max_tokens", False),
        ("not_contains", False),
        ("rubric", False),
    ]
    assert results["bad"].assertions[-1]["score"] == 2.0
    assert run.status == EvalRun.FAILED
    model = run.summary["model"]
    assert (model["calls"], model["passed"], model["failed"], model["errors"]) == (2, 1, 1, 0)
    # Usage the provider reported, priced at gpt-4o-mini's list price.
    good_result = results["good"]
    assert good_result.output_tokens == 4 and good_result.input_tokens == 6
    assert good_result.cost == (Decimal(6) * Decimal("0.15") + Decimal(4) * Decimal("0.6")) / 10**6


def test_repeats_measure_consistency(celery_worker, greet, provider, fake_openai):
    fake_openai.sequences["q"] = ['{"a": 1}', '{"a": 1}', "not json"]
    evals.eval_suite_update(
        prompt=greet,
        provider="fake",
        repeats=3,
        cases=[{"name": "q", "variables": {"ask": "q"}, "assertions": [{"type": "is_json"}]}],
    )
    run = only_run_of(new_version(greet, "{{ ask }}"))
    case = run.summary["model"]["cases"][0]
    assert case == {
        "name": "q",
        "runs": 3,
        "passed": 2,
        "pass_rate": "0.6667",
        "format_adherence": "0.6667",
        "distinct_outputs": 2,
    }
    assert run.status == EvalRun.FAILED
    assert EvalCaseResult.objects.filter(run=run).count() == 3


def test_provider_429s_are_retried_then_succeed(celery_worker, greet, provider, fake_openai):
    fake_openai.fail_next(2, status=429)
    evals.eval_suite_update(
        prompt=greet, provider="fake", cases=[{"name": "a", "variables": {"ask": "hi"}}]
    )
    run = only_run_of(new_version(greet, "{{ ask }}"))
    assert run.status == EvalRun.PASSED
    assert len(fake_openai.requests) == 3
    assert run.results.get().output == "echo: hi"


def test_a_provider_that_keeps_failing_ends_the_run_as_error(
    celery_worker, greet, provider, fake_openai
):
    fake_openai.fail_always(status=500)
    evals.eval_suite_update(
        prompt=greet, provider="fake", cases=[{"name": "a", "variables": {"ask": "hi"}}]
    )
    run = only_run_of(new_version(greet, "{{ ask }}"))
    assert run.status == EvalRun.ERROR
    assert "HTTP 500" in run.error and "Gave up after 4 attempts" in run.error
    assert len(fake_openai.requests) == 4


def test_a_slow_provider_times_out_into_an_error(celery_worker, greet, provider, fake_openai):
    provider.timeout_seconds = 0.3
    provider.max_retries = 1
    provider.save()
    fake_openai.slow_seconds = 1.0
    evals.eval_suite_update(
        prompt=greet, provider="fake", cases=[{"name": "a", "variables": {"ask": "hi"}}]
    )
    run = only_run_of(new_version(greet, "{{ ask }}"))
    assert run.status == EvalRun.ERROR
    assert "did not answer within 0.3 s" in run.error


def test_a_malformed_answer_is_retried(celery_worker, greet, provider, fake_openai):
    fake_openai.malformed_next(1)
    evals.eval_suite_update(
        prompt=greet, provider="fake", cases=[{"name": "a", "variables": {"ask": "hi"}}]
    )
    run = only_run_of(new_version(greet, "{{ ask }}"))
    assert run.status == EvalRun.PASSED
    assert len(fake_openai.requests) == 2


def test_redelivered_tasks_never_duplicate_results(celery_worker, greet, provider, fake_openai):
    from prompts_app import tasks

    evals.eval_suite_update(
        prompt=greet,
        provider="fake",
        repeats=2,
        cases=[
            {"name": "a", "variables": {"ask": "one"}},
            {"name": "b", "variables": {"ask": "two"}},
        ],
    )
    run = only_run_of(new_version(greet, "{{ ask }}"))
    calls_before = len(fake_openai.requests)
    # The same messages delivered again, through the broker and in-process.
    tasks.eval_run_execute.delay(run_id=run.pk)
    tasks.eval_case_execute.delay(run_id=run.pk, case_name="a", repeat_index=0)
    tasks.eval_case_execute(run_id=run.pk, case_name="b", repeat_index=1)
    time.sleep(1.5)
    assert EvalCaseResult.objects.filter(run=run).count() == 4
    assert len(fake_openai.requests) == calls_before


def test_a_case_task_that_runs_twice_before_either_stores_keeps_one_result(
    greet, provider, fake_openai
):
    evals.eval_suite_update(
        prompt=greet, provider="fake", cases=[{"name": "a", "variables": {"ask": "x"}}]
    )
    version = new_version(greet, "{{ ask }}")
    # A run of our own, never enqueued: the module's worker must not finish it first.
    auto = EvalRun.objects.get(prompt_version=version)
    run = EvalRun.objects.create(
        prompt_version=version, trigger=EvalRun.TRIGGER_MANUAL, cases=auto.cases,
        provider=auto.provider, repeats=1,
    )
    evals.eval_run_start(run_id=run.pk)
    first = evals.eval_case_execute(run_id=run.pk, case_name="a", repeat_index=0)
    second = evals.eval_case_execute(run_id=run.pk, case_name="a", repeat_index=0)
    assert first.pk == second.pk
    assert EvalCaseResult.objects.filter(run=run).count() == 1


def test_rerun_through_the_api(celery_worker, writer, greet):
    new_version(greet, "Hi {{ name }}")
    response = writer.client.post("/api/v1/prompts/greet/evals/", {"version": 1}, format="json")
    assert response.status_code == 202
    rerun = wait_for_run(response.json()["id"])
    assert rerun.trigger == EvalRun.TRIGGER_MANUAL
    assert rerun.requested_by == "api-key:writer"
    listed = writer.client.get("/api/v1/prompts/greet/evals/?version=1").json()["results"]
    assert len(listed) == 2
    detail = writer.client.get(f"/api/v1/evals/{rerun.pk}/").json()
    assert detail["status"] == "no_cases" and detail["version"] == 1 and detail["results"] == []


def test_runs_left_behind_by_a_lost_message_are_swept_up(celery_worker, greet):
    import datetime as dt

    from django.utils import timezone

    version = new_version(greet, "Hi {{ name }}")
    run = EvalRun.objects.get(prompt_version=version)
    wait_for_run(run.pk)
    # A run whose message never reached the broker:
    lost = EvalRun.objects.create(
        prompt_version=version,
        trigger=EvalRun.TRIGGER_MANUAL,
        created_at=timezone.now() - dt.timedelta(minutes=2),
    )
    report = evals.eval_runs_sweep()
    assert report["enqueued"] == 1
    assert wait_for_run(lost.pk).status == EvalRun.NO_CASES


class TestProductionGate:
    def protected_with_versions(self, greet, provider, fake_openai):
        greet.protect_production = True
        greet.save()
        fake_openai.replies["good"] = "fine"
        evals.eval_suite_update(
            prompt=greet,
            provider="fake",
            cases=[
                {
                    "name": "a",
                    "variables": {"ask": "good"},
                    "assertions": [{"type": "equals", "value": "fine"}],
                }
            ],
        )
        only_run_of(new_version(greet, "{{ ask }}"))  # v1 passes
        only_run_of(new_version(greet, "Say: {{ ask }}"))  # v2 fails: "echo: Say: good"

    def test_refuses_a_version_whose_run_did_not_pass(
        self, celery_worker, writer, greet, provider, fake_openai
    ):
        self.protected_with_versions(greet, provider, fake_openai)
        ok = writer.client.put(
            "/api/v1/prompts/greet/labels/production", {"version": 1}, format="json"
        )
        assert ok.status_code == 200
        refused = writer.client.put(
            "/api/v1/prompts/greet/labels/production", {"version": 2}, format="json"
        )
        assert refused.status_code == 409
        error = refused.json()["error"]
        assert error["code"] == "promotion_refused"
        assert "failed, not passed" in error["message"]
        assert writer.client.get("/api/v1/prompts/greet/resolve").json()["version"] == 1
        # Other labels are not gated.
        staging = writer.client.put(
            "/api/v1/prompts/greet/labels/staging", {"version": 2}, format="json"
        )
        assert staging.status_code == 200

    def test_a_forced_move_needs_a_reason_and_is_recorded(
        self, celery_worker, writer, greet, provider, fake_openai
    ):
        self.protected_with_versions(greet, provider, fake_openai)
        no_reason = writer.client.put(
            "/api/v1/prompts/greet/labels/production", {"version": 2, "force": True}, format="json"
        )
        assert no_reason.status_code == 400
        assert no_reason.json()["error"]["field"] == "reason"
        forced = writer.client.put(
            "/api/v1/prompts/greet/labels/production",
            {"version": 2, "force": True, "reason": "hotfix: legal asked for the new wording"},
            format="json",
        )
        assert forced.status_code == 200
        move = forced.json()["history"][0]
        assert move["forced"] is True
        assert move["reason"] == "hotfix: legal asked for the new wording"
        assert move["to_version"] == 2

    def test_a_run_that_only_rendered_does_not_open_a_protected_production(
        self, celery_worker, writer, greet
    ):
        greet.protect_production = True
        greet.save()
        evals.eval_suite_update(prompt=greet, cases=[{"name": "a", "variables": {"x": "1"}}])
        run = only_run_of(new_version(greet, "{{ x }}"))
        assert run.status == EvalRun.RENDERED
        refused = writer.client.put(
            "/api/v1/prompts/greet/labels/production", {"version": 1}, format="json"
        )
        assert refused.status_code == 409
        error = refused.json()["error"]
        assert error["code"] == "promotion_refused"
        assert "nothing was graded" in error["message"]
        assert "Add a provider" in error["message"]

    def test_an_empty_suite_does_not_open_a_protected_production(
        self, celery_worker, writer, greet, provider
    ):
        greet.protect_production = True
        greet.save()
        evals.eval_suite_update(prompt=greet, provider="fake", cases=[])
        run = only_run_of(new_version(greet, "{{ x }}"))
        assert run.status == EvalRun.NO_CASES
        assert run.summary["note"].startswith("no cases")
        refused = writer.client.put(
            "/api/v1/prompts/greet/labels/production", {"version": 1}, format="json"
        )
        assert refused.status_code == 409
        assert "had no cases" in refused.json()["error"]["message"]

    def test_a_version_without_a_run_is_refused(self, writer, greet):
        greet.protect_production = True
        greet.save()
        version = new_version(greet, "x")
        EvalRun.objects.filter(prompt_version=version).delete()
        refused = writer.client.put(
            "/api/v1/prompts/greet/labels/production", {"version": 1}, format="json"
        )
        assert refused.status_code == 409
        assert "has no eval run" in refused.json()["error"]["message"]
