"""Honest eval outcomes in the admin ("rendered, not graded", "no cases" never
look like "passed"), the read-only status endpoint the pages poll, the promote
page's panel for a chosen version, and saving a suite with a re-run as one
service call."""

from __future__ import annotations

import pytest

from prompts_app.admin import display
from prompts_app.errors import DomainError
from prompts_app.models import EvalCase, EvalRun, EvalSuite, Label
from prompts_app.services import evals, library
from tests.admin.conftest import CASES, GOOD_OUTPUTS, admin_url, finished_run, version_of

pytestmark = pytest.mark.django_db

STATUS_URL = "/admin/prompts_app/evalrun/status/"
PANEL_URL = "/admin/prompts_app/evalrun/promote-panel/"


def rendered_run(prompt, number: int) -> EvalRun:
    """A finished run with cases but no provider: every case rendered, nothing graded."""
    evals.eval_suite_update(prompt=prompt, cases=CASES[:1], provider="")
    run = evals.eval_run_request(version=version_of(prompt, number), requested_by="ada")
    evals.eval_run_start(run_id=run.pk)
    return evals.eval_run_finalize(run_id=run.pk)


def no_cases_run(prompt, number: int) -> EvalRun:
    evals.eval_suite_update(prompt=prompt, cases=[], provider="")
    run = evals.eval_run_request(version=version_of(prompt, number), requested_by="ada")
    evals.eval_run_start(run_id=run.pk)
    return evals.eval_run_finalize(run_id=run.pk)


def _badge(page: str, run: EvalRun) -> str:
    """The badge element of `run` in `page` (its first one)."""
    start = page.index(f'data-pl-run="{run.pk}"')
    start = page.rindex("<a ", 0, start)
    return page[start:page.index("</a>", start) + 4]


# --- 1. honest words ------------------------------------------------------------------------

WORDS = [(rendered_run, "rendered", "rendered, not graded"), (no_cases_run, "no_cases", "no cases")]


@pytest.mark.parametrize(("make", "status", "words"), WORDS)
def test_an_ungraded_run_is_named_in_words_and_never_looks_passed(admin_client, prompt, make, status, words):
    run = make(prompt, 2)
    assert run.status == status

    pages = {
        "prompt": admin_url("prompt", "change", prompt.pk),
        "version": admin_url("promptversion", "change", version_of(prompt, 2).pk),
        "run": admin_url("evalrun", "change", run.pk),
        "run list": admin_url("evalrun", "changelist"),
        "version list": admin_url("promptversion", "changelist"),
        "promote": admin_url("prompt", "promote", prompt.pk) + "?version=2",
    }
    for name, url in pages.items():
        page = admin_client.get(url).content.decode()
        badge = _badge(page, run)
        assert f"pl-status-{status}" in badge and f">{words}</a>" in badge, name
        assert "pl-status-passed" not in badge and ">passed<" not in badge, name
        assert "pl-status-passed" not in page, name  # no run passed here, nothing may look like it


def test_every_status_has_its_words_and_its_own_colour():
    words = {status: display.status_words(status) for status, _ in EvalRun.STATUS_CHOICES}
    assert words == {"queued": "queued", "running": "running", "passed": "passed", "failed": "failed",
                     "error": "error", "rendered": "rendered, not graded", "no_cases": "no cases"}
    css = open("prompts_app/static/prompts_app/admin.css").read() + open(
        "prompts_app/static/prompts_app/evals.css").read()
    for status in words:
        assert f".pl-status-{status} {{" in css, status


def test_the_run_list_filter_offers_the_statuses_in_words(admin_client, prompt):
    rendered_run(prompt, 2)

    page = admin_client.get(admin_url("evalrun", "changelist")).content.decode()

    assert '<a href="?status__exact=rendered">rendered, not graded</a>' in page
    assert '<a href="?status__exact=no_cases">no cases</a>' in page
    assert '<a href="?status__exact=passed">passed</a>' in page


def test_a_rendered_run_does_not_pass_the_gate_on_the_promote_page(admin_client, prompt):
    library.prompt_update(prompt=prompt, protect_production=True)
    run = rendered_run(prompt, 2)

    page = admin_client.get(admin_url("prompt", "promote", prompt.pk) + "?version=2").content.decode()
    assert "The production gate refuses v2" in page and "only rendered its cases" in page

    response = admin_client.post(admin_url("prompt", "promote", prompt.pk),
                                 {"version": "2", "label": "production", "reason": ""})
    assert response.status_code == 200
    assert f"(#{run.pk}) only rendered its cases" in response.content.decode()
    assert not Label.objects.filter(prompt=prompt, name="production").exists()


