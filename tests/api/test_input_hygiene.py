"""Input hygiene on every API endpoint: no client input is ever a 500.

The endpoints are read from the URL conf (everything under /api/), so a new
endpoint is swept without anyone adding it here; a test checks that the URL
conf and the OpenAPI schema list the same paths. Each endpoint and method gets
the hostile inputs of issue 11: an oversized body, deep JSON, lone surrogates,
NUL characters (in the body, the path and the query), impossible dates, numbers
that overflow to infinity and the wrong Content-Type. Every refusal must be a
4xx in the error shape `{"error": {"code", "message", "field", "details"}}`,
name the field where there is one, hold no Python repr or heap address, and
leave everything already stored exactly as it was.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from prompts_app.models import Alert, UsageEvent
from prompts_app.services import evals, library
from tests.factories import PromptFactory, make_version

pytestmark = pytest.mark.django_db

# --- the endpoints, from the URL conf ---------------------------------------------------

NON_ACTIONS = {"options", "head", "trace"}


@dataclass(frozen=True)
class Endpoint:
    route: str  # e.g. "/api/v1/prompts/<str:name>/versions/"
    name: str
    method: str

    def __str__(self) -> str:
        return f"{self.method} {self.route}"

    @property
    def params(self) -> list[str]:
        return re.findall(r"<(?:\w+:)?(\w+)>", self.route)

    def path(self, **overrides: str) -> str:
        values = {**PATH_VALUES, **overrides}
        return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values.get(m.group(1), "x"), self.route)

    @property
    def takes_body(self) -> bool:
        return self.method in ("POST", "PUT", "PATCH")


def _walk(patterns, prefix: str = ""):
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            yield route, entry


def api_endpoints() -> list[Endpoint]:
    found = []
    for route, entry in _walk(get_resolver().url_patterns):
        if not route.startswith("api/"):
            continue
        view_class = getattr(entry.callback, "cls", None) or getattr(
            entry.callback, "view_class", None
        )
        assert view_class is not None, f"/{route} is not a class-based view"
        for method in view_class.http_method_names:
            if method not in NON_ACTIONS and hasattr(view_class, method):
                found.append(Endpoint("/" + route, entry.name or route, method.upper()))
    return found


ENDPOINTS = api_endpoints()
BODY_ENDPOINTS = [e for e in ENDPOINTS if e.takes_body]

# Values for the path parameters, naming what the `world` fixture stores.
PATH_VALUES = {"name": "greet", "number": "1", "label": "production", "set_name": "pairs"}


def test_the_sweep_covers_every_endpoint_of_the_url_conf_and_of_the_schema(reader):
    routes = {e.route for e in ENDPOINTS}
    assert len(routes) >= 25, routes
    assert any(e.name == "usage-ingest" for e in BODY_ENDPOINTS)
    schema = reader.client.get("/api/schema/?format=json").json()
    documented = {re.sub(r"\{(\w+)\}", r"<str:\1>", path) for path in schema["paths"]}
    assert documented <= routes, documented - routes
    assert {r for r in routes if r.startswith("/api/v1/")} == {
        r for r in documented if r.startswith("/api/v1/")
    }


# --- a project with one of everything, and a way to see that nothing changed ---------


@pytest.fixture
def world(acme):
    prompt = PromptFactory(project=acme, name="greet", description="Greets.")
    version = make_version(prompt, "Hello {{ name }}")
    library.label_move(prompt=prompt, label="production", version_number=1, actor="t")
    example_set = library.example_set_create(project=acme, name="pairs", description="d")
    library.example_set_version_create(
        example_set=example_set,
        examples=[{"input": {"name": "Ada"}, "output": "Hi Ada", "tags": [], "approved": True}],
        message="one",
        author="t",
    )
    evals.eval_suite_update(
        prompt=prompt, cases=[{"name": "ada", "variables": {"name": "Ada"}}], repeats=1
    )
    run = evals.eval_run_request(version=version, requested_by="t")
    alert = Alert.objects.create(
        project=acme, prompt=prompt, kind=Alert.KIND_FINE_TUNE, message="Tuning pays off."
    )
    PATH_VALUES.update(run_id=str(run.pk), alert_id=str(alert.pk))
    _, raw = library.api_key_create(project=acme, scopes=["read", "write", "ingest"], name="all")
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    ingest = client.post("/api/v1/usage", {"events": [usage_event("stored-1")]}, format="json")
    assert ingest.json()["accepted"] == 1
    return client


def usage_event(event_id: str) -> dict:
    return {
        "event_id": event_id,
        "prompt": "greet",
        "version": 1,
        "model": "gpt-4o-mini",
        "input_tokens": 100,
        "output_tokens": 10,
        "status": "ok",
    }


def snapshot() -> dict:
    """Every row of every table of the app."""
    return {
        model.__name__: list(model.objects.order_by("pk").values())
        for model in apps.get_app_config("prompts_app").get_models()
    }


RECENT = (timezone.now() - dt.timedelta(hours=1)).isoformat()

# A valid body per endpoint, so a hostile value can be put in each of its fields.
# An endpoint missing here is still swept, with a generic body.
SAMPLE_BODIES = {
    ("prompt-list", "POST"): {"name": "fresh", "kind": "text", "description": "d", "tags": ["t"]},
    ("prompt-detail", "PATCH"): {"description": "d2", "tags": ["a"]},
    ("version-list", "POST"): {
        "template": "Hi {{ name }}",
        "message": "m",
        "model_config": {"model": "gpt-4o-mini"},
        "example_set_version": {"name": "pairs", "version": 1},
    },
    ("prompt-render", "POST"): {"label": "production", "variables": {"name": "Ada"}},
    ("draft-render", "POST"): {"template": "Hi {{ name }}", "variables": {"name": "Ada"}},
    ("label-detail", "PUT"): {"version": 1, "reason": "why"},
    ("example-set-list", "POST"): {"name": "fresh-set", "description": "d"},
    ("example-set-version-list", "POST"): {
        "examples": [{"input": {"name": "Ada"}, "output": "Hi", "tags": ["t"]}],
        "message": "m",
    },
    ("eval-suite", "PUT"): {
        "cases": [
            {
                "name": "c",
                "variables": {"name": "Ada"},
                "expected_output": "Hi",
                "assertions": [{"type": "contains", "value": "Hi"}],
            }
        ]
    },
    ("usage-ingest", "POST"): {
        "events": [{**usage_event("fresh-1"), "label": "production", "timestamp": RECENT}]
    },
}


def sample_body(endpoint: Endpoint) -> dict:
    return SAMPLE_BODIES.get((endpoint.name, endpoint.method), {"value": "text"})


def string_leaves(value, path=()):
    """Paths to every string in a JSON value, and to every object key."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*path, ("key", key))
            yield from string_leaves(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from string_leaves(child, (*path, index))
    elif isinstance(value, str):
        yield path


def replaced(value, path, new):
    """A copy of `value` with the string (or key) at `path` made `new(old)`."""
    if not path:
        return new(value)
    head, rest = path[0], path[1:]
    if isinstance(head, tuple):  # ("key", name): rename the key
        return {(new(k) if k == head[1] else k): v for k, v in value.items()}
    if isinstance(value, list):
        return [replaced(v, rest, new) if i == head else v for i, v in enumerate(value)]
    return {k: (replaced(v, rest, new) if k == head else v) for k, v in value.items()}


def field_name(path) -> str | None:
    """The API's spelling of a path: events[0].model."""
    out = ""
    for part in path:
        if isinstance(part, tuple):  # a bad key: the object holding it is named
            break
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or None


# --- what every refusal must look like -------------------------------------------------

LEAKS = [
    re.compile(r"0x[0-9a-fA-F]{6,}"),
    re.compile(r"<[a-zA-Z_.]+ object at"),
    re.compile(r"Traceback \(most recent call last\)"),
    re.compile(r"<(?:built-in )?(?:function|method|bound method|generator|class) "),
]


def assert_clean(response) -> None:
    text = response.content.decode("utf-8")
    for leak in LEAKS:
        assert not leak.search(text), f"{leak.pattern} in {text[:500]}"


def assert_refused(response, status=None, code=None, field="any") -> dict:
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:500])
    if status is not None:
        assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "field", "details"}, error
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], dict)
    if code is not None:
        assert error["code"] == code, error
    if field != "any":
        assert error["field"] == field, error
    assert_clean(response)
    return error


