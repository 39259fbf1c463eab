"""Advice reads: the what-if calculator and the fine-tuning alerts of a project."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q

from prompts_app.errors import DomainError, NotFound
from prompts_app.lib import advisor, strategies, what_if
from prompts_app.models import (
    AdviceState,
    Alert,
    Project,
    Prompt,
    WebhookDelivery,
)

# Months of cumulative savings against the one-time cost that every advice shows
# (the measured advice, the what-if, the API and the admin alike).
PAYBACK_SCHEDULE_MONTHS = 24


def what_if_advice(*, inputs: dict[str, Any]) -> dict:
    """The advisor on inputs given by hand (nothing read from the ledger, nothing
    stored), with the payback schedule over PAYBACK_SCHEDULE_MONTHS, and the
    strategies compared (`lib.strategies.compare`) under "strategies".

    `inputs` takes the advisor's keys (`advisor.WHAT_IF_ALL_KEYS`) and the
    optional strategy keys (`what_if.STRATEGY_KEYS`; see
    `what_if.validate_what_if`). The seed's keys alone give the same verdict
    and figures as before, and two strategies: keep, and the fine-tune the
    inputs describe (model and provider "what-if"). A prompt's
    `what_if.strategy_inputs_as_what_if` body gives that prompt's figures.

    Bad inputs raise `DomainError` naming the first bad field; `details["errors"]`
    maps every bad field to its problem."""
    try:
        advisor_inputs, strategy_inputs = what_if.validate_what_if(inputs)
    except advisor.AdvisorInputError as exc:
        raise DomainError(
            f"{exc.field}: {exc.message}", field=exc.field, details={"errors": exc.errors}
        ) from None
    result = advisor.advise(advisor_inputs).as_dict(schedule_months=PAYBACK_SCHEDULE_MONTHS)
    result["strategies"] = [found.as_dict() for found in strategies.compare(strategy_inputs)]
    return result


# --- the daily advice pass's verdicts -------------------------------------------


def advice_state_get(*, prompt: Prompt) -> AdviceState | None:
    """The verdict the daily advice pass last stored for the prompt, if any."""
    return AdviceState.objects.filter(prompt=prompt).first()


def advice_state_list():
    """Every prompt's last verdict, by project and prompt name."""
    return AdviceState.objects.select_related("prompt__project").order_by(
        "prompt__project__name", "prompt__name"
    )


# --- alerts -------------------------------------------------------------------


def alert_new_count(*, prompt: Prompt) -> int:
    """Alerts about the prompt nobody has acknowledged yet."""
    return Alert.objects.filter(prompt=prompt, state=Alert.STATE_NEW).count()



def alert_list(*, project: Project, state: str | None = None):
    alerts = Alert.objects.filter(project=project).select_related("prompt")
    if state is not None:
        if state not in (Alert.STATE_NEW, Alert.STATE_ACKNOWLEDGED):
            raise DomainError("'state' must be new or acknowledged.", field="state")
        alerts = alerts.filter(state=state)
    return alerts.order_by("-created_at", "-id")


def alert_get(*, project: Project, alert_id: Any) -> Alert:
    try:
        pk = int(alert_id)
    except (TypeError, ValueError):
        raise DomainError(f"'{alert_id}' is not an alert id.", field="id") from None
    found = Alert.objects.filter(project=project, pk=pk).select_related("prompt").first()
    if found is None:
        raise NotFound(f"No alert {pk} in project '{project.name}'.", field="id")
    return found


def alert_list_narrowed(*, alerts, state: str | None = None, kind: str | None = None):
    """`alerts` (the admin's list) narrowed to one state and/or one kind; an empty
    or None value leaves that side whole. Unlike `alert_list`, an unknown value is
    no error: it comes from a list filter's URL and simply matches nothing."""
    if state:
        alerts = alerts.filter(state=state)
    if kind:
        alerts = alerts.filter(kind=kind)
    return alerts


# --- webhooks -------------------------------------------------------------------


def webhook_list_counted(*, webhooks):
    """`webhooks` (the admin's list) with `delivered`, `pending` and `failed`
    delivery counts in the list's own query, instead of three counts per row."""
    return webhooks.annotate(
        delivered=Count("deliveries", filter=Q(deliveries__status=WebhookDelivery.DELIVERED)),
        pending=Count("deliveries", filter=Q(deliveries__status=WebhookDelivery.PENDING)),
        failed=Count("deliveries", filter=Q(deliveries__status=WebhookDelivery.FAILED)),
    )


def webhook_delivery_list_with_webhook(*, deliveries):
    """`deliveries` (an alert's, on its admin page) with their webhook joined: each
    row shows the webhook's URL."""
    return deliveries.select_related("webhook")
