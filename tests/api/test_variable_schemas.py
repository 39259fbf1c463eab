"""Variable schemas over HTTP: standard JSON Schema (draft 2020-12).

An unusable schema is refused on save with a 400 naming ``variables`` and nothing is
stored; a saved schema is enforced keyword by keyword on render; remote references
are never fetched; a hostile pattern answers a quick 400; the SDK renders a resolved
prompt exactly as the server does.
"""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from promptledger import Prompt, RenderError
from prompts_app.models import Prompt as PromptModel
from prompts_app.models import PromptVersion
from tests.admin.conftest import admin_url, form_data, page_form

pytestmark = pytest.mark.django_db

TEMPLATE = "Order {{ order_id }} for {{ email }} ({{ kind }}): {{ total }}"

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {"money": {"type": "number", "minimum": 0}},
    "properties": {
        "order_id": {"type": "string", "pattern": "^[A-Z]{2}-\\d{4,8}$"},
        "email": {"type": "string", "format": "email"},
        "kind": {"anyOf": [{"const": "retail"}, {"const": "wholesale"}]},
        "total": {"$ref": "#/$defs/money"},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"sku": {"type": "string", "minLength": 1}},
                "required": ["sku"],
            },
        },
    },
    "required": ["order_id", "email", "kind", "total"],
    "additionalProperties": False,
}

GOOD = {"order_id": "AB-1234", "email": "ada@example.com", "kind": "retail", "total": 12.5}