# --- 2. the status endpoint ------------------------------------------------------------------


def test_the_status_endpoint_gives_each_versions_latest_badge_and_the_runs_asked_for(admin_client, prompt, suite):
    v2 = version_of(prompt, 2)
    passed = finished_run(v2, GOOD_OUTPUTS)
    queued = evals.eval_run_request(version=v2, requested_by="ada")  # now v2's latest

    response = admin_client.get(STATUS_URL, {"prompt": prompt.pk, "run": [passed.pk, queued.pk]})

    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    data = response.json()
    assert data["active"] is True
    assert data["versions"]["2"]["run"] == queued.pk and data["versions"]["2"]["status"] == "queued"
    assert data["runs"][str(passed.pk)]["label"] == "passed" and data["runs"][str(passed.pk)]["active"] is False
    assert 'data-pl-version="2"' in data["versions"]["2"]["html"]
    assert f'href="{admin_url("evalrun", "change", queued.pk)}"' in data["runs"][str(queued.pk)]["html"]

    evals.eval_run_start(run_id=queued.pk)
    assert admin_client.get(STATUS_URL, {"prompt": prompt.pk}).json()["versions"]["2"]["status"] == "running"


def test_the_status_endpoint_only_reads(admin_client, prompt, suite, django_assert_max_num_queries):
    before = list(EvalRun.objects.order_by("pk").values_list("pk", "status", "summary"))

    assert admin_client.post(STATUS_URL + f"?prompt={prompt.pk}").status_code == 405
    with django_assert_max_num_queries(12) as captured:
        assert admin_client.get(STATUS_URL, {"prompt": prompt.pk}).status_code == 200
    writes = [q["sql"] for q in captured.captured_queries
              if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
              and "django_session" not in q["sql"]]
    assert writes == []
    assert list(EvalRun.objects.order_by("pk").values_list("pk", "status", "summary")) == before


def test_the_status_endpoint_is_for_staff_who_may_view_runs(client, admin_client, django_user_model, prompt):
    assert client.get(STATUS_URL, {"prompt": prompt.pk}).status_code == 302  # to the login page
    django_user_model.objects.create_user("bo", password="pw", is_staff=True)
    client.login(username="bo", password="pw")
    assert client.get(STATUS_URL, {"prompt": prompt.pk}).status_code == 403
    assert admin_client.get(STATUS_URL, {"prompt": "999999"}).status_code == 404
    assert admin_client.get(STATUS_URL).status_code == 404


def test_pages_with_badges_load_the_poller_and_mark_what_to_follow(admin_client, prompt):
    run = EvalRun.objects.filter(prompt_version=version_of(prompt, 2)).get()

    for url in (admin_url("prompt", "change", prompt.pk), admin_url("evalrun", "change", run.pk),
                admin_url("promptversion", "change", version_of(prompt, 2).pk)):
        page = admin_client.get(url).content.decode()
        assert 'src="/static/prompts_app/evals.js"' in page
        badge = _badge(page, run)
        assert 'data-pl-status="queued"' in badge
        assert f'data-pl-poll="{STATUS_URL}?prompt={prompt.pk}"' in badge
    # The version history follows each version's latest run; the run page follows its run.
    assert 'data-pl-version="2"' in _badge(admin_client.get(admin_url("prompt", "change", prompt.pk)).content.decode(),
                                           run)
    assert "data-pl-version" not in _badge(admin_client.get(admin_url("evalrun", "change", run.pk)).content.decode(),
                                           run)


def test_the_poller_is_plain_javascript_that_stops_when_nothing_moves(client):
    from django.contrib.staticfiles import finders

    source = open(finders.find("prompts_app/evals.js")).read()
    assert "http://" not in source and "https://" not in source and "import " not in source  # nothing fetched from a CDN
    assert "setTimeout(poll, INTERVAL_MS)" in source and "INTERVAL_MS = 2000" in source
    assert "queued: true, running: true" in source


# --- 3. the promote page's panel -------------------------------------------------------------