def send(client, endpoint: Endpoint, body, *, content_type="application/json", path=None):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.generic(endpoint.method, path or endpoint.path(), data, content_type=content_type)


# --- the sweep ---------------------------------------------------------------------------

ids = [str(e) for e in ENDPOINTS]
body_ids = [str(e) for e in BODY_ENDPOINTS]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ids)
def test_an_oversized_body_is_a_413_naming_the_limit(world, endpoint):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    before = snapshot()
    body = json.dumps({"template": "x" * limit})
    error = assert_refused(send(world, endpoint, body), 413, "request_too_large")
    assert f"{limit:,} bytes" in error["message"]
    assert error["details"]["limit_bytes"] == limit
    assert snapshot() == before


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ids)
def test_a_nul_in_the_path_or_query_is_a_400_naming_it(world, endpoint):
    before = snapshot()
    for param in endpoint.params:
        response = send(world, endpoint, {}, path=endpoint.path(**{param: "a%00b"}))
        assert_refused(response, 400, "nul_character", param)
    for param in ("label", "version", "days", "limit", "state", "split", "from"):
        response = send(world, endpoint, {}, path=f"{endpoint.path()}?{param}=a%00b")
        assert_refused(response, 400, "nul_character", param)
    assert snapshot() == before


@pytest.mark.parametrize("endpoint", BODY_ENDPOINTS, ids=body_ids)
def test_deep_json_is_a_400_not_a_recursion_error(world, endpoint):
    before = snapshot()
    for body in ("[" * 100_000, '{"a": ' * 50_000, "[" * 200 + "]" * 200):
        error = assert_refused(send(world, endpoint, body), 400, "too_deep")
        assert "nested" in error["message"]
    # Deep, but not so deep that Python's parser gives up: named by where it is.
    deep = {"variables": {"a": json.loads("[" * 100 + "]" * 100)}}
    error = assert_refused(send(world, endpoint, deep), 400, "too_deep")
    assert error["field"].startswith("variables.a")
    assert snapshot() == before


