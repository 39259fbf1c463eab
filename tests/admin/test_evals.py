"""Eval results in the admin: the run beside production's on the version and run
pages, badges and cost per call in the version history, re-runs, and the figures
written out with their units."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from prompts_app.admin import base as admin_base
from prompts_app.admin import display
from prompts_app.admin import evals as admin_evals
from prompts_app.models import EvalCaseResult, EvalRun, Label
from prompts_app.services import library
from tests.admin.conftest import (
    GOOD_OUTPUTS,
    MIXED_OUTPUTS,
    RESULT_INPUT_TOKENS,
    admin_url,
    finished_run,
    version_of,
)

pytestmark = pytest.mark.django_db

GPT_4O_MINI_IN = Decimal("0.15")  # $ per 1M tokens, fixtures/model_prices.json
GPT_4O_MINI_OUT = Decimal("0.60")


def _version_page(client, version, query=""):
    response = client.get(admin_url("promptversion", "change", version.pk) + query)
    assert response.status_code == 200
    return response, response.content.decode()


def _column(page: str, element_id: str) -> str:
    """The HTML of one column of the comparison."""
    start = page.index(f'id="{element_id}"')
    end = page.find("</section>", start)
    return page[start:end]


# --- the version page ------------------------------------------------------------------


def test_the_version_page_shows_the_latest_run_beside_the_production_run(admin_client, prompt, suite):
    library.label_move(prompt=prompt, label="production", version_number=1, actor="ada")
    production_run = finished_run(version_of(prompt, 1), GOOD_OUTPUTS)
    run = finished_run(version_of(prompt, 2), MIXED_OUTPUTS, requested_by="grace")

    response, page = _version_page(admin_client, version_of(prompt, 2))

    compare = response.context["eval_compare"]
    assert (compare["this"]["run"], compare["other"]["run"]) == (run, production_run)
    this, other = _column(page, "eval-this"), _column(page, "eval-production")
    assert f"run #{run.pk}" in this and f"run #{production_run.pk}" in other
    assert "Production: <a" in page

    # Model checks, worked by hand from MIXED_OUTPUTS: 4 calls, "Hi there" misses
    # "Ada" and the second JSON reply is not JSON → 2 passed, 2 failed.
    assert run.status == EvalRun.FAILED
    assert '<td class="pl-counts">2 / 2 / 0</td>' in this
    assert '<td class="pl-pass-rate">50%</td>' in this
    assert '<td class="pl-pass-rate">100%</td>' in other
    # Latencies 300, 400, 300, 400 ms: the median (upper middle) is 400 ms.
    assert '<td class="pl-latency">400 ms</td>' in this
    # Every call costs 20 input tokens at $0.15/1M plus its output tokens at $0.60/1M.
    results = list(EvalCaseResult.objects.filter(run=run))
    total = sum((RESULT_INPUT_TOKENS * GPT_4O_MINI_IN + r.output_tokens * GPT_4O_MINI_OUT) / 10**6 for r in results)
    assert f'<td class="pl-total-cost">{display.money(total)}</td>' in this

    # Static checks and the deltas the run computed against previous and production (both v1 here).
    static = run.summary["static"]
    assert '<td class="pl-cases-rendered">2 of 2</td>' in this
    assert f"{display.money(static['est_cost_per_call'])} / call" in this
    delta = static["compared"]["production"]["delta_est_cost_per_call"]
    assert Decimal(delta) > 0  # v2 is the longer template
    assert f"{display.signed_money(delta)} / call" in this

    # Consistency: json-reply has a format assertion (is_json) that held once in two runs;
    # ada has none, so no format adherence is claimed for it.
    cases = response.context["eval_compare"]["this"]["model"]["cases"]
    assert [(c["name"], c["pass_rate"], c["format_adherence"], c["distinct_outputs"]) for c in cases] == [
        ("ada", "50%", None, 2), ("json-reply", "50%", "50%", 2),
    ]

    # Per-case results with each assertion's verdict and reason.
    assert "✗ contains</strong>: did not find &#x27;Ada&#x27;" in this
    assert "✓ is_json</strong>: valid JSON" in this
    assert "✗ is_json</strong>: not valid JSON" in this
    assert 'data-case="json-reply" data-repeat="2"' in this
    assert "Asked by</dt><dd>grace" in this


def test_a_long_output_is_truncated_with_the_full_text_in_a_details_element(admin_client, prompt, suite):
    long_answer = "Hello Ada! " + "We are here to help. " * 20
    finished_run(version_of(prompt, 2), {**GOOD_OUTPUTS, "ada": [long_answer, "Hello Ada!"]})

    _, page = _version_page(admin_client, version_of(prompt, 2))

    assert f"<pre>{long_answer}</pre>" in page
    assert f"<summary title=\"{long_answer}\">{long_answer[:admin_evals.OUTPUT_PREVIEW_CHARS]}…</summary>" in page


def test_without_a_production_label_the_page_says_so(admin_client, prompt, suite):
    finished_run(version_of(prompt, 2), GOOD_OUTPUTS)

    response, page = _version_page(admin_client, version_of(prompt, 2))

    assert response.context["eval_compare"]["other"] is None
    assert "No production label yet, so there is no production run to compare with." in _column(page, "eval-production")


def test_a_production_version_without_a_finished_run_is_named(admin_client, prompt, suite):
    library.label_move(prompt=prompt, label="production", version_number=1, actor="ada")
    finished_run(version_of(prompt, 2), GOOD_OUTPUTS)
    queued = EvalRun.objects.get(prompt_version=version_of(prompt, 1))  # v1's automatic run, never picked up

    _, page = _version_page(admin_client, version_of(prompt, 2))

    assert f"Production (v1) has no finished eval run yet: run #{queued.pk} is queued." in page


def test_the_comparison_can_switch_to_the_previous_version(admin_client, prompt, suite):
    previous_run = finished_run(version_of(prompt, 1), GOOD_OUTPUTS)
    finished_run(version_of(prompt, 2), MIXED_OUTPUTS)

    response, page = _version_page(admin_client, version_of(prompt, 2), "?compare=previous")

    assert response.context["eval_compare"]["other"]["run"] == previous_run
    assert f"run #{previous_run.pk}" in _column(page, "eval-previous")


def test_the_production_version_itself_is_compared_with_its_own_earlier_run(admin_client, prompt, suite):
    library.label_move(prompt=prompt, label="production", version_number=2, actor="ada")
    earlier = finished_run(version_of(prompt, 2), GOOD_OUTPUTS)
    latest = finished_run(version_of(prompt, 2), MIXED_OUTPUTS)

    response, _ = _version_page(admin_client, version_of(prompt, 2))

    compare = response.context["eval_compare"]
    assert (compare["this"]["run"], compare["other"]["run"]) == (latest, earlier)


def test_a_queued_run_shows_what_is_known_so_far(admin_client, prompt):
    # The fixture's versions were made before any suite: their runs are queued, with no cases.
    _, page = _version_page(admin_client, version_of(prompt, 2))

    assert "pl-status-queued" in page
    assert "Not computed yet: the run is queued." in page


def test_figures_are_written_with_their_units(admin_client, prompt):
    """A run row with a hand-written summary, in the shapes evals.py writes."""
    now = timezone.now()
    run = EvalRun.objects.create(
        prompt_version=version_of(prompt, 2), trigger=EvalRun.TRIGGER_MANUAL, requested_by="grace",
        status=EvalRun.PASSED, repeats=3, started_at=now - dt.timedelta(seconds=12.5), finished_at=now,
        cases=[{"name": "ada", "variables": {}, "expected_output": "", "assertions": []}],
        provider={"name": "openai", "model": "gpt-4o-mini", "base_url": "https://api.openai.com/v1"},
        summary={
            "static": {
                "version": 2, "model": "gpt-4o-mini", "priced": True,
                "cases": [{"name": "ada", "renders": True, "input_tokens": 812}],
                "cases_rendered": 1, "render_failures": 0,
                "avg_input_tokens": "812.50", "est_cost_per_call": "0.0004630000",
                "compared": {
                    "previous": {"version": 1, "avg_input_tokens": "800.00", "est_cost_per_call": "0.0004510000",
                                 "delta_avg_input_tokens": "12.50", "delta_est_cost_per_call": "0.0000120000"},
                    "production": None,
                },
            },
            "model": {
                "calls": 3, "passed": 2, "failed": 1, "errors": 0, "pass_rate": "0.6667",
                "total_cost": "0.0012345000", "avg_input_tokens": "812.50", "avg_output_tokens": "40.00",
                "median_latency_ms": 1234,
                "cases": [{"name": "ada", "runs": 3, "passed": 2, "pass_rate": "0.6667",
                           "format_adherence": "1.0000", "distinct_outputs": 2}],
            },
        },
    )

    response = admin_client.get(admin_url("evalrun", "change", run.pk))
    this = _column(response.content.decode(), "eval-this")

    assert "$0.000463 / call" in this
    assert "+$0.000012 / call, +12.50 tokens" in this
    assert "v1: $0.000451 / call, 800.00 tokens" in this
    assert "no production label" in this
    assert '<td class="pl-avg-tokens">812.50 tokens</td>' in this
    assert '<td class="pl-pass-rate">66.67%</td>' in this
    assert '<td class="pl-latency">1,234 ms</td>' in this
    assert '<td class="pl-total-cost">$0.001235</td>' in this
    assert "<td>100%</td>" in this and "<td>2 of 3</td>" in this
    assert "(12.5 s)" in this
    assert "openai (gpt-4o-mini)" in this


@pytest.mark.parametrize(
    ("value", "money", "signed"),
    [
        ("0.0004630000", "$0.000463", "+$0.000463"),
        ("-0.0000500000", "-$0.00005", "-$0.00005"),
        ("0E-10", "$0.00", "±$0.00"),
        ("1600", "$1,600.00", "+$1,600.00"),
        (Decimal("2.5"), "$2.50", "+$2.50"),
        (None, None, None),
    ],
)
def test_money_is_written_in_full_with_its_sign(value, money, signed):
    assert display.money(value) == money
    assert display.signed_money(value) == signed


def test_rates_and_latencies_have_units():
    assert display.percent("0.7500") == "75%"
    assert display.percent("0.6667") == "66.67%"
    assert display.percent("1.0000") == "100%"
    assert display.percent(None) is None
    assert display.milliseconds(12345) == "12,345 ms"
    assert display.token_count("-3.50", signed=True) == "-3.50 tokens"


def test_a_static_only_run_explains_why_there_are_no_model_checks(admin_client, prompt):
    from prompts_app.services import evals

    evals.eval_suite_update(prompt=prompt, cases=[{"name": "ada", "variables": {"name": "Ada", "company": "Acme"}}])
    run = evals.eval_run_request(version=version_of(prompt, 2), requested_by="ada")
    evals.eval_run_start(run_id=run.pk)
    run = evals.eval_run_finalize(run_id=run.pk)

    page = admin_client.get(admin_url("evalrun", "change", run.pk)).content.decode()

    assert run.status == "rendered"
    assert "Rendered, not graded: the suite has no model provider" in page
    # No model named anywhere, so no cost can be estimated, and the page says why.
    assert "no model" in page and "Name a model in the version&#x27;s model config" in page


def test_a_render_failure_is_shown_with_its_reason(admin_client, prompt, suite):
    from prompts_app.services import evals

    evals.eval_suite_update(prompt=prompt, cases=[{"name": "nameless", "variables": {"company": "Acme"}}])
    run = finished_run(version_of(prompt, 2), {"nameless": ["Hello!", "Hello!"]})

    page = admin_client.get(admin_url("evalrun", "change", run.pk)).content.decode()

    assert run.status == EvalRun.FAILED
    assert '<td class="pl-cases-rendered">0 of 1</td>' in page
    assert "Case <strong>nameless</strong> does not render:" in page and "name" in page


# --- the version history -----------------------------------------------------------------


def _history_row(page: str, number: int) -> str:
    start = page.index(f'data-version="{number}"')
    return page[start:page.index("</tr>", start)]


def test_the_version_list_shows_status_badges_and_cost_per_call(admin_client, prompt, suite):
    run = finished_run(version_of(prompt, 2), MIXED_OUTPUTS)

    page = admin_client.get(admin_url("prompt", "change", prompt.pk)).content.decode()

    v2, v1 = _history_row(page, 2), _history_row(page, 1)
    run_url = admin_url("evalrun", "change", run.pk)
    assert f'<a class="pl-status pl-status-failed" href="{run_url}"' in v2
    assert f">{display.money(run.summary['static']['est_cost_per_call'])} / call</span>" in v2
    # v1's automatic run was never picked up: queued, and no cost estimated yet.
    assert 'class="pl-status pl-status-queued"' in v1
    assert '<td class="pl-cost-cell nowrap">—</td>' in v1


def test_a_queued_rerun_keeps_showing_the_last_estimated_cost(admin_client, prompt, suite):
    run = finished_run(version_of(prompt, 2), GOOD_OUTPUTS)
    admin_client.post(admin_url("promptversion", "rerun", version_of(prompt, 2).pk))

    v2 = _history_row(admin_client.get(admin_url("prompt", "change", prompt.pk)).content.decode(), 2)

    assert "pl-status-queued" in v2
    assert f"{display.money(run.summary['static']['est_cost_per_call'])} / call" in v2


def test_the_version_changelist_shows_the_same_badges_and_costs(admin_client, prompt, suite):
    run = finished_run(version_of(prompt, 2), GOOD_OUTPUTS)

    page = admin_client.get(admin_url("promptversion", "changelist")).content.decode()

    assert f'<a class="pl-status pl-status-passed" href="{admin_url("evalrun", "change", run.pk)}"' in page
    assert f"{display.money(run.summary['static']['est_cost_per_call'])} / call" in page


def test_an_unpriced_model_says_so_instead_of_a_cost(admin_client, prompt, suite, provider):
    provider.model = "my-local-llama"
    provider.save()
    from prompts_app.services import evals

    evals.eval_suite_update(prompt=prompt, provider="fake")  # the suite snapshot takes the new model
    finished_run(version_of(prompt, 2), {"ada": ["Hello Ada!"] * 2, "json-reply": ["{}"] * 2})

    v2 = _history_row(admin_client.get(admin_url("prompt", "change", prompt.pk)).content.decode(), 2)

    assert "not priced" in v2 and "my-local-llama has no price in this project&#x27;s price sheet" in v2


# --- re-runs ----------------------------------------------------------------------------------


def test_rerun_creates_a_manual_run_by_the_admin_user_and_redirects_to_it(admin_client, prompt, suite):
    version = version_of(prompt, 2)

    response = admin_client.post(admin_url("promptversion", "rerun", version.pk))

    run = EvalRun.objects.filter(prompt_version=version).order_by("-id").first()
    assert (run.trigger, run.requested_by, run.status) == (EvalRun.TRIGGER_MANUAL, "admin", EvalRun.QUEUED)
    assert [case["name"] for case in run.cases] == ["ada", "json-reply"]  # the suite as it is now
    assert run.provider["name"] == "fake" and run.repeats == 2
    assert response.status_code == 302
    assert response["Location"] == admin_url("evalrun", "change", run.pk)
    page = admin_client.get(response["Location"]).content.decode()
    assert f"Queued eval run #{run.pk} of greeting v2." in page
    assert "Still queued" in page


def test_the_rerun_button_posts_with_a_csrf_token_from_both_pages(admin_client, prompt, suite):
    version = version_of(prompt, 2)
    run = finished_run(version, GOOD_OUTPUTS)
    action = f'action="{admin_url("promptversion", "rerun", version.pk)}"'

    for url in (admin_url("promptversion", "change", version.pk), admin_url("evalrun", "change", run.pk)):
        page = admin_client.get(url).content.decode()
        form = page[page.index(action) - 60:]
        form = form[:form.index("</form>")]
        assert 'method="post"' in form and 'name="csrfmiddlewaretoken"' in form and "Re-run evals" in form


def test_rerun_needs_a_post(admin_client, prompt):
    version = version_of(prompt, 2)
    before = EvalRun.objects.count()

    assert admin_client.get(admin_url("promptversion", "rerun", version.pk)).status_code == 405
    assert EvalRun.objects.count() == before


def test_rerun_needs_the_right_to_change_prompts(client, django_user_model, prompt):
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(*Permission.objects.filter(codename__in=["view_promptversion", "view_evalrun"]))
    client.force_login(viewer)
    version = version_of(prompt, 2)
    before = EvalRun.objects.count()

    assert client.post(admin_url("promptversion", "rerun", version.pk)).status_code == 403
    assert EvalRun.objects.count() == before
    page = client.get(admin_url("promptversion", "change", version.pk)).content.decode()
    assert "Re-run evals" not in page  # no button for what would be refused


# --- promotion ---------------------------------------------------------------------------------


def test_a_refused_promotion_names_the_failed_eval_run(admin_client, prompt, suite):
    library.prompt_update(prompt=prompt, protect_production=True)
    run = finished_run(version_of(prompt, 2), MIXED_OUTPUTS)

    response = admin_client.post(admin_url("prompt", "promote", prompt.pk),
                                 {"version": "2", "label": "production", "reason": ""})

    assert response.status_code == 200
    page = response.content.decode()
    assert f"the latest eval run of version 2 (#{run.pk}) is failed, not passed." in page
    assert f'<a class="pl-status pl-status-failed" href="{admin_url("evalrun", "change", run.pk)}"' in page
    assert not Label.objects.filter(prompt=prompt).exists()


def test_a_version_whose_latest_run_passed_is_promoted_past_the_gate(admin_client, prompt, suite):
    library.prompt_update(prompt=prompt, protect_production=True)
    finished_run(version_of(prompt, 2), GOOD_OUTPUTS)

    response = admin_client.post(admin_url("prompt", "promote", prompt.pk),
                                 {"version": "2", "label": "production", "reason": ""})

    assert response.status_code == 302
    assert Label.objects.get(prompt=prompt, name="production").version.number == 2


# --- the run list --------------------------------------------------------------------------------


def test_the_run_list_filters_by_prompt_and_shows_status_and_pass_rate(admin_client, prompt, suite, chat_prompt):
    run = finished_run(version_of(prompt, 2), MIXED_OUTPUTS)

    response = admin_client.get(admin_base.eval_runs_url(prompt))

    assert response.status_code == 200
    runs = list(response.context["cl"].result_list)
    assert run in runs and all(r.prompt_version.prompt_id == prompt.pk for r in runs)
    page = response.content.decode()
    assert "pl-status-failed" in page and "50%" in page


def test_eval_runs_and_results_are_read_only(admin_client, prompt, suite):
    run = finished_run(version_of(prompt, 2), GOOD_OUTPUTS)
    result = run.results.first()

    assert admin_client.get(admin_url("evalrun", "add")).status_code == 403
    assert admin_client.post(admin_url("evalrun", "change", run.pk), {"status": "passed"}).status_code == 403
    assert admin_client.get(admin_url("evalrun", "delete", run.pk)).status_code == 403
    assert admin_client.get(admin_url("evalcaseresult", "add")).status_code == 403
    assert admin_client.post(admin_url("evalcaseresult", "change", result.pk), {"status": "failed"}).status_code == 403
    assert admin_client.get(admin_url("evalcaseresult", "delete", result.pk)).status_code == 403
    page = admin_client.get(admin_url("evalcaseresult", "change", result.pk)).content.decode()
    assert "✓</strong> contains: found &#x27;Ada&#x27;" in page
    result.refresh_from_db()
    assert result.status == EvalCaseResult.PASSED
