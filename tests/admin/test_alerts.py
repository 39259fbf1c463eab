"""Alerts are listed with the figures they were raised with and acknowledged
through alerts.alert_acknowledge, one by one or in bulk; advisor settings and
webhooks are plain configuration pages."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import Permission

from prompts_app.models import AdvisorSettings, Alert, ModelPrice, Webhook, WebhookDelivery
from prompts_app.services import advice
from tests.admin.conftest import admin_url, page_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def alert(triage) -> Alert:
    """The fine-tuning alert ticket-triage gets in a world where gpt-4o-mini neither
    retires nor stops training (the real dates make it keep prompting instead)."""
    ModelPrice.objects.filter(project=triage.project, model="gpt-4o-mini").update(
        shutdown_date=None, training_available_until=None
    )
    raised = advice.advice_evaluate(prompt=triage)
    return next(found for found in raised if found.kind == Alert.KIND_FINE_TUNE)


def test_the_alert_list_shows_state_prompt_kind_and_the_figures_then(admin_client, alert):
    response = admin_client.get(admin_url("alert", "changelist"))

    assert response.status_code == 200
    page = response.content.decode()
    row = page[page.index('id="result_list"'):]
    assert '<span class="pl-alert-state pl-alert-new">new</span>' in row
    assert f'href="{admin_url("prompt", "advice", alert.prompt.pk)}"' in row
    assert "fine-tuning pays off" in row
    assert alert.message.replace("'", "&#x27;") in row
    savings, payback = alert.figures["monthly_savings"], alert.figures["payback_months"]
    assert f"${float(savings):,.2f} / month" in row and f"{payback} months" in row


def test_acknowledging_one_alert_records_the_admin_and_comes_back(admin_client, alert):
    back = admin_url("alert", "changelist") + "?state__exact=new"
    page = admin_client.get(back).content.decode()
    button_url = admin_url("alert", "acknowledge", alert.pk)
    assert f'formaction="{button_url}?next=' in page

    response = admin_client.post(button_url + "?" + urlencode({"next": back}))

    assert response.status_code == 302 and response["Location"] == back
    alert.refresh_from_db()
    assert alert.state == Alert.STATE_ACKNOWLEDGED
    assert alert.acknowledged_by == "admin" and alert.acknowledged_at is not None
    listing = admin_client.get(admin_url("alert", "changelist")).content.decode()
    assert '<span class="pl-alert-state pl-alert-acknowledged">acknowledged</span>' in listing
    assert '<div class="pl-acknowledged">by admin<br>' in listing
    assert button_url not in listing  # nothing left to acknowledge


def test_acknowledging_from_the_alert_page(admin_client, alert):
    page = admin_client.get(admin_url("alert", "change", alert.pk)).content.decode()
    assert f'action="{admin_url("alert", "acknowledge", alert.pk)}"' in page

    response = admin_client.post(admin_url("alert", "acknowledge", alert.pk), follow=True)

    assert response.redirect_chain[-1][0] == admin_url("alert", "change", alert.pk)
    alert.refresh_from_db()
    assert (alert.state, alert.acknowledged_by) == (Alert.STATE_ACKNOWLEDGED, "admin")
    assert "Acknowledged the alert about ticket-triage." in response.content.decode()
    assert 'id="acknowledge-form"' not in response.content.decode()


def test_acknowledging_twice_keeps_the_first_acknowledgement(admin_client, alert):
    admin_client.post(admin_url("alert", "acknowledge", alert.pk))
    first = Alert.objects.get(pk=alert.pk).acknowledged_at

    response = admin_client.post(admin_url("alert", "acknowledge", alert.pk), follow=True)

    assert Alert.objects.get(pk=alert.pk).acknowledged_at == first
    assert "was already acknowledged by admin" in response.content.decode()


def test_the_bulk_action_acknowledges_the_selected_alerts(admin_client, alert):
    other = Alert.objects.create(project=alert.project, prompt=alert.prompt, kind=Alert.KIND_NO_LONGER,
                                 message="Fine-tuning no longer pays off.", figures={"verdict": "keep_prompting"})

    response = admin_client.post(admin_url("alert", "changelist"), {
        "action": "acknowledge_alerts", "_selected_action": [alert.pk, other.pk],
    }, follow=True)

    assert "Acknowledged 2 alerts." in response.content.decode()
    selected = Alert.objects.filter(pk__in=[alert.pk, other.pk])
    assert set(selected.values_list("state", "acknowledged_by")) == {(Alert.STATE_ACKNOWLEDGED, "admin")}
    # the triage prompt's other alerts (shutdown, savings) were not selected
    assert not Alert.objects.exclude(pk__in=[alert.pk, other.pk]).filter(
        state=Alert.STATE_ACKNOWLEDGED
    ).exists()


def test_an_acknowledge_link_must_be_posted_and_stays_on_this_site(admin_client, alert):
    assert admin_client.get(admin_url("alert", "acknowledge", alert.pk)).status_code == 405

    response = admin_client.post(admin_url("alert", "acknowledge", alert.pk) + "?next=https://evil.example/")

    assert response["Location"] == admin_url("alert", "change", alert.pk)


def test_acknowledging_needs_the_change_permission(client, django_user_model, alert):
    viewer = django_user_model.objects.create_user("vic", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_alert"))
    client.force_login(viewer)

    page = client.get(admin_url("alert", "changelist")).content.decode()
    assert "pl-ack-button" not in page
    assert client.post(admin_url("alert", "acknowledge", alert.pk)).status_code == 403
    alert.refresh_from_db()
    assert alert.state == Alert.STATE_NEW


def test_alerts_cannot_be_added_edited_or_deleted(admin_client, alert):
    assert admin_client.get(admin_url("alert", "add")).status_code == 403
    assert admin_client.post(admin_url("alert", "change", alert.pk), {"message": "x"}).status_code == 403
    assert admin_client.get(admin_url("alert", "delete", alert.pk)).status_code == 403


def test_the_alert_page_shows_figures_reasons_and_webhook_deliveries(admin_client, alert):
    hook = Webhook.objects.create(project=alert.project, url="https://hooks.example/promptledger")
    WebhookDelivery.objects.create(alert=alert, webhook=hook, status=WebhookDelivery.PENDING, attempts=3,
                                   last_error="HTTP 503")

    page = admin_client.get(admin_url("alert", "change", alert.pk)).content.decode()

    assert "https://hooks.example/promptledger" in page
    assert '<span class="pl-delivery pl-delivery-pending">pending</span>' in page
    assert "HTTP 503" in page and ">3<" in page
    assert f"{alert.figures['payback_months']} months" in page
    assert alert.figures["reasons"][0].replace("'", "&#x27;") in page


# --- advisor settings and webhooks ------------------------------------------------------------------


def test_advisor_settings_are_edited_with_units_in_the_labels(admin_client, triage):
    settings_row = AdvisorSettings.objects.get(project=triage.project)
    form = page_form(admin_client, admin_url("advisorsettings", "change", settings_row.pk))
    assert form.fields["payback_horizon_months"].label == "Payback horizon (months)"
    assert form.fields["data_preparation_cost"].label == "Data-preparation cost (USD)"
    assert all(form.fields[name].help_text for name in form.fields)

    response = admin_client.post(admin_url("advisorsettings", "change", settings_row.pk), {
        "payback_horizon_months": "6", "data_preparation_cost": "2000", "epochs": "2",
        "residual_instruction_tokens": "40", "prefill_ms_per_token": "0.1", "volume_floor_calls_per_month": "60000",
        "min_approved_examples": "400", "max_versions_last_30_days": "3",
        "alert_emails": "ops@example.com,\n billing@example.com",
    })

    assert response.status_code == 302
    settings_row.refresh_from_db()
    assert settings_row.alert_emails == "ops@example.com, billing@example.com"
    assert (settings_row.payback_horizon_months, settings_row.epochs) == (6, 2)


def test_a_bad_alert_address_is_named(admin_client, triage):
    settings_row = AdvisorSettings.objects.get(project=triage.project)

    response = admin_client.post(admin_url("advisorsettings", "change", settings_row.pk), {
        "payback_horizon_months": "12", "data_preparation_cost": "0", "epochs": "3",
        "residual_instruction_tokens": "50", "prefill_ms_per_token": "0.2", "volume_floor_calls_per_month": "50000",
        "min_approved_examples": "500", "max_versions_last_30_days": "2", "alert_emails": "ops@example.com, not-an-address",
    })

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["alert_emails"] == [
        "Not an email address: not-an-address. Separate addresses with commas."
    ]


def test_webhooks_are_added_and_listed_with_their_deliveries(admin_client, alert):
    response = admin_client.post(admin_url("webhook", "add"), {
        "project": alert.project.pk, "url": "https://hooks.example/in", "active": "on",
    })
    assert response.status_code == 302
    hook = Webhook.objects.get()
    WebhookDelivery.objects.create(alert=alert, webhook=hook, status=WebhookDelivery.DELIVERED, attempts=1)

    page = admin_client.get(admin_url("webhook", "changelist")).content.decode()

    assert "https://hooks.example/in" in page
    assert "1 delivered, 0 pending, 0 failed" in page
    assert page_form(admin_client, admin_url("webhook", "change", hook.pk)).fields["url"].help_text
