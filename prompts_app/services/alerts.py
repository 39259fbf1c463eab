"""Fine-tuning alerts: stored once per change of verdict, emailed, and POSTed to the
project's webhooks with retries.

Network I/O never runs inside a transaction or under a row lock: a worker claims
the email or the delivery with a conditional update (a lease, so a worker that
died lets it lapse), commits, sends, then records the outcome. Of two workers
given the same message, one wins the claim and the other skips.
"""

from __future__ import annotations

import datetime as dt

import httpx
from django.conf import settings as django_settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
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

# Longer than any one send can take (the SMTP and HTTP timeouts are far shorter),
# so a claim lapses only when its worker died.
CLAIM_LEASE = dt.timedelta(minutes=5)


# --- alerts -----------------------------------------------------------------------


def _alert_message(prompt: Prompt, advice: dict, kind: str) -> str:
    figures = advice.get("figures") or {}
    if kind == Alert.KIND_FINE_TUNE:
        return (
            f"Fine-tuning now pays off for '{prompt.name}': saves ${figures.get('monthly_savings')} a month, "
            f"pays back in {figures.get('payback_months')} months."
        )
    return f"Fine-tuning no longer pays off for '{prompt.name}' (verdict now: {advice['verdict']})."


def alert_create(
    *,
    prompt: Prompt,
    kind: str,
    advice: dict,
    message: str | None = None,
    figures: dict | None = None,
) -> Alert:
    """Store an alert and queue its email and webhooks (after commit). The verdict
    alerts word themselves from `advice`; the others bring `message` and `figures`."""
    alert = Alert.objects.create(
        project=prompt.project,
        prompt=prompt,
        kind=kind,
        message=message or _alert_message(prompt, advice, kind),
        figures={
            "verdict": advice["verdict"],
            **(advice.get("figures") or {}),
            "reasons": advice["reasons"],
            **(figures or {}),
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


def alert_email_send(*, alert_id: int, now: dt.datetime | None = None) -> bool:
    """Email an alert to the project's addresses, once; True if an email went out.

    A send that raises releases the claim, so the sweeper tries again later."""
    now = now or timezone.now()
    claimed = (
        Alert.objects.filter(pk=alert_id, emailed_at__isnull=True)
        .filter(Q(email_claimed_until__isnull=True) | Q(email_claimed_until__lt=now))
        .update(email_claimed_until=now + CLAIM_LEASE)
    )
    if not claimed:
        return False  # sent already, or another worker is sending it
    alert = Alert.objects.select_related("project", "prompt").get(pk=alert_id)
    recipients = [
        a.strip()
        for a in advice.advisor_settings_for(alert.project).alert_emails.split(",")
        if a.strip()
    ]
    if recipients:
        reasons = "\n".join(f"- {r}" for r in alert.figures.get("reasons", []))
        try:
            send_mail(
                subject=f"[PromptLedger] {alert.message}",
                message=f"{alert.message}\n\n{reasons}\n",
                from_email=django_settings.DEFAULT_FROM_EMAIL,
                recipient_list=recipients,
            )
        except Exception:
            Alert.objects.filter(pk=alert_id).update(email_claimed_until=None)
            raise
    Alert.objects.filter(pk=alert_id).update(emailed_at=timezone.now(), email_claimed_until=None)
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


def _delivery_claim(delivery_id: int, now: dt.datetime) -> WebhookDelivery | None:
    """Take the lease on a pending delivery and count the attempt; None when it is
    delivered, given up, or leased by another worker."""
    claimed = (
        WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDelivery.PENDING)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + CLAIM_LEASE, attempts=F("attempts") + 1)
    )
    if not claimed:
        return None
    return WebhookDelivery.objects.select_related("alert__project", "alert__prompt", "webhook").get(
        pk=delivery_id
    )


def _post(delivery: WebhookDelivery) -> str:
    """POST the alert; "" when the receiver took it, else what went wrong."""
    try:
        response = httpx.post(
            delivery.webhook.url,
            json=webhook_payload(delivery.alert),
            headers={
                "Idempotency-Key": f"promptledger-alert-{delivery.alert_id}-{delivery.webhook_id}"
            },
            timeout=WEBHOOK_TIMEOUT_SECONDS,
        )
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    return "" if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"


def webhook_deliver(*, delivery_id: int, now: dt.datetime | None = None) -> str:
    """POST the alert to one webhook: claim, send outside any transaction, record.
    On failure the next attempt is scheduled with exponential backoff (capped at an
    hour) and the sweeper sends it; after WEBHOOK_MAX_ATTEMPTS it is given up."""
    now = now or timezone.now()
    delivery = _delivery_claim(delivery_id, now)
    if delivery is None:
        return "skipped"
    error = _post(delivery)
    ours = WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDelivery.PENDING)
    if not error:
        ours.update(
            status=WebhookDelivery.DELIVERED, delivered_at=now, last_error="", claimed_until=None
        )
        return WebhookDelivery.DELIVERED
    status = (
        WebhookDelivery.FAILED
        if delivery.attempts >= WEBHOOK_MAX_ATTEMPTS
        else WebhookDelivery.PENDING
    )
    # Only while the lease is still ours: a later claim's outcome is the one that counts.
    ours.filter(attempts=delivery.attempts).update(
        status=status,
        last_error=error[:1000],
        next_attempt_at=now + dt.timedelta(seconds=min(3600, 2**delivery.attempts)),
        claimed_until=None,
    )
    return status


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