@pytest.fixture
def no_fetch(monkeypatch):
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError(f"a URL was opened: {args!r}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(urllib.request.OpenerDirector, "open", refuse)
    return attempts


def create_prompt(client, name="orders"):
    response = client.post("/api/v1/prompts/", {"name": name, "kind": "text"}, format="json")
    assert response.status_code == 201, response.content


def post_version(client, name="orders", **body):
    return client.post(
        f"/api/v1/prompts/{name}/versions/", {"template": TEMPLATE, **body}, format="json"
    )


def render(client, variables, name="orders"):
    return client.post(f"/api/v1/prompts/{name}/render", {"variables": variables}, format="json")


@pytest.fixture
def orders(writer):
    create_prompt(writer.client)
    response = post_version(writer.client, variables=SCHEMA)
    assert response.status_code == 201, response.content
    return writer


BAD_SCHEMAS = [
    ("unknown-type", {"type": "object", "properties": {"x": {"type": "strng"}}},
     "The variables schema is invalid at properties.x.type: \"strng\" is not a JSON Schema type"),
    ("typo", {"type": "object", "properties": {"x": {"maxLenght": 3}}},
     "at properties.x.maxLenght: unknown keyword 'maxLenght' (did you mean 'maxLength'?)"),
    ("bad-pattern", {"type": "object", "properties": {"x": {"pattern": "(["}}},
     "at properties.x.pattern: '([' is not a valid regular expression"),
    ("unknown-format", {"type": "object", "properties": {"x": {"format": "credit-card"}}},
     "at properties.x.format: format 'credit-card' is not supported"),
    ("remote-ref", {"type": "object", "properties": {"x": {"$ref": "https://example.com/x.json"}}},
     "at properties.x.$ref: \"https://example.com/x.json\" is not a local reference"),
    ("file-ref", {"type": "object", "properties": {"x": {"$ref": "file:///etc/passwd"}}},
     "is not a local reference"),
    ("dangling-ref", {"type": "object", "properties": {"x": {"$ref": "#/$defs/x"}}},
     "does not point to anything in this schema"),
    ("ref-loop", {"type": "object", "$defs": {"a": {"$ref": "#/$defs/a"}}, "properties": {"x": {"$ref": "#/$defs/a"}}},
     "refers back to itself"),
    ("old-draft", {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"},
     "only JSON Schema draft 2020-12 is supported"),
    ("negative", {"type": "object", "properties": {"x": {"minItems": -2}}},
     "at properties.x.minItems: must be at least 0"),
]  # fmt: skip


@pytest.mark.parametrize(
    "schema,text", [b[1:] for b in BAD_SCHEMAS], ids=[b[0] for b in BAD_SCHEMAS]
)
def test_an_invalid_schema_is_refused_on_save_and_nothing_is_stored(writer, schema, text, no_fetch):
    create_prompt(writer.client)
    assert post_version(writer.client, template="v1").status_code == 201
    before = PromptVersion.objects.count()

    response = post_version(writer.client, variables=schema)

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_schema"
    assert error["field"] == "variables"
    assert text in error["message"]
    assert error["details"]["where"] == "variables"
    assert PromptVersion.objects.count() == before
    assert PromptModel.objects.get(name="orders").latest_version_number == 1
    assert writer.client.get("/api/v1/prompts/orders/").json()["latest_version"] == 1
    assert no_fetch == []


def test_a_valid_schema_is_stored_as_given(orders):
    stored = PromptVersion.objects.get(prompt__name="orders", number=1).variables
    assert stored == SCHEMA


def test_every_keyword_of_the_saved_schema_is_enforced_on_render(orders):
    response = render(orders.client, {**GOOD, "items": [{"sku": "A"}]})
    assert response.status_code == 200, response.content
    assert response.json()["text"] == "Order AB-1234 for ada@example.com (retail): 12.5"

    response = render(
        orders.client,
        {
            "order_id": "ab-1",
            "email": "not-an-email",
            "kind": "gift",
            "total": -1,
            "items": [{"sku": "A"}, {"sku": "B"}, {}],
            "extra": True,
        },
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_variables"
    assert error["field"] == "variables"
    assert {e["path"]: e["message"] for e in error["details"]["errors"]} == {
        "email": "must be a valid email address",
        "extra": "is not an allowed property",
        "items[2].sku": "is required",
        "kind": 'must match one of the anyOf options (1: must be "retail", or 2: must be "wholesale")',
        "order_id": "must match the pattern '^[A-Z]{2}-\\d{4,8}$'",
        "total": "must be at least 0",
    }
    assert error["message"].startswith(
        "Invalid variables: extra is not an allowed property; email must be a valid email address;"
    )


def test_a_bool_is_not_a_number_on_render(orders):
    response = render(orders.client, {**GOOD, "total": True})
    assert response.status_code == 400
    assert response.json()["error"]["details"]["errors"] == [
        {"path": "total", "message": "must be a number"}
    ]


def test_missing_variables_are_all_listed(orders):
    response = render(orders.client, {"email": "ada@example.com"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "missing_variables"
    assert error["details"]["missing"] == ["kind", "order_id", "total"]
    assert error["message"] == (
        "Missing 3 required variables: kind, order_id, total. Pass a value for each."
    )


def test_a_catastrophic_pattern_answers_a_quick_400(writer):
    create_prompt(writer.client, "codes")
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": "(x+x+)+y"}}}
    response = writer.client.post(
        "/api/v1/prompts/codes/versions/",
        {"template": "{{ code }}", "variables": schema},
        format="json",
    )
    assert response.status_code == 201, response.content
    started = time.monotonic()
    response = render(writer.client, {"code": "x" * 5000}, name="codes")
    assert time.monotonic() - started < 2.0
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "limit_exceeded"
    assert error["details"]["limit"] == "pattern_seconds"


def test_a_reader_renders_with_the_schema_too(orders, reader):
    assert render(reader.client, GOOD).status_code == 200
    assert render(reader.client, {**GOOD, "total": "12"}).status_code == 400


@pytest.mark.parametrize(
    "variables",
    [
        GOOD,
        {**GOOD, "items": [{"sku": "A"}]},
        {"email": "ada@example.com"},
        {**GOOD, "order_id": "nope", "total": True, "extra": 1},
        {**GOOD, "kind": "gift", "items": [{}, {"sku": ""}]},
        {**GOOD, "email": 5},
    ],
    ids=["good", "good-items", "missing", "invalid", "nested", "type"],
)
def test_the_sdk_renders_a_resolved_prompt_exactly_as_the_server(orders, reader, variables):
    payload = reader.client.get("/api/v1/prompts/orders/resolve").json()
    prompt = Prompt.from_payload(payload)
    assert prompt.variables_schema == SCHEMA

    server = render(reader.client, variables)
    if server.status_code == 200:
        assert prompt.render(variables) == server.json()["text"]
        return
    assert server.status_code == 400
    error = server.json()["error"]
    with pytest.raises(RenderError) as raised:
        prompt.render(variables)
    assert raised.value.code == error["code"]
    assert raised.value.message == error["message"]
    assert json.loads(json.dumps(raised.value.details)) == error["details"]


def test_the_admin_refuses_an_invalid_schema_on_the_schema_field(admin_client, writer):
    create_prompt(writer.client)
    assert post_version(writer.client, template="v1 {{ order_id }}").status_code == 201
    prompt = PromptModel.objects.get(name="orders")
    url = admin_url("prompt", "change", prompt.pk)
    bad = {"type": "object", "properties": {"order_id": {"type": "strng"}}}

    response = admin_client.post(
        url,
        form_data(
            page_form(admin_client, url),
            body="v2 {{ order_id }}",
            variables_schema=json.dumps(bad),
            message="bad schema",
        ),
    )

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "properties.order_id.type" in " ".join(form.errors["variables_schema"])
    assert PromptVersion.objects.filter(prompt=prompt).count() == 1
