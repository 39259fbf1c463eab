"""The admin's candidate models: the form on the eval suite's page (POST, then
back to the page), the "Candidate models" table, the run page's comparison, and
the version's own badges, which candidate runs never change."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from prompts_app.models import EvalRun, EvalSuite
from prompts_app.services import evals, library
from tests.evals.conftest import CANDIDATE, CASES, GOOD_REPLIES, OWN_MODEL, WORSE_REPLIES, new_version
from tests.evals.test_candidate_api import carry_through

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def suite(ask, provider, prices, fake_openai) -> EvalSuite:
    """ask v1 in production, graded on its own model with every answer good."""
    suite = evals.eval_suite_update(prompt=ask, provider="fake", cases=CASES)
    fake_openai.replies.update(GOOD_REPLIES)
    carry_through(EvalRun.objects.get(prompt_version=new_version(ask)))
    library.label_move(prompt=ask, label="production", version_number=1, reason="launch", actor="ada")
    return suite


def suite_url(suite) -> str:
    return reverse("admin:prompts_app_evalsuite_change", args=[suite.pk])


def run_url(suite) -> str:
    return reverse("admin:prompts_app_evalsuite_candidate_run", args=[suite.pk])


def section(response) -> str:
    html = response.content.decode()
    return html[html.index('id="candidates"'):]


def test_the_form_offers_the_price_sheet_without_the_current_model(admin_client, suite):
    response = admin_client.get(suite_url(suite))
    assert response.status_code == 200
    options = response.context["candidates"]["form"].fields["model"].choices
    names = [value for value, _ in options]
    assert CANDIDATE in names and "gpt-4o-mini" in names
    assert OWN_MODEL not in names
    html = section(response)
    assert "Run this suite on a candidate model" in html
    assert "No candidate model has run on this suite yet" in html
    assert f"its own model <strong>{OWN_MODEL}</strong>" in html


def test_a_chosen_model_is_queued_and_listed(admin_client, suite):
    response = admin_client.post(run_url(suite), {"candidate-model": CANDIDATE, "candidate-other_model": ""})
    assert response.status_code == 302
    assert response.url == suite_url(suite) + "#candidates"
    run = EvalRun.objects.get(candidate_model=CANDIDATE)
    assert run.prompt_version.number == 1 and run.requested_by == "admin"
    page = admin_client.get(response.url)
    messages = [str(m) for m in page.context["messages"]]
    assert any(f"Queued eval run #{run.pk}" in m for m in messages)
    row = re.search(r'<tr class="pl-candidate-row" data-model="cand-model" data-status="(\w+)"', section(page))
    assert row and row.group(1) == "running"


def test_a_typed_model_is_queued(admin_client, suite):
    response = admin_client.post(run_url(suite), {"candidate-model": "", "candidate-other_model": " my-llm "})
    assert response.status_code == 302
    assert EvalRun.objects.filter(candidate_model="my-llm").exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"candidate-model": "", "candidate-other_model": ""}, "Choose a candidate model"),
        ({"candidate-model": CANDIDATE, "candidate-other_model": "other"}, "not both"),
        ({"candidate-model": "", "candidate-other_model": OWN_MODEL}, "is the model v1 already uses"),
        ({"candidate-model": "", "candidate-other_model": "x" * 201}, "at most 200 characters"),
        ({"candidate-model": "not-on-the-sheet", "candidate-other_model": ""}, "Select a valid choice"),
    ],
)
def test_a_bad_choice_is_said_and_nothing_is_queued(admin_client, suite, data, message):
    response = admin_client.post(run_url(suite), data, follow=True)
    assert response.redirect_chain == [(suite_url(suite) + "#candidates", 302)]
    errors = [str(m) for m in response.context["messages"] if m.level_tag == "error"]
    assert any(message in m for m in errors), errors
    assert not EvalRun.objects.exclude(candidate_model="").exists()


def test_a_suite_without_provider_says_why_it_cannot_run(admin_client, suite):
    evals.eval_suite_update(prompt=suite.prompt, provider="")
    html = section(admin_client.get(suite_url(suite)))
    assert "The suite has no provider" in html and 'id="candidate-form"' not in html
    response = admin_client.post(run_url(suite), {"candidate-model": CANDIDATE}, follow=True)
    assert any("no model provider" in str(m) for m in response.context["messages"])
    assert not EvalRun.objects.exclude(candidate_model="").exists()


def test_the_endpoint_is_post_only_and_needs_the_right_to_change(client, admin_client, suite, django_user_model):
    assert admin_client.get(run_url(suite)).status_code == 405
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(*Permission.objects.filter(codename__in=["view_evalsuite", "view_prompt"]))
    client.force_login(viewer)
    assert client.post(run_url(suite), {"candidate-model": CANDIDATE}).status_code == 403
    assert 'id="candidate-form"' not in section(client.get(suite_url(suite)))
    assert not EvalRun.objects.exclude(candidate_model="").exists()


def test_the_table_and_the_run_page_compare_with_the_current_model(admin_client, suite, fake_openai):
    fake_openai.replies.update(WORSE_REPLIES)
    admin_client.post(run_url(suite), {"candidate-model": CANDIDATE})
    run = carry_through(EvalRun.objects.get(candidate_model=CANDIDATE))
    html = section(admin_client.get(suite_url(suite)))
    row = html[html.index('data-model="cand-model"'):html.index("</tr>", html.index('data-model="cand-model"'))]
    assert 'data-status="failed"' in row and ">failed</span>" in row
    assert "75% <span class=\"help\">vs 100%</span>" in row
    assert "66.67% <span class=\"help\">vs 100%</span>" in row
    assert "$0.00001 <span class=\"help\">vs $0.000005875</span>" in row

    page = admin_client.get(reverse("admin:prompts_app_evalrun_change", args=[run.pk]))
    assert page.context["title"] == f"Eval run #{run.pk} of ask v1 on candidate model {CANDIDATE}"
    html = page.content.decode()
    block = html[html.index('id="candidate"'):html.index('id="evals"')]
    assert f"<strong>{OWN_MODEL}</strong>" in block and ">failed</span>" in block
    assert '<td class="pl-candidate-pass-rate">75%</td><td>100%</td>' in block
    assert '<td class="pl-candidate-cost">$0.00001</td><td>$0.000005875</td>' in block


def test_candidate_runs_never_stand_for_their_version(admin_client, suite, fake_openai):
    fake_openai.replies.update(WORSE_REPLIES)
    own = carry_through(evals.eval_run_request(version=suite.prompt.versions.get(number=1)))
    assert own.status == "failed"
    fake_openai.replies.update(GOOD_REPLIES)
    candidate = carry_through(evals.eval_run_request_candidate(
        version=suite.prompt.versions.get(number=1), model=CANDIDATE))
    assert candidate.status == "passed"

    status = admin_client.get(reverse("admin:prompts_app_evalrun_status") + f"?prompt={suite.prompt.pk}").json()
    assert status["versions"]["1"]["run"] == own.pk and status["versions"]["1"]["status"] == "failed"
    prompt_page = admin_client.get(reverse("admin:prompts_app_prompt_change", args=[suite.prompt.pk]))
    (row,) = prompt_page.context["version_rows"]
    assert row["eval"]["run"] == own
    version_page = admin_client.get(reverse("admin:prompts_app_promptversion_change",
                                            args=[own.prompt_version.pk]))
    assert version_page.context["eval_badge"]["run"] == own
    assert candidate.pk not in [badge["run"].pk for badge in version_page.context["eval_history"]]
    suite_page = admin_client.get(suite_url(suite))
    assert candidate.pk not in [badge["run"].pk for badge in suite_page.context["recent_runs"]]


def test_the_version_list_shows_the_versions_own_run(admin_client, suite, fake_openai):
    fake_openai.replies.update(WORSE_REPLIES)
    own = carry_through(evals.eval_run_request(version=suite.prompt.versions.get(number=1)))
    fake_openai.replies.update(GOOD_REPLIES)
    candidate = carry_through(evals.eval_run_request_candidate(
        version=suite.prompt.versions.get(number=1), model=CANDIDATE))
    html = admin_client.get(reverse("admin:prompts_app_promptversion_changelist")).content.decode()
    assert f'data-pl-run="{own.pk}"' in html
    assert f'data-pl-run="{candidate.pk}"' not in html
