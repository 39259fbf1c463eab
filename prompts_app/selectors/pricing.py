"""Reads of the price and lifecycle catalogue.

A project's catalogue is its `ModelPrice` rows; a price change is a new row
with a later `effective_from`, so "the catalogue at a moment" is, per model,
the latest row that had taken effect by then.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from prompts_app.models import ModelPrice, Project


def _moment(at: dt.datetime | dt.date | None) -> dt.datetime:
    """`at` as an aware datetime; a date means the whole of that day (UTC)."""
    if at is None:
        return timezone.now()
    if isinstance(at, dt.datetime):
        return at
    return dt.datetime.combine(at, dt.time.max, tzinfo=dt.UTC)


def price_in_force(
    *, project: Project, model: str, at: dt.datetime | dt.date | None = None
) -> ModelPrice | None:
    """The row of `model` in force at `at` (now by default), or None if it has none yet."""
    return ModelPrice.objects.in_force(project=project, model=model, at=_moment(at))


def catalogue_in_force(
    *, project: Project, at: dt.datetime | dt.date | None = None
) -> list[ModelPrice]:
    """Every model's row in force at `at` (now by default), ordered by model; one query.

    Portable SQL (a correlated subquery, not PostgreSQL's DISTINCT ON), because
    the demo runs on SQLite.
    """
    moment = _moment(at)
    latest = (
        ModelPrice.objects.filter(
            project=project, model=OuterRef("model"), effective_from__lte=moment
        )
        .order_by("-effective_from")
        .values("pk")[:1]
    )
    return list(
        ModelPrice.objects.filter(
            project=project, effective_from__lte=moment, pk=Subquery(latest)
        ).order_by("model")
    )