@pytest.mark.parametrize("endpoint", BODY_ENDPOINTS, ids=body_ids)
def test_lone_surrogates_and_nul_are_a_400_naming_the_field(world, endpoint):
    before = snapshot()
    body = sample_body(endpoint)
    for bad, code, named in [
        ("a\ud800b", "invalid_unicode", "surrogate"),
        ("\ud800", "invalid_unicode", "surrogate"),
        ("\udfff\ud800", "invalid_unicode", "surrogate"),
        ("a\x00b", "nul_character", "NUL"),
    ]:
        for path in string_leaves(body):
            hostile = replaced(body, path, lambda old: old + bad)
            error = assert_refused(send(world, endpoint, hostile), 400, code, field_name(path))
            assert named in error["message"]
    assert snapshot() == before
    # A surrogate pair is a character (an emoji): the parser takes it as such.
    paired = send(world, endpoint, json.dumps({"unknown": "\U0001f600"}))
    assert paired.status_code < 500 and "surrogate" not in paired.content.decode()


@pytest.mark.parametrize("endpoint", BODY_ENDPOINTS, ids=body_ids)
def test_a_number_that_overflows_to_infinity_is_a_400_naming_it(world, endpoint):
    before = snapshot()
    body = json.dumps(sample_body(endpoint))[:-1] + ', "huge": 1e999}'
    assert_refused(send(world, endpoint, body), 400, "invalid_number", "huge")
    for constant in ("NaN", "Infinity", "-Infinity"):
        assert_refused(send(world, endpoint, '{"x": %s}' % constant), 400, "malformed_json")
    assert snapshot() == before


@pytest.mark.parametrize("endpoint", BODY_ENDPOINTS, ids=body_ids)
def test_malformed_bodies_are_a_400(world, endpoint):
    before = snapshot()
    for body in (b"{not json", b'{"name": "\xff\xfe"}', b"\xef\xbb\xbf{}", b'"\\ud800"'):
        assert_refused(send(world, endpoint, body), 400)
    assert snapshot() == before


@pytest.mark.parametrize("endpoint", BODY_ENDPOINTS, ids=body_ids)
def test_the_wrong_content_type_is_a_415_naming_the_right_one(world, endpoint):
    before = snapshot()
    body = json.dumps(sample_body(endpoint))
    for content_type in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "application/xml",
        "",
    ):
        response = send(world, endpoint, body, content_type=content_type)
        error = assert_refused(response, 415, "unsupported_media_type")
        assert "Content-Type" in error["message"] and "application/json" in error["message"]
    assert snapshot() == before


