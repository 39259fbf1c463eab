"""Promoting a version moves a label through library.label_move, with the
admin user as the actor; refusals are shown, and the history is a timeline."""

from __future__ import annotations

import pytest

from prompts_app.models import Label, LabelMove
from prompts_app.services import library
from tests.admin.conftest import admin_url

pytestmark = pytest.mark.django_db


def _promote(client, prompt, **data):
    return client.post(admin_url("prompt", "promote", prompt.pk),
                       {"label": "production", "reason": "", **data})


def test_the_promote_page_preselects_the_version_from_the_history_link(admin_client, prompt):
    response = admin_client.get(admin_url("prompt", "promote", prompt.pk) + "?version=1")

    assert response.status_code == 200
    assert response.context["form"]["version"].value() == "1"
    assert response.context["form"]["label"].value() == "production"


def test_promoting_moves_the_label_and_records_reason_and_actor(admin_client, prompt):
    response = _promote(admin_client, prompt, version="2", reason="Better CSAT in the pilot")

    assert response.status_code == 302
    assert response["Location"].endswith("#labels")
    label = Label.objects.get(prompt=prompt, name="production")
    assert label.version.number == 2
    assert label.updated_by == "admin"
    move = LabelMove.objects.get(prompt=prompt, label="production")
    assert (move.from_version, move.to_version.number, move.moved_by, move.reason, move.forced) == (
        None, 2, "admin", "Better CSAT in the pilot", False
    )


def test_the_prompt_page_shows_the_label_history_as_a_timeline(admin_client, prompt):
    _promote(admin_client, prompt, version="1", reason="Launch")
    _promote(admin_client, prompt, version="2", reason="Friendlier tone")

    page = admin_client.get(admin_url("prompt", "change", prompt.pk)).content.decode()

    timeline = page[page.index('id="label-history"'):]
    assert timeline.index("Friendlier tone") < timeline.index("Launch")  # newest first
    assert "v1 → <strong>v2</strong>" in timeline
    assert '<span class="pl-actor">admin</span>' in timeline


def test_any_label_name_can_be_moved(admin_client, prompt):
    _promote(admin_client, prompt, version="1", label="staging")

    assert Label.objects.get(prompt=prompt, name="staging").version.number == 1


def test_an_invalid_label_name_is_a_form_error(admin_client, prompt):
    response = _promote(admin_client, prompt, version="1", label="Prod Uction")

    assert response.status_code == 200
    assert response.context["form"].errors["label"]
    assert not Label.objects.exists()


def test_latest_cannot_be_moved(admin_client, prompt):
    response = _promote(admin_client, prompt, version="1", label="latest")

    assert "implicit" in response.context["form"].errors["label"][0]


def test_promoting_to_the_current_version_moves_nothing(admin_client, prompt):
    _promote(admin_client, prompt, version="2")

    response = _promote(admin_client, prompt, version="2")

    assert response.status_code == 302
    assert LabelMove.objects.count() == 1


def test_a_refused_promotion_shows_why_and_moves_nothing(admin_client, prompt):
    # v2 has no passing eval run yet, so a protected production refuses it.
    library.prompt_update(prompt=prompt, protect_production=True)

    response = _promote(admin_client, prompt, version="2")

    assert response.status_code == 200
    errors = response.context["form"].non_field_errors()
    assert errors and errors[0].startswith("Production is protected:")
    assert "Production is protected:" in response.content.decode()
    assert not Label.objects.filter(prompt=prompt).exists()


def test_forcing_a_refused_promotion_needs_a_reason_and_is_recorded(admin_client, prompt):
    library.prompt_update(prompt=prompt, protect_production=True)

    no_reason = _promote(admin_client, prompt, version="2", force="on")
    assert "reason" in no_reason.context["form"].errors["reason"][0]
    assert not LabelMove.objects.exists()

    forced = _promote(admin_client, prompt, version="2", force="on", reason="Hotfix for incident 42")
    assert forced.status_code == 302
    move = LabelMove.objects.get()
    assert move.forced and move.reason == "Hotfix for incident 42" and move.moved_by == "admin"
    assert "forced" in admin_client.get(admin_url("prompt", "change", prompt.pk)).content.decode()


def test_a_label_name_the_prompt_does_not_have_needs_a_confirmation(admin_client, prompt):
    _promote(admin_client, prompt, version="1", label="staging")

    response = _promote(admin_client, prompt, version="2", label="stagign")

    assert response.status_code == 200
    error = response.context["form"].errors["label"][0]
    assert "no label 'stagign'" in error and "staging" in error and "Create a new label" in error
    assert not Label.objects.filter(name="stagign").exists()

    confirmed = _promote(admin_client, prompt, version="2", label="canary", create_label="on")

    assert confirmed.status_code == 302
    assert Label.objects.get(prompt=prompt, name="canary").version.number == 2
