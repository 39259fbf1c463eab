"""Keys: bearer only, scoped, per project; an outsider sees nothing of ours."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from prompts_app.models import ApiKey, Prompt
from prompts_app.services import library
from tests.factories import PromptFactory, make_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def greet(acme):
    prompt = PromptFactory(project=acme, name="greet")
    make_version(prompt, "Hi {{ name }}")
    return prompt


def test_no_key_is_a_401_that_says_how_to_authenticate(anonymous, greet):
    response = anonymous.get("/api/v1/prompts/")
    assert response.status_code == 401
    assert "Bearer" in response.json()["error"]["message"]
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("header", ["Bearer pl_wrong", "Token abc", "Bearer", "Basic dXNlcjpwYXNz"])
def test_wrong_keys_are_refused(anonymous, greet, header):
    anonymous.credentials(HTTP_AUTHORIZATION=header)
    assert anonymous.get("/api/v1/prompts/").status_code == 401


def test_revoked_key_is_refused(writer, greet):
    assert writer.client.get("/api/v1/prompts/").status_code == 200
    library.api_key_revoke(api_key=ApiKey.objects.get(name="writer"))
    assert writer.client.get("/api/v1/prompts/").status_code == 401


def test_keys_are_stored_hashed(writer):
    stored = ApiKey.objects.get(name="writer")
    assert writer.raw_key not in (stored.hashed_key, stored.prefix)
    assert stored.hashed_key == ApiKey.hash_raw(writer.raw_key)


def test_read_only_key_cannot_write(reader, greet):
    response = reader.client.post("/api/v1/prompts/", {"name": "new"}, format="json")
    assert response.status_code == 403
    assert "write" in response.json()["error"]["message"]
    response = reader.client.post(
        "/api/v1/prompts/greet/versions/", {"template": "x"}, format="json"
    )
    assert response.status_code == 403
    response = reader.client.put(
        "/api/v1/prompts/greet/labels/production", {"version": 1}, format="json"
    )
    assert response.status_code == 403
    assert Prompt.objects.get().latest_version_number == 1


def test_read_only_key_can_read_and_render(reader, greet):
    assert reader.client.get("/api/v1/prompts/greet/resolve").status_code == 200
    response = reader.client.post(
        "/api/v1/prompts/greet/render", {"variables": {"name": "Bo"}}, format="json"
    )
    assert response.json()["text"] == "Hi Bo"


def test_ingest_only_key_cannot_read_prompts(ingester, greet):
    assert ingester.client.get("/api/v1/prompts/greet/resolve").status_code == 403


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("get", "/api/v1/prompts/greet/", None),
        ("get", "/api/v1/prompts/greet/versions/", None),
        ("get", "/api/v1/prompts/greet/versions/1/", None),
        ("get", "/api/v1/prompts/greet/resolve", None),
        ("post", "/api/v1/prompts/greet/render", {"variables": {"name": "x"}}),
        ("post", "/api/v1/prompts/greet/versions/", {"template": "stolen"}),
        ("put", "/api/v1/prompts/greet/labels/production", {"version": 1}),
        ("get", "/api/v1/prompts/greet/labels/", None),
        ("get", "/api/v1/prompts/greet/diff?from=1&to=1", None),
    ],
)
def test_outsider_gets_404_for_our_prompts(outsider, greet, method, path, body):
    response = getattr(outsider.client, method)(path, body, format="json")
    assert response.status_code == 404
    assert Prompt.objects.get(name="greet").latest_version_number == 1


def test_create_api_key_command_creates_the_project_and_prints_the_key_once(db, capsys):
    call_command("create_api_key", "--project", "newco", "--scopes", "read,ingest", "--name", "ci")
    raw = capsys.readouterr().out.strip()
    key = ApiKey.objects.for_raw_key(raw)
    assert key.project.name == "newco"
    assert key.scopes == ["read", "ingest"]
    assert key.name == "ci"


def test_create_api_key_rejects_unknown_scopes(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="admin"):
        call_command("create_api_key", "--project", "newco", "--scopes", "read,admin")


def test_openapi_schema_builds_and_lists_the_endpoints(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/v1/prompts/",
        "/api/v1/prompts/{name}/resolve",
        "/api/v1/prompts/{name}/render",
        "/api/v1/render",
        "/api/v1/prompts/{name}/labels/{label}",
        "/api/v1/prompts/{name}/diff",
    ):
        assert path in paths


def test_api_docs_page_is_served_without_a_cdn(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"cdn" not in response.content.lower()


def test_a_key_revoked_by_another_process_is_refused_within_the_cache_ttl(writer, greet, settings):
    import time

    from django.utils import timezone

    settings.API_KEY_CACHE_SECONDS = 1
    assert writer.client.get("/api/v1/prompts/").status_code == 200
    # Another process revokes it: this process's cache does not hear of it…
    ApiKey.objects.filter(name="writer").update(revoked_at=timezone.now())
    assert writer.client.get("/api/v1/prompts/").status_code == 200
    time.sleep(1.1)
    # …until the cached lookup expires.
    assert writer.client.get("/api/v1/prompts/").status_code == 401
