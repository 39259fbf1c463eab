"""API keys in the admin: created through the service, shown once, never
editable, revoked with an action."""

from __future__ import annotations

import pytest

from prompts_app.models import ApiKey
from prompts_app.services import library
from tests.admin.conftest import admin_url

pytestmark = pytest.mark.django_db


def test_adding_a_key_shows_the_raw_key_once(admin_client, acme):
    posted = admin_client.post(admin_url("apikey", "add"),
                               {"project": str(acme.pk), "name": "support-bot", "scopes": ["read", "ingest"]})

    # Post/redirect/get: the POST answers with a redirect, the GET shows the key.
    assert posted.status_code == 302 and posted["Location"] == admin_url("apikey", "created")
    assert "raw_key" not in (posted.context or {})
    response = admin_client.get(posted["Location"])
    assert response.status_code == 200
    raw = response.context["raw_key"]
    key = ApiKey.objects.for_raw_key(raw)
    assert key is not None and key.name == "support-bot" and key.scopes == ["read", "ingest"]
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    assert page.count(raw) == 1  # the copy box, in this response only (never in a message)
    assert "shown only once" in page
    assert key.hashed_key not in page

    later_pages = [admin_client.get(admin_url("apikey", "change", key.pk)),
                   admin_client.get(admin_url("apikey", "changelist"))]
    for later in later_pages:
        assert later.status_code == 200
        assert raw not in later.content.decode()
        assert key.hashed_key not in later.content.decode()
    assert key.prefix in later_pages[1].content.decode()


def test_a_key_needs_at_least_one_scope(admin_client, acme):
    response = admin_client.post(admin_url("apikey", "add"), {"project": str(acme.pk), "name": "x"})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["scopes"]
    assert not ApiKey.objects.filter(name="x").exists()


def test_a_key_cannot_be_edited_or_deleted(admin_client, acme):
    key, _ = library.api_key_create(project=acme, scopes=["read"], name="ro")

    response = admin_client.post(admin_url("apikey", "change", key.pk), {"name": "renamed", "hashed_key": "x"})

    assert response.status_code == 403
    assert admin_client.get(admin_url("apikey", "delete", key.pk)).status_code == 403
    key.refresh_from_db()
    assert key.name == "ro"


def test_revoke_selected_keys_revokes_them_through_the_service(admin_client, acme):
    first, raw_first = library.api_key_create(project=acme, scopes=["read"], name="one")
    second, _ = library.api_key_create(project=acme, scopes=["read"], name="two")
    keep, _ = library.api_key_create(project=acme, scopes=["read"], name="keep")

    response = admin_client.post(
        admin_url("apikey", "changelist"),
        {"action": "revoke_keys", "_selected_action": [str(first.pk), str(second.pk)]},
        follow=True,
    )

    assert response.status_code == 200
    assert "Revoked 2 keys." in response.content.decode()
    first.refresh_from_db()
    second.refresh_from_db()
    keep.refresh_from_db()
    assert first.revoked_at and second.revoked_at and keep.revoked_at is None
    assert ApiKey.objects.for_raw_key(raw_first) is None


def test_revoking_twice_keeps_the_first_revocation_time(admin_client, acme):
    key, _ = library.api_key_create(project=acme, scopes=["read"], name="one")
    library.api_key_revoke(api_key=key)
    revoked_at = key.revoked_at

    response = admin_client.post(admin_url("apikey", "changelist"),
                                 {"action": "revoke_keys", "_selected_action": [str(key.pk)]}, follow=True)

    assert "1 was already revoked" in response.content.decode()
    key.refresh_from_db()
    assert key.revoked_at == revoked_at


def test_reloading_the_key_page_creates_no_second_key_and_shows_the_key_no_more(admin_client, acme):
    posted = admin_client.post(admin_url("apikey", "add"),
                               {"project": str(acme.pk), "name": "once", "scopes": ["read"]})
    first = admin_client.get(posted["Location"])
    raw = first.context["raw_key"]

    reload = admin_client.get(posted["Location"])  # the browser's reload repeats the GET, not the POST

    assert ApiKey.objects.filter(project=acme).count() == 1
    assert reload.status_code == 302 and reload["Location"] == admin_url("apikey", "changelist")
    listing = admin_client.get(reload["Location"])
    assert raw not in listing.content.decode()
    assert "shown only once" in listing.content.decode()
    assert "prompts_app.new_api_key" not in admin_client.session