@pytest.mark.parametrize("endpoint", BODY_ENDPOINTS, ids=body_ids)
def test_impossible_dates_anywhere_are_never_a_500(world, endpoint):
    body = sample_body(endpoint)
    stamps = ("2025-02-30T10:00:00Z", "2026-11-28T23:59:60Z", "0000-01-01T00:00:00Z")
    for stamp, path in itertools.product(stamps, list(string_leaves(body))):
        hostile = replaced(body, path, lambda old: stamp)
        before = snapshot()
        response = send(world, endpoint, hostile)
        assert response.status_code < 500, response.content[:500]
        assert_clean(response)
        if response.status_code >= 400:
            assert_refused(response)
            assert snapshot() == before
        if endpoint.name == "usage-ingest" and path[-1] == "timestamp":
            # Usage is validated per event: the event is refused, naming the field.
            result = response.json()
            assert result["accepted"] == 0
            [rejection] = result["rejected"]
            assert rejection["field"] == "timestamp" and stamp in rejection["reason"]
            assert snapshot() == before


def test_an_unknown_path_under_api_is_a_json_404(world):
    for path in ("/api/v1/nothing", "/api/v1/prompts/greet/nothing", "/api/", "/api/v2/x"):
        response = world.get(path)
        error = assert_refused(response, 404, "not_found")
        assert "/api/docs/" in error["message"]
    # Elsewhere Django's own page stays.
    assert world.get("/no-such-page")["Content-Type"].startswith("text/html")


def test_an_unknown_path_under_api_is_a_json_404_with_debug_on_too(world, settings):
    settings.DEBUG = True  # the demo's setting: Django's HTML 404 page instead of handler404
    assert_refused(world.get("/api/v1/nothing"), 404, "not_found")
    assert world.get("/no-such-page")["Content-Type"].startswith("text/html")
    # A missing record keeps its own message, in the browsable API's HTML too.
    missing = world.get("/api/v1/prompts/nope/", HTTP_ACCEPT="text/html")
    assert missing.status_code == 404 and "nope" in missing.content.decode()


def test_a_wrong_method_is_a_405_in_the_error_shape(world):
    assert_refused(world.delete("/api/v1/prompts/greet/"), 405)


def test_what_was_stored_before_the_sweep_is_still_there(world):
    # The sweep's own fixture: the stored event and prompt survive hostile writes.
    endpoint = next(e for e in BODY_ENDPOINTS if e.name == "usage-ingest")
    before = snapshot()
    for body in ("[" * 100_000, {"events": [usage_event("stored-1") | {"model": "m\x00"}]}):
        assert_refused(send(world, endpoint, body), 400)
    assert snapshot() == before
    assert UsageEvent.objects.get(event_id="stored-1").model == "gpt-4o-mini"


def test_the_schema_documents_413_everywhere_and_415_where_a_body_is_taken(reader):
    schema = reader.client.get("/api/schema/?format=json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "413" in responses, (method, path)
            assert ("415" in responses) == ("requestBody" in operation), (method, path)
    usage = schema["paths"]["/api/v1/usage"]["post"]["responses"]["200"]
    ref = usage["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert "conflicts" in schema["components"]["schemas"][ref]["required"]


def test_errors_raised_past_the_middleware_still_get_their_status(rf):
    """The exception handler's own answers, for what gets past the middleware (a
    body with no Content-Length read too far, a value only the database refuses)."""
    from django.core.exceptions import RequestDataTooBig
    from django.db import DataError

    from prompts_app.api.errors import api_exception_handler

    context = {"view": None, "request": rf.post("/api/v1/usage")}
    too_big = api_exception_handler(RequestDataTooBig("too big"), context)
    assert too_big.status_code == 413
    assert too_big.data["error"]["details"]["limit_bytes"] == settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    refused = api_exception_handler(DataError("integer out of range: 0x7fffffff"), context)
    assert refused.status_code == 400 and refused.data["error"]["code"] == "invalid"
    assert "0x" not in refused.data["error"]["message"]


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e.method == "GET"], ids=str)
def test_out_of_range_numbers_in_the_query_are_never_a_500(world, endpoint):
    huge = "9" * 40
    for query in (
        f"offset={huge}",
        f"limit={huge}",
        f"offset={2**63}",
        f"version={huge}",
        f"version=-{huge}",
        f"days={huge}",
        f"from={huge}&to=1",
        f"from=1&to={2**31}",
        "version=1e999",
        "label=" + "x" * 200,
    ):
        response = send(world, endpoint, "", path=f"{endpoint.path()}?{query}")
        assert response.status_code < 500, (query, response.content[:300])
        assert_clean(response)
        if response.status_code >= 400 and response["Content-Type"].startswith("application/json"):
            assert_refused(response)
    for param in endpoint.params:
        for value in (huge, "-1", "0x10", "1e999", "x" * 200):
            response = send(world, endpoint, "", path=endpoint.path(**{param: value}))
            assert response.status_code < 500, (param, value, response.content[:300])
            assert_clean(response)
