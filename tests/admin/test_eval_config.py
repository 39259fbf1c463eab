"""Eval configuration in the admin: the suite editor saves through
evals.eval_suite_update (all cases or nothing), providers name an environment
variable and never hold a key, and prices change by new rows."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.utils import timezone

from prompts_app.models import EvalRun, EvalSuite, ModelPrice, Provider, UsageEvent
from tests.admin.conftest import CASES, admin_url, form_data

pytestmark = pytest.mark.django_db


def _suite_page(client, suite, mode=""):
    url = admin_url("evalsuite", "change", suite.pk) + (f"?mode={mode}" if mode else "")
    response = client.get(url)
    assert response.status_code == 200
    return url, response


def _rows_data(response, **changes):
    """What the browser posts for the rows editor as shown, with `changes`."""
    data = form_data(response.context["adminform"].form)
    formset = response.context["formset"]
    data.update(form_data(formset.management_form))
    for row in formset.forms:
        data.update(form_data(row))
    data["mode"] = response.context["mode"]
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def _snapshot(suite):
    suite.refresh_from_db()
    return suite.repeats, suite.provider_id, [c.as_snapshot() for c in suite.cases.all()]


# --- the suite editor -----------------------------------------------------------------


def test_the_suite_page_shows_the_cases_as_rows(admin_client, suite):
    _, response = _suite_page(admin_client, suite)

    formset = response.context["formset"]
    assert formset.initial_form_count() == 2
    assert json.loads(formset.forms[0]["variables"].value()) == {"name": "Ada", "company": "Acme"}
    assert json.loads(formset.forms[0]["assertions"].value()) == CASES[0]["assertions"]
    assert response.context["adminform"].form["provider"].value() == suite.provider_id


def test_a_bad_assertion_is_shown_on_its_case_and_nothing_is_stored(admin_client, suite):
    before = _snapshot(suite)
    url, response = _suite_page(admin_client, suite)

    result = admin_client.post(url, _rows_data(
        response, repeats="3", **{"case-0-expected_output": "Hi Ada",
                                   "case-1-assertions": '[{"type": "is_json"}, {"type": "regex", "pattern": "("}]'},
    ))

    assert result.status_code == 200
    rows = result.context["formset"].forms
    assert not rows[0].errors
    assert rows[1].errors["assertions"][0].startswith("cases[1].assertions[1].pattern is not a valid regex")
    assert "Please correct the error below." in result.content.decode()
    assert _snapshot(suite) == before  # neither the cases nor the repeats changed


def test_an_unknown_assertion_type_names_the_types_there_are(admin_client, suite):
    url, response = _suite_page(admin_client, suite)

    result = admin_client.post(url, _rows_data(response, **{"case-0-assertions": '[{"type": "contains_ish"}]'}))

    error = result.context["formset"].forms[0].errors["assertions"][0]
    assert "must be one of contains, not_contains, equals, regex" in error


def test_assertions_that_are_not_json_are_a_row_error(admin_client, suite):
    before = _snapshot(suite)
    url, response = _suite_page(admin_client, suite)

    result = admin_client.post(url, _rows_data(response, **{"case-0-assertions": "[{type: contains}]"}))

    assert "This is not valid JSON" in result.context["formset"].forms[0].errors["assertions"][0]
    assert _snapshot(suite) == before


def test_a_duplicate_case_name_is_refused(admin_client, suite):
    url, response = _suite_page(admin_client, suite)

    result = admin_client.post(url, _rows_data(response, **{"case-1-name": "ada"}))

    assert "'ada' is used twice" in result.context["formset"].forms[1].errors["name"][0]


def test_a_good_edit_replaces_the_cases(admin_client, suite):
    url, response = _suite_page(admin_client, suite)

    result = admin_client.post(url, _rows_data(
        response, repeats="3", **{
            "case-0-expected_output": "Hello Ada, welcome!",
            "case-1-DELETE": "on",
            "case-2-name": "eve",
            "case-2-variables": '{"name": "Eve", "company": "Globex"}',
            "case-2-assertions": '[{"type": "contains", "value": "Globex", "ignore_case": true}]',
            "_continue": "1",
        },
    ))

    assert result.status_code == 302
    repeats, provider_id, cases = _snapshot(suite)
    assert (repeats, provider_id) == (3, suite.provider_id)
    assert cases == [
        {**CASES[0], "expected_output": "Hello Ada, welcome!"},
        {"name": "eve", "variables": {"name": "Eve", "company": "Globex"}, "expected_output": "",
         "assertions": [{"type": "contains", "value": "Globex", "ignore_case": True}]},
    ]
    page = admin_client.get(result["Location"]).content.decode()
    assert "Eval suite of acme/greeting: 2 cases, provider fake, 3 repeats." in page


def test_repeats_out_of_range_is_the_service_s_error(admin_client, suite):
    before = _snapshot(suite)
    url, response = _suite_page(admin_client, suite)

    result = admin_client.post(url, _rows_data(response, repeats="50"))

    assert result.context["adminform"].form.errors["repeats"] == ["'repeats' must be an integer from 1 to 20."]
    assert _snapshot(suite) == before


def test_the_provider_can_be_removed_for_static_checks_only(admin_client, suite):
    url, response = _suite_page(admin_client, suite)

    assert admin_client.post(url, _rows_data(response, provider="")).status_code == 302

    suite.refresh_from_db()
    assert suite.provider is None


def test_the_json_mode_replaces_all_cases_or_shows_the_error(admin_client, suite):
    before = _snapshot(suite)
    url, response = _suite_page(admin_client, suite, mode="json")
    data = {**form_data(response.context["adminform"].form), "mode": "json"}
    bad = [{"name": "x", "variables": {}, "assertions": [{"type": "json_schema", "schema": {"type": 12}}]}]

    refused = admin_client.post(url, {**data, "cases_json": json.dumps(bad)})

    assert "cases[0].assertions[0].schema is not a valid JSON Schema" in refused.context["adminform"].form.errors[
        "cases_json"][0]
    assert _snapshot(suite) == before

    good = [{"name": "only", "variables": {"name": "Zed", "company": "Z"}, "assertions": [{"type": "is_json"}]}]
    assert admin_client.post(url, {**data, "cases_json": json.dumps(good)}).status_code == 302
    assert [c["name"] for c in _snapshot(suite)[2]] == ["only"]


def test_saving_an_unchanged_suite_stores_nothing(admin_client, suite):
    url, response = _suite_page(admin_client, suite)
    ids = list(suite.cases.values_list("pk", flat=True))

    result = admin_client.post(url, _rows_data(response), follow=True)

    assert "No changes: nothing was saved." in result.content.decode()
    assert list(suite.cases.values_list("pk", flat=True)) == ids


def test_save_and_rerun_runs_the_latest_version_with_the_new_cases(admin_client, suite, prompt):
    url, response = _suite_page(admin_client, suite)

    result = admin_client.post(url, _rows_data(response, **{"case-1-DELETE": "on", "_rerun": "1"}))

    run = EvalRun.objects.order_by("-id").first()
    assert result["Location"] == admin_url("evalrun", "change", run.pk)
    assert (run.prompt_version.number, run.trigger, run.requested_by) == (2, EvalRun.TRIGGER_MANUAL, "admin")
    assert [case["name"] for case in run.cases] == ["ada"]


def test_the_prompt_page_links_to_its_suite_or_to_making_one(admin_client, prompt, chat_prompt, suite):
    with_suite = admin_client.get(admin_url("prompt", "change", prompt.pk)).content.decode()
    without = admin_client.get(admin_url("prompt", "change", chat_prompt.pk)).content.decode()

    assert f'href="{admin_url("evalsuite", "change", suite.pk)}">Eval suite' in with_suite
    assert f'href="{admin_url("evalsuite", "add")}?prompt={chat_prompt.pk}">Eval suite' in without


def test_adding_a_suite_goes_through_the_service(admin_client, chat_prompt, provider):
    url = admin_url("evalsuite", "add") + f"?prompt={chat_prompt.pk}"
    assert admin_client.get(url).context["adminform"].form["prompt"].value() == str(chat_prompt.pk)

    response = admin_client.post(url, {"prompt": chat_prompt.pk, "provider": provider.pk, "repeats": "2"})

    suite = EvalSuite.objects.get(prompt=chat_prompt)
    assert response["Location"] == admin_url("evalsuite", "change", suite.pk)
    assert (suite.provider, suite.repeats) == (provider, 2)
    # Asking again for the same prompt opens the suite it has.
    assert admin_client.get(url)["Location"] == admin_url("evalsuite", "change", suite.pk)


def test_a_provider_of_another_project_is_refused_for_a_suite(admin_client, chat_prompt, outsider):
    foreign = Provider.objects.create(project=outsider.project, name="fake", base_url="http://127.0.0.1:9/v1",
                                      model="gpt-4o-mini")

    response = admin_client.post(admin_url("evalsuite", "add"),
                                 {"prompt": chat_prompt.pk, "provider": foreign.pk, "repeats": "1"})

    assert "belongs to project globex" in response.context["adminform"].form.errors["provider"][0]
    assert not EvalSuite.objects.exists()


# --- providers -----------------------------------------------------------------------------

PROVIDER = {"name": "openai", "base_url": "https://api.openai.com/v1", "model": "gpt-4o-mini",
            "api_key_env": "OPENAI_API_KEY", "timeout_seconds": "30", "max_retries": "3"}


@pytest.mark.parametrize(
    ("api_key_env", "error"),
    [
        ("sk-live-1234567890", "An environment variable name ending in KEY or TOKEN"),
        ("openai_api_key", "An environment variable name ending in KEY or TOKEN"),
        ("OPENAI_SECRET", "An environment variable name ending in KEY or TOKEN"),
        ("SECRET_KEY", "SECRET_KEY is Django's own secret"),
    ],
)
def test_a_provider_with_a_bad_env_var_name_is_refused(admin_client, acme, api_key_env, error):
    response = admin_client.post(admin_url("provider", "add"),
                                 {**PROVIDER, "project": acme.pk, "api_key_env": api_key_env})

    assert response.status_code == 200
    assert error in response.context["adminform"].form.errors["api_key_env"][0]
    assert not Provider.objects.exists()


def test_a_provider_names_its_key_variable_and_never_holds_the_key(admin_client, acme):
    response = admin_client.post(admin_url("provider", "add"), {**PROVIDER, "project": acme.pk})

    assert response.status_code == 302
    provider = Provider.objects.get()
    assert (provider.project, provider.api_key_env, provider.timeout_seconds) == (acme, "OPENAI_API_KEY", 30.0)
    page = admin_client.get(admin_url("provider", "add")).content.decode()
    assert "The key itself is never stored" in page


def test_a_provider_without_authentication_is_fine_but_a_zero_timeout_is_not(admin_client, acme):
    refused = admin_client.post(admin_url("provider", "add"),
                                {**PROVIDER, "project": acme.pk, "api_key_env": "", "timeout_seconds": "0"})
    assert "more than 0 seconds" in refused.context["adminform"].form.errors["timeout_seconds"][0]

    local = {**PROVIDER, "name": "ollama", "base_url": "http://localhost:11434/v1", "api_key_env": ""}
    assert admin_client.post(admin_url("provider", "add"), {**local, "project": acme.pk}).status_code == 302
    assert Provider.objects.get().api_key_env == ""


def test_a_provider_name_is_unique_in_its_project(admin_client, acme, provider):
    response = admin_client.post(admin_url("provider", "add"), {**PROVIDER, "project": acme.pk, "name": "fake"})

    assert response.context["adminform"].form.errors
    assert Provider.objects.count() == 1


# --- prices -------------------------------------------------------------------------------


def _price(acme, model="gpt-4o-mini"):
    return ModelPrice.objects.filter(project=acme, model=model).order_by("-effective_from").first()


def test_the_price_list_filters_by_project(admin_client, acme, outsider):
    response = admin_client.get(admin_url("modelprice", "changelist") + f"?project__id__exact={acme.pk}")

    assert response.status_code == 200
    rows = list(response.context["cl"].result_list)
    assert rows and {row.project_id for row in rows} == {acme.pk}
    assert "$0.15" in response.content.decode()  # gpt-4o-mini input, per 1M tokens


def test_the_price_form_says_to_enter_a_change_as_a_new_row(admin_client, acme):
    price = _price(acme)

    response = admin_client.get(admin_url("modelprice", "change", price.pk))

    page = response.content.decode()
    assert "A price change should be entered as a new row with a later" in page
    assert "Warning:" not in page  # no usage was priced with it
    assert f"{admin_url('modelprice', 'add')}?project={acme.pk}&amp;model=gpt-4o-mini" in page


def test_editing_a_price_that_already_priced_usage_warns_but_is_allowed(admin_client, acme, prompt):
    price = _price(acme)
    UsageEvent.objects.create(project=acme, event_id="e1", prompt=prompt, version_number=1, model="gpt-4o-mini",
                              input_tokens=1000, output_tokens=100, occurred_at=timezone.now(), priced=True,
                              cost_pico=210_000_000)
    url = admin_url("modelprice", "change", price.pk)

    response = admin_client.get(url)

    form = response.context["adminform"].form
    assert form.fields["effective_from"].help_text.startswith(
        "Warning: 1 usage event was already priced with this row. Editing it does not re-price it")
    assert form.fields["input_per_1m"].help_text.startswith("Warning: 1 usage event was already priced")
    moment = timezone.localtime(price.effective_from)
    result = admin_client.post(url, form_data(
        form, input_per_1m="0.2", effective_from=None,
        effective_from_0=moment.strftime("%Y-%m-%d"), effective_from_1=moment.strftime("%H:%M:%S"),
    ))
    assert result.status_code == 302, result.context["adminform"].form.errors
    price.refresh_from_db()
    assert str(price.input_per_1m) == "0.200000"


def test_a_price_change_as_a_new_row(admin_client, acme):
    old = _price(acme)
    add_url = admin_url("modelprice", "add") + f"?project={acme.pk}&model=gpt-4o-mini&provider=openai"
    form = admin_client.get(add_url).context["adminform"].form
    assert form["model"].value() == "gpt-4o-mini"
    later = timezone.localtime(old.effective_from) + timezone.timedelta(days=30)

    response = admin_client.post(add_url, form_data(
        form, effective_from=None, effective_from_0=later.strftime("%Y-%m-%d"),
        effective_from_1=later.strftime("%H:%M:%S"), input_per_1m="0.12", output_per_1m="0.48",
    ))

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert ModelPrice.objects.in_force(project=acme, model="gpt-4o-mini", at=later).input_per_1m == Decimal("0.12")
    assert ModelPrice.objects.in_force(project=acme, model="gpt-4o-mini", at=old.effective_from) == old