def test_the_promote_panel_is_served_for_the_chosen_version(admin_client, prompt, suite):
    library.prompt_update(prompt=prompt, protect_production=True)
    passed = finished_run(version_of(prompt, 1), GOOD_OUTPUTS)
    rendered = rendered_run(prompt, 2)

    one = admin_client.get(PANEL_URL, {"prompt": prompt.pk, "version": "1"})
    two = admin_client.get(PANEL_URL, {"prompt": prompt.pk, "version": "2"})

    assert one.status_code == two.status_code == 200
    one, two = one.content.decode(), two.content.decode()
    assert "<h2>v1</h2>" in one and f'data-pl-run="{passed.pk}"' in one and ">passed</a>" in one
    assert "lets v1 through" in one
    assert "<h2>v2</h2>" in two and f'data-pl-run="{rendered.pk}"' in two and "rendered, not graded</a>" in two
    assert "The production gate refuses v2" in two
    assert admin_client.get(PANEL_URL, {"prompt": prompt.pk, "version": "9"}).status_code == 404
    assert admin_client.post(PANEL_URL + f"?prompt={prompt.pk}&version=1").status_code == 405

    page = admin_client.get(admin_url("prompt", "promote", prompt.pk) + "?version=1").content.decode()
    assert f'data-pl-panel-url="{PANEL_URL}?prompt={prompt.pk}"' in page
    assert 'data-pl-panel-version="1"' in page and "lets v1 through" in page


def test_an_unprotected_prompt_says_the_gate_is_open(admin_client, prompt):
    library.prompt_update(prompt=prompt, protect_production=False)
    page = admin_client.get(PANEL_URL, {"prompt": prompt.pk, "version": "2"}).content.decode()
    assert "Production is not protected for this prompt" in page


# --- 4. saving a suite with a re-run: one service call ---------------------------------------


def test_eval_suite_save_with_a_rerun_stores_the_suite_and_queues_the_latest_version(prompt, provider):
    suite, run = evals.eval_suite_save(prompt=prompt, cases=CASES, repeats=2, provider="fake", rerun=True,
                                       requested_by="ada")

    assert [c.name for c in suite.cases.all()] == ["ada", "json-reply"]
    assert run.prompt_version == version_of(prompt, 2) and run.trigger == "manual" and run.requested_by == "ada"
    assert [c["name"] for c in run.cases] == ["ada", "json-reply"] and run.repeats == 2


def test_eval_suite_save_stores_nothing_and_queues_nothing_when_a_case_is_bad(prompt, suite):
    runs = EvalRun.objects.count()
    bad = CASES + [{"name": "broken", "assertions": [{"type": "no-such-check"}]}]

    with pytest.raises(DomainError):
        evals.eval_suite_save(prompt=prompt, cases=bad, repeats=3, rerun=True, requested_by="ada")

    assert EvalRun.objects.count() == runs
    assert EvalSuite.objects.get(prompt=prompt).repeats == 2
    assert EvalCase.objects.filter(suite__prompt=prompt).count() == 2


def test_eval_suite_save_can_rerun_an_unchanged_suite(prompt, suite):
    same, run = evals.eval_suite_save(prompt=prompt, rerun=True)
    assert same.pk == suite.pk and same.repeats == 2 and [c["name"] for c in run.cases] == ["ada", "json-reply"]


def test_the_suite_page_saves_and_reruns_through_the_one_service_call(admin_client, prompt, suite, monkeypatch):
    from prompts_app.admin import evals as admin_evals

    calls = []
    real = evals.eval_suite_save
    monkeypatch.setattr(admin_evals.evals, "eval_suite_save",
                        lambda **kwargs: calls.append(kwargs) or real(**kwargs))
    url = admin_url("evalsuite", "change", suite.pk) + "?mode=json"
    page = admin_client.get(url)
    form = page.context["adminform"].form
    data = {"provider": str(suite.provider_id), "repeats": "1", "cases_json": form.initial["cases_json"],
            "mode": "json", "_rerun": "1"}

    response = admin_client.post(url, data)

    assert response.status_code == 302
    run = EvalRun.objects.order_by("-pk").first()
    assert response["Location"] == admin_url("evalrun", "change", run.pk)
    assert len(calls) == 1 and calls[0]["rerun"] is True and calls[0]["repeats"] == 1
    assert run.repeats == 1 and run.prompt_version == version_of(prompt, 2)


def test_eval_suite_save_undoes_the_suite_when_the_rerun_fails(prompt, suite, monkeypatch):
    def refuse(**kwargs):
        raise DomainError("no run today")

    monkeypatch.setattr(evals, "eval_run_request", refuse)

    with pytest.raises(DomainError):
        evals.eval_suite_save(prompt=prompt, cases=CASES[:1], repeats=5, provider="", rerun=True)

    stored = EvalSuite.objects.get(prompt=prompt)
    assert (stored.repeats, stored.provider.name, stored.cases.count()) == (2, "fake", 2)
