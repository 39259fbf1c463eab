"""Reads of the catalogue: the row in force for a model, and the whole catalogue at a moment."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from prompts_app.models import ModelPrice
from prompts_app.selectors.pricing import catalogue_in_force, price_in_force


def price(project, model, day, input_per_1m):
    return ModelPrice.objects.create(
        project=project, model=model, effective_from=dt.datetime(*day, tzinfo=dt.UTC),
        input_per_1m=Decimal(input_per_1m), output_per_1m=Decimal("1"),
    )


def test_the_catalogue_at_a_moment_is_each_models_latest_row_by_then(empty_project, django_assert_num_queries):
    old = price(empty_project, "a", (2026, 1, 1), "1")
    new = price(empty_project, "a", (2026, 6, 1), "2")
    later = price(empty_project, "a", (2027, 1, 1), "3")
    b = price(empty_project, "b", (2026, 3, 1), "5")
    price(empty_project, "c", (2026, 12, 1), "7")  # not yet in force in June

    with django_assert_num_queries(1):
        june = catalogue_in_force(project=empty_project, at=dt.datetime(2026, 6, 15, tzinfo=dt.UTC))

    assert june == [new, b]
    assert catalogue_in_force(project=empty_project, at=dt.date(2026, 2, 1)) == [old]
    assert catalogue_in_force(project=empty_project, at=dt.date(2027, 1, 1))[0] == later
    assert catalogue_in_force(project=empty_project, at=dt.date(2025, 1, 1)) == []


def test_the_catalogue_never_shows_another_projects_rows(empty_project, seeded_project):
    price(empty_project, "gpt-4o-mini", (2026, 1, 1), "9")

    assert [p.project_id for p in catalogue_in_force(project=empty_project)] == [empty_project.pk]
    seeded = catalogue_in_force(project=seeded_project)
    assert {p.project_id for p in seeded} == {seeded_project.pk}
    assert len(seeded) == ModelPrice.objects.filter(project=seeded_project).values("model").distinct().count()


def test_the_price_in_force_for_one_model(empty_project):
    old = price(empty_project, "a", (2026, 1, 1), "1")
    new = price(empty_project, "a", (2026, 6, 1), "2")

    assert price_in_force(project=empty_project, model="a", at=dt.date(2026, 5, 31)) == old
    assert price_in_force(project=empty_project, model="a", at=dt.date(2026, 6, 1)) == new
    assert price_in_force(project=empty_project, model="a") == new
    assert price_in_force(project=empty_project, model="a", at=dt.date(2025, 1, 1)) is None
