"""The template language through the API: whitespace options stored with a version,
raise_exception as a 400, only data printed, the reserved ``examples`` name, and the
inferred required/optional variables."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from prompts_app.models import PromptVersion

ADDRESS = re.compile(r"0x[0-9a-fA-F]{4,}|<[\w.]+ object|<built-in|<function|<generator|<global")
CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "chat_templates"

pytestmark = pytest.mark.django_db


def _prompt(writer, name="t", kind="text"):
    r = writer.client.post("/api/v1/prompts/", {"name": name, "kind": kind}, format="json")
    assert r.status_code == 201, r.content


def _version(writer, name="t", **body):
    return writer.client.post(f"/api/v1/prompts/{name}/versions/", body, format="json")


def test_a_hugging_face_chat_template_is_stored_with_its_options_and_renders_as_published(
    writer,
):
    case = next(
        c
        for c in json.loads((CORPUS / "cases.json").read_text())
        if c["file"] == "zephyr-7b-beta.jinja" and "raises" not in c
    )
    _prompt(writer, "zephyr")
    options = {"trim_blocks": True, "lstrip_blocks": True}
    created = _version(
        writer,
        "zephyr",
        template=(CORPUS / "zephyr-7b-beta.jinja").read_text(),
        template_options=options,
    )
    assert created.status_code == 201, created.content
    assert created.json()["template_options"] == options
    assert created.json()["variables"]["required"] == ["messages"]

    resolved = writer.client.get("/api/v1/prompts/zephyr/resolve").json()
    assert resolved["template_options"] == options
    rendered = writer.client.post(
        "/api/v1/prompts/zephyr/render", {"variables": case["variables"]}, format="json"
    )
    assert rendered.status_code == 200, rendered.content
    assert rendered.json()["text"] == case["expected"]


def test_options_change_the_version_hash_and_show_in_the_diff(writer):
    _prompt(writer)
    first = _version(writer, template="{% if a %}\n  x\n{% endif %}").json()
    second = _version(
        writer, template="{% if a %}\n  x\n{% endif %}", template_options={"trim_blocks": True}
    ).json()
    assert first["content_hash"] != second["content_hash"]
    diff = writer.client.get("/api/v1/prompts/t/diff?from=1&to=2").json()
    assert "-trim_blocks: false" in diff["sections"]["template_options"]
    assert "+trim_blocks: true" in diff["sections"]["template_options"]
    assert writer.client.post(
        "/api/v1/prompts/t/render", {"version": 2, "variables": {"a": 1}}, format="json"
    ).json()["text"] == "  x\n"


@pytest.mark.parametrize(
    "options, field",
    [
        ({"trim_blocks": "yes"}, "template_options.trim_blocks"),
        ({"strip": True}, "template_options"),
    ],
)
def test_bad_options_are_a_400_and_store_nothing(writer, options, field):
    _prompt(writer)
    r = _version(writer, template="x", template_options=options)
    assert r.status_code == 400
    assert r.json()["error"]["field"].startswith(field)
    assert PromptVersion.objects.count() == 0


def test_raise_exception_answers_400_with_the_authors_message(writer):
    _prompt(writer)
    _version(writer, template="{% if not q %}{{ raise_exception('Ask a question first.') }}{% endif %}{{ q }}")
    r = writer.client.post("/api/v1/prompts/t/render", {"variables": {"q": ""}}, format="json")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "template_raised"
    assert r.json()["error"]["message"] == "Ask a question first."
    ok = writer.client.post("/api/v1/prompts/t/render", {"variables": {"q": "Why?"}}, format="json")
    assert ok.json()["text"] == "Why?"


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.upper }}",
        "{{ (1,2)|map('string') }}",
        "{{ self }}",
        "{% for x in [1] %}{{ loop }}{% endfor %}",
        "{{ cycler }}",
        "{{ range }}",
        "{{ dict }}",
        "{{ 'a' ~ ''.upper }}",
        "{{ '%s' % ''.upper }}",
    ],
)
def test_printing_anything_but_data_is_a_400_naming_the_expression_with_no_repr(writer, template):
    r = writer.client.post("/api/v1/render", {"template": template}, format="json")
    assert r.status_code == 400, r.content
    error = r.json()["error"]
    assert error["code"] == "unprintable_value"
    assert "line 1" in error["message"]
    assert not ADDRESS.search(r.content.decode()), r.content


def test_a_callers_examples_variable_is_refused_on_both_render_endpoints(writer):
    _prompt(writer)
    _version(writer, template="{{ examples|length }} {{ q }}")
    for path, body in (
        ("/api/v1/prompts/t/render", {"variables": {"q": 1, "examples": [1]}}),
        ("/api/v1/render", {"template": "{{ q }}", "variables": {"examples": []}}),
    ):
        r = writer.client.post(path, body, format="json")
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "reserved_variable"
        assert r.json()["error"]["field"] == "variables.examples"
        assert "rename" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    "template, required, properties",
    [
        ("{% if a %}{% set x = 1 %}{% else %}{% set x = 2 %}{% endif %}{{ x }}", ["a"], ["a"]),
        (
            "{% if mode == 'qa' %}Q: {{ question }}{% else %}D: {{ document }}{% endif %}",
            ["mode"],
            ["document", "mode", "question"],
        ),
        ("{% macro sig() %}{{ agent }}{% endmacro %}ok", [], []),
    ],
)
def test_a_saved_version_infers_required_and_optional_variables(
    writer, template, required, properties
):
    _prompt(writer)
    schema = _version(writer, template=template).json()["variables"]
    assert schema["required"] == required
    assert sorted(schema["properties"]) == properties


def test_the_draft_render_honours_options_and_lists_variables(writer):
    r = writer.client.post(
        "/api/v1/render",
        {
            "template": "{% for i in items %}\n{{ i }}\n{% endfor %}",
            "variables": {"items": [1, 2]},
            "template_options": {"trim_blocks": True},
        },
        format="json",
    )
    assert r.status_code == 200, r.content
    assert r.json()["text"] == "1\n2\n"
    assert r.json()["variables"] == ["items"]
