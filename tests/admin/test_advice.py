"""The ledger and advice page of a prompt, the what-if calculator, and where
the verdict shows up elsewhere in the admin."""

from __future__ import annotations

import math
import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission

from prompts_app.admin.forms import ledger as f
from prompts_app.lib import advisor
from prompts_app.models import AdvisorSettings, Alert
from prompts_app.selectors import advice as advice_selectors
from prompts_app.services import advice
from tests.admin.conftest import admin_url, page_form
from tests.factories import PromptFactory, make_version

pytestmark = pytest.mark.django_db

# DESIGN.md, "Fine-tuning advice": the reference case that must come out exactly.
REFERENCE = {
    "calls_per_month": "1,000,000",  # as a person types it
    "avg_input_tokens": "1000",
    "avg_output_tokens": "0",
    "tokens_removable": "800",
    "input_price_per_1m": "2",
    "output_price_per_1m": "2",
    "ft_input_price_per_1m": "2",
    "ft_output_price_per_1m": "2",
    "cached_input_share": "0",
    "cached_input_price_per_1m": "",
    "one_time_cost": "10000",
    "approved_examples": "500",
    "versions_last_30_days": "1",
    "payback_horizon_months": "12",
    "prefill_ms_per_token": "",
    "volume_floor_calls_per_month": "",
    "min_approved_examples": "",
    "max_versions_last_30_days": "",
}


