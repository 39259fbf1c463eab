"""The catalogue rows in the admin: every field shown, grouped, and editable."""

from __future__ import annotations

import datetime as dt

from django.urls import reverse

from prompts_app.models import ModelPrice


def test_a_catalogue_row_shows_its_caching_tiers_fine_tuning_lifecycle_and_sources(admin_client, seeded_project):
    row = ModelPrice.objects.get(project=seeded_project, model="gpt-4o-mini")

    response = admin_client.get(reverse("admin:prompts_app_modelprice_change", args=[row.pk]))

    page = response.content.decode()
    for heading in ("Prompt caching", "Batch and flex", "Fine-tuned model and training", "Lifecycle", "Source"):
        assert f"{heading}</h2>" in page
    form = response.context["adminform"].form
    assert form["training_available_until"].value() == dt.date(2027, 1, 6)
    assert form["shutdown_date"].value() == dt.date(2027, 1, 14)
    assert form.fields["ft_hosting_per_month"].label == "Fine-tuned hosting"
    assert "first day the model, and fine-tunes on it, no longer serve" in form.fields["shutdown_date"].help_text


def test_the_price_list_shows_training_cut_off_and_shutdown(admin_client, seeded_project):
    response = admin_client.get(
        reverse("admin:prompts_app_modelprice_changelist") + f"?project__id__exact={seeded_project.pk}&q=gpt-4o-mini"
    )

    assert "2027-01-06 / 2027-01-14" in response.content.decode()
