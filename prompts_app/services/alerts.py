"""Fine-tuning alerts: stored once per change of verdict, emailed, and POSTed to the
project's webhooks with retries (each delivery claimed, then sent outside any
transaction)."""

from __future__ import annotations

import datetime as dt
import re

import httpx
from django.conf import settings as django_settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from prompts_app.infra import jobs
from prompts_app.models import (
    Alert,
    Prompt,
    Webhook,
    WebhookDelivery,
)

# advice imports this module: reach it through the package at call time
from prompts_app.services import advice

WINDOW_DAYS = 30
EXAMPLES_USED = re.compile(r"\bexamples\b")
JINJA_TAGS = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


# --- alerts -----------------------------------------------------------------------


def _alert_message(prompt: Prompt, advice: dict, kind: str) -> str:
    figures = advice.get("figures") or {}
    if kind == Alert.KIND_FINE_TUNE:
        return (
            f"Fine-tuning now pays off for '{prompt.name}': saves ${figures.get('monthly_savings')} a month, "
            f"pays back in {figures.get('payback_months')} months."
        )
    return f"Fine-tuning no longer pays off for '{prompt.name}' (verdict now: {advice['verdict']})."


def alert_create(*, prompt: Prompt, kind: str, advice: dict) -> Alert:
    alert = Alert.objects.create(
        project=prompt.project,
        prompt=prompt,
        kind=kind,
        message=_alert_message(prompt, advice, kind),
        figures={
            "verdict": advice["verdict"],
            **(advice.get("figures") or {}),
            "reasons": advice["reasons"],
        },
    )
    deliveries = [
        WebhookDelivery.objects.create(alert=alert, webhook=webhook)
        for webhook in Webhook.objects.filter(project=prompt.project, active=True)
    ]
    transaction.on_commit(
        lambda: jobs.send("prompts_app.tasks.alert_email_send", alert_id=alert.pk)
    )
    for delivery in deliveries:
        transaction.on_commit(
            lambda d=delivery: jobs.send("prompts_app.tasks.webhook_deliver", delivery_id=d.pk)
        )
    return alert


def alert_acknowledge(*, alert: Alert, actor: str) -> Alert:
    if alert.state != Alert.STATE_ACKNOWLEDGED:
        alert.state = Alert.STATE_ACKNOWLEDGED
        alert.acknowledged_at = timezone.now()
        alert.acknowledged_by = actor[:150]
        alert.save(update_fields=["state", "acknowledged_at", "acknowledged_by"])
    return alert


def alert_email_send(*, alert_id: int) -> bool:
    """Email an alert to the project's addresses, once."""
    with transaction.atomic():
        alert = (
            Alert.objects.select_for_update().select_related("project", "prompt").get(pk=alert_id)
        )
        if alert.emailed_at is not None:
            return False
        recipients = [
            a.strip()
            for a in advice.advisor_settings_for(alert.project).alert_emails.split(",")
            if a.strip()
        ]
        if recipients:
            reasons = "\n".join(f"- {r}" for r in alert.figures.get("reasons", []))
            send_mail(
                subject=f"[PromptLedger] {alert.message}",
                message=f"{alert.message}\n\n{reasons}\n",
                from_email=django_settings.DEFAULT_FROM_EMAIL,
                recipient_list=recipients,
            )
        alert.emailed_at = timezone.now()
        alert.save(update_fields=["emailed_at"])
    return bool(recipients)


WEBHOOK_MAX_ATTEMPTS = 20
WEBHOOK_TIMEOUT_SECONDS = 5.0


def webhook_payload(alert: Alert) -> dict:
    return {
        "alert_id": alert.pk,
        "kind": alert.kind,
        "project": alert.project.name,
        "prompt": alert.prompt.name,
        "message": alert.message,
        "figures": alert.figures,
        "created_at": alert.created_at.isoformat(),
    }


def webhook_deliver(*, delivery_id: int, now: dt.datetime | None = None) -> str:
    """POST the alert to one webhook. On failure, the next attempt is scheduled
    with exponential backoff (capped at an hour) and the sweeper sends it."""
    now = now or timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("alert__project", "alert__prompt", "webhook")
            .filter(pk=delivery_id, status=WebhookDelivery.PENDING)
            .first()
        )
        if delivery is None:
            return "skipped"
        try:
            response = httpx.post(
                delivery.webhook.url,
                json=webhook_payload(delivery.alert),
                headers={
                    "Idempotency-Key": f"promptledger-alert-{delivery.alert_id}-{delivery.webhook_id}"
                },
                timeout=WEBHOOK_TIMEOUT_SECONDS,
            )
            ok = 200 <= response.status_code < 300
            error = "" if ok else f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            ok, error = False, f"{type(exc).__name__}: {exc}"
        delivery.attempts += 1
        if ok:
            delivery.status, delivery.delivered_at, delivery.last_error = (
                WebhookDelivery.DELIVERED,
                now,
                "",
            )
        else:
            delivery.last_error = error[:1000]
            if delivery.attempts >= WEBHOOK_MAX_ATTEMPTS:
                delivery.status = WebhookDelivery.FAILED
            delivery.next_attempt_at = now + dt.timedelta(seconds=min(3600, 2**delivery.attempts))
        delivery.save()
        return delivery.status


def deliveries_sweep(*, now: dt.datetime | None = None) -> int:
    """Re-send deliveries whose next attempt is due, and emails never sent."""
    now = now or timezone.now()
    due = WebhookDelivery.objects.filter(status=WebhookDelivery.PENDING, next_attempt_at__lte=now)
    count = 0
    for delivery_id in due.values_list("pk", flat=True):
        jobs.send("prompts_app.tasks.webhook_deliver", delivery_id=delivery_id)
        count += 1
    for alert_id in Alert.objects.filter(
        emailed_at__isnull=True, created_at__lt=now - dt.timedelta(minutes=1)
    ).values_list("pk", flat=True):
        jobs.send("prompts_app.tasks.alert_email_send", alert_id=alert_id)
    return count