def _text(response) -> str:
    """The page as text, tags dropped and whitespace folded, for reading figures."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def _section(response, element_id: str) -> str:
    page = response.content.decode()
    start = page.index(f'id="{element_id}"')
    return page[start:]


# --- the advice page ------------------------------------------------------------------------------


def test_the_advice_page_of_the_demo_candidate_says_fine_tune_with_its_figures(admin_client, triage):
    response = admin_client.get(admin_url("prompt", "advice", triage.pk))

    assert response.status_code == 200
    expected = advice.prompt_advice(prompt=triage)
    figures = expected["figures"]
    current = _section(response, "advice-current")
    assert 'pl-advice-fine_tune">Fine-tune</span>' in current
    text = _text(response)
    assert f"${float(figures['monthly_savings']):,.2f} / month" in text  # every figure with its unit
    assert f"{figures['payback_months']} months" in text
    assert f"{int(figures['break_even_calls_per_month']):,} calls / month" in text
    assert "/ call" in text and "ms / call" in text
    for reason in expected["reasons"]:
        assert reason in response.content.decode().replace("&#x27;", "'")


def test_the_advice_page_draws_the_usage_and_payback_charts(admin_client, triage):
    response = admin_client.get(admin_url("prompt", "advice", triage.pk))

    page = response.content.decode()
    # Two charts of ours (the admin has SVG icons of its own).
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="pl-chart"') == 2
    usage = _section(response, "usage-chart")
    assert "USD per day" in usage and "calls per day" in usage and ">v1</text>" in usage
    payback = advice.prompt_advice(prompt=triage)["figures"]["payback_months"]
    # Net turns ≥ 0 in the first whole month at or after the payback (about 2 months here).
    assert f"break-even ≈ month {math.ceil(Decimal(payback))} ({payback} months)" in page
    assert 'class="pl-break-even-point"' in page


def test_the_ledger_table_totals_the_last_60_days_by_version(admin_client, triage):
    response = admin_client.get(admin_url("prompt", "advice", triage.pk))

    ledger = response.context["ledger"]
    assert ledger["group_by"] == "version" and ledger["days"] == 60
    assert [row["version"] for row in ledger["rows"]] == [1]
    assert f"{ledger['totals']['calls']:,}" in _section(response, "ledger")


def test_the_what_if_form_starts_from_the_inputs_of_the_advice(admin_client, triage):
    form = page_form(admin_client, admin_url("prompt", "advice", triage.pk), "form")

    inputs = advice.prompt_advice(prompt=triage)["inputs"]
    assert set(form.fields) == set(advisor.WHAT_IF_KEYS)
    assert form["approved_examples"].value() == "600"
    assert form["calls_per_month"].value() == str(inputs["calls_per_month"])
    assert form["input_price_per_1m"].value() == "0.15"  # "0.150000" without the trailing zeros
    assert form["min_approved_examples"].value() == "500"  # the project's thresholds come along


def test_the_what_if_with_unchanged_inputs_agrees_with_the_advice(admin_client, triage):
    form = page_form(admin_client, admin_url("prompt", "advice", triage.pk), "form")
    data = {name: form[name].value() or "" for name in form.fields}

    response = admin_client.post(admin_url("prompt", "advice", triage.pk), data)

    assert response.status_code == 200
    expected = advice.prompt_advice(prompt=triage)
    result = response.context["what_if"]
    assert result["badge"]["verdict"] == "fine_tune"
    assert [row["text"] for row in result["figures"]] == [row["text"] for row in response.context["current"]["figures"]]
    assert result["reasons"] == expected["reasons"]


def test_the_reference_case_as_a_what_if_on_the_advice_page(admin_client, triage):
    response = admin_client.post(admin_url("prompt", "advice", triage.pk), REFERENCE)

    assert response.status_code == 200
    result = _section(response, "what-if-result")
    assert 'pl-advice-fine_tune">Fine-tune</span>' in result
    assert "$1,600.00 / month" in result
    assert "6.25 months" in result
    assert "Fine-tuning saves $1,600.00 a month" in result
    assert "break-even ≈ month 7 (6.25 months)" in result
    assert result.count('class="pl-chart"') == 1


def test_an_invalid_what_if_is_a_form_error_on_its_field(admin_client, triage):
    response = admin_client.post(admin_url("prompt", "advice", triage.pk), {**REFERENCE, "cached_input_share": "1.5"})

    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["cached_input_share"] == [
        "Must be a share between 0 and 1, e.g. 0.5 for 50% (got 1.5)."
    ]
    assert list(form.errors) == ["cached_input_share"]
    assert response.context["what_if"] is None
    assert 'id="what-if-result"' not in response.content.decode()
    assert 'id="advice-current"' in response.content.decode()  # the rest of the page is still there


@pytest.mark.parametrize(("field", "value", "message"), [
    ("calls_per_month", "lots", "Must be a number (got 'lots')."),
    ("approved_examples", "12.5", "Must be a whole number (got 12.5)."),
    ("one_time_cost", "-1", "Must not be negative (got -1)."),
    ("payback_horizon_months", "0", "Must be greater than 0 months."),
])
def test_the_advisor_names_the_bad_field(admin_client, triage, field, value, message):
    response = admin_client.post(admin_url("prompt", "advice", triage.pk), {**REFERENCE, field: value})

    assert response.status_code == 200
    assert response.context["form"].errors[field] == [message]


def test_a_missing_required_figure_is_required(admin_client, triage):
    response = admin_client.post(admin_url("prompt", "advice", triage.pk), {**REFERENCE, "one_time_cost": ""})

    assert response.context["form"].errors["one_time_cost"] == ["This field is required."]


def test_a_prompt_without_versions_says_why_there_is_no_advice(admin_client, acme):
    prompt = PromptFactory(project=acme, name="empty")

    response = admin_client.get(admin_url("prompt", "advice", prompt.pk))

    assert response.status_code == 200
    assert "has no versions yet: nothing to advise on" in response.content.decode()
    assert "No usage reported in this window." in response.content.decode()


def test_a_prompt_whose_model_is_not_priced_keeps_prompting_and_says_why(admin_client, acme):
    prompt = PromptFactory(project=acme, name="unpriced")
    make_version(prompt, model_config={"model": "no-such-model"})

    response = admin_client.get(admin_url("prompt", "advice", prompt.pk))

    assert response.status_code == 200
    assert 'pl-advice-keep_prompting">Keep prompting</span>' in response.content.decode()
    assert "The price sheet has no price for model &#x27;no-such-model&#x27;" in response.content.decode()


def test_viewing_the_advice_needs_the_right_to_view_prompts(client, django_user_model, triage):
    staff = django_user_model.objects.create_user("eve", password="pw", is_staff=True)
    client.force_login(staff)

    assert client.get(admin_url("prompt", "advice", triage.pk)).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_prompt"))
    assert client.get(admin_url("prompt", "advice", triage.pk)).status_code == 200


# --- the standalone what-if -------------------------------------------------------------------------


def test_the_what_if_calculator_computes_the_reference_case(admin_client, triage):
    url = admin_url("prompt", "what_if")
    assert admin_client.get(url).status_code == 200

    response = admin_client.post(url, REFERENCE)

    result = _section(response, "what-if-result")
    assert 'pl-advice-fine_tune">Fine-tune</span>' in result
    assert "$1,600.00 / month" in result and "6.25 months" in result and "$10,000.00" in result
    assert 'class="pl-chart"' in result


def test_the_what_if_calculator_rejects_bad_input_on_the_field(admin_client):
    response = admin_client.post(admin_url("prompt", "what_if"), {**REFERENCE, "cached_input_share": "1.5"})

    assert response.status_code == 200
    assert "cached_input_share" in response.context["form"].errors


def test_the_what_if_form_lists_every_advisor_key():
    assert sorted(key for key, *_ in f.WHAT_IF_FIELDS) == sorted(advisor.WHAT_IF_KEYS)
    grouped = [name for _, names in f.WHAT_IF_FIELDSETS for name in names]
    assert sorted(grouped) == sorted(advisor.WHAT_IF_KEYS)


def test_the_admin_index_and_the_app_page_link_the_calculator(admin_client):
    for url in ("/admin/", "/admin/prompts_app/"):
        page = admin_client.get(url).content.decode()
        assert f'href="{admin_url("prompt", "what_if")}"' in page
        assert "Ledger and fine-tuning advice" in page


def test_the_alert_and_settings_lists_link_the_calculator(admin_client):
    for model in ("alert", "advisorsettings"):
        page = admin_client.get(admin_url(model, "changelist")).content.decode()
        assert f'href="{admin_url("prompt", "what_if")}"' in page


# --- the verdict elsewhere ------------------------------------------------------------------------


def test_the_prompt_list_shows_the_verdict_linking_to_the_advice(admin_client, triage, prompt):
    page = admin_client.get(admin_url("prompt", "changelist")).content.decode()

    assert f'class="pl-advice-badge pl-advice-fine_tune" href="{admin_url("prompt", "advice", triage.pk)}"' in page
    assert f'class="pl-advice-none" href="{admin_url("prompt", "advice", prompt.pk)}"' in page  # never evaluated


def test_the_prompt_list_filters_by_verdict(admin_client, triage, prompt):
    response = admin_client.get(admin_url("prompt", "changelist") + "?advice_state__verdict=fine_tune")

    assert [p.name for p in response.context["cl"].result_list] == ["ticket-triage"]


def test_the_prompt_page_links_its_ledger_and_advice(admin_client, triage):
    page = admin_client.get(admin_url("prompt", "change", triage.pk)).content.decode()

    assert f'href="{admin_url("prompt", "advice", triage.pk)}" id="advice-link"' in page
    assert 'pl-advice-fine_tune">Fine-tune</span>' in page


def test_the_demo_candidate_raised_one_alert(triage):
    assert Alert.objects.filter(prompt=triage, kind=Alert.KIND_FINE_TUNE).count() == 1


# --- reads through the selectors; nothing written on GET ----------------------------------------


def test_viewing_the_advice_creates_no_advisor_settings(admin_client, triage):
    AdvisorSettings.objects.filter(project=triage.project).delete()

    page = admin_client.get(admin_url("prompt", "advice", triage.pk)).content.decode()
    admin_client.get(admin_url("advisorsettings", "add") + f"?project={triage.project.pk}")

    assert not AdvisorSettings.objects.filter(project=triage.project).exists()
    assert "the defaults: none saved for this project yet" in page
    assert admin_url("advisorsettings", "add") + f"?project={triage.project.pk}" in page


def test_the_what_if_uses_the_shared_payback_schedule(admin_client, triage, monkeypatch):
    monkeypatch.setattr(advice_selectors, "PAYBACK_SCHEDULE_MONTHS", 7)
    for url in (admin_url("prompt", "what_if"), admin_url("prompt", "advice", triage.pk)):
        response = admin_client.post(url, REFERENCE)
        assert response.context["what_if"]["schedule_months"] == 7, url
