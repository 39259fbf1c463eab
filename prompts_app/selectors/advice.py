"""Advice reads: the fine-tuning alerts of a project."""

from __future__ import annotations

from typing import Any

from prompts_app.errors import DomainError, NotFound
from prompts_app.models import (
    Alert,
    Project,
)

# --- alerts -------------------------------------------------------------------


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
