"""Variable schemas: standard JSON Schema (draft 2020-12) through ``jsonschema``.

Every keyword is enforced, an unusable schema is refused with the path and keyword at
fault, nothing is ever fetched, and hostile patterns, schemas and values are bounded.
Plain pytest: no database.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.request

import pytest

from promptledger.rendering import (
    InvalidVariables,
    MissingVariables,
    RenderError,
    RenderLimitExceeded,
    check_variables_schema,
    render,
    validate_variables,
)
from promptledger.rendering import schema as schema_module


def obj(**properties):
    return {"type": "object", "properties": properties}


def errors_of(schema, variables) -> dict[str, str]:
    with pytest.raises(InvalidVariables) as info:
        validate_variables(schema, variables)
    assert info.value.code == "invalid_variables"
    return {e["path"]: e["message"] for e in info.value.details["errors"]}


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a URL or a socket fails the test."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


# --------------------------------------------------------------------------- every keyword

KEYWORDS = [
    # (id, subschema of "v", a valid value, an invalid value, the message for it)
    ("type", {"type": "string"}, "a", 1, "must be a string"),
    ("type-list", {"type": ["string", "null"]}, None, 1, "must be a string or null"),
    ("enum", {"enum": ["a", 1]}, 1, "b", 'must be one of "a", 1'),
    ("const", {"const": {"k": [1]}}, {"k": [1.0]}, {"k": [2]}, 'must be {"k": [1]}'),
    ("multipleOf", {"multipleOf": 0.5}, 1.5, 1.2, "must be a multiple of 0.5"),
    ("maximum", {"maximum": 3}, 3, 4, "must be at most 3"),
    ("exclusiveMaximum", {"exclusiveMaximum": 3}, 2.9, 3, "must be less than 3"),
    ("minimum", {"minimum": 0}, 0, -1, "must be at least 0"),
    ("exclusiveMinimum", {"exclusiveMinimum": 0}, 0.1, 0, "must be greater than 0"),
    ("maxLength", {"maxLength": 2}, "ab", "abc", "must be at most 2 characters"),
    ("minLength", {"minLength": 1}, "a", "", "must be at least 1 character"),
    ("pattern", {"pattern": "^[A-Z]{2}-\\d+$"}, "AB-12", "ab-12", "must match the pattern '^[A-Z]{2}-\\d+$'"),
    ("pattern-unanchored", {"pattern": "\\d"}, "a1b", "abc", "must match the pattern '\\d'"),
    ("maxItems", {"maxItems": 1}, [1], [1, 2], "must have at most 1 item"),
    ("minItems", {"minItems": 2}, [1, 2], [1], "must have at least 2 items"),
    ("uniqueItems", {"uniqueItems": True}, [1, True, "1"], [{"a": 1}, {"a": 1.0}], "must not contain duplicate items"),
    ("contains", {"contains": {"type": "string"}}, [1, "a"], [1, 2], "must contain at least one item that matches the 'contains' schema"),
    ("minContains", {"contains": {"const": 1}, "minContains": 2}, [1, 1], [1, 2], "must contain at least 2 items that match the 'contains' schema"),
    ("maxContains", {"contains": {"const": 1}, "maxContains": 1}, [1, 2], [1, 1], "must contain at most 1 item that match the 'contains' schema"),
    ("maxProperties", {"maxProperties": 1}, {"a": 1}, {"a": 1, "b": 2}, "must have at most 1 property"),
    ("minProperties", {"minProperties": 2}, {"a": 1, "b": 2}, {"a": 1}, "must have at least 2 properties"),
    ("not", {"not": {"const": "x"}}, "y", "x", "must not match the 'not' schema {\"const\": \"x\"}"),
    ("anyOf", {"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 3}]}, 5, 1.5,
     "must match one of the anyOf options (1: must be a string, or 2: must be an integer)"),
    ("oneOf-none", {"oneOf": [{"type": "string"}, {"type": "boolean"}]}, True, 1,
     "must match exactly one of the oneOf options (1: must be a string, or 2: must be a boolean)"),
    ("oneOf-several", {"oneOf": [{"type": "number"}, {"type": "integer"}]}, 1.5, 3,
     "must match exactly one of the oneOf options, but matches several"),
    ("false-schema", {"not": {}}, None, None, None),  # filled in below: nothing is valid
    ("format-email", {"format": "email"}, "ada@example.com", "ada", "must be a valid email address"),
    ("format-date", {"format": "date"}, "2025-02-28", "2025-02-30", "must be a valid date (YYYY-MM-DD)"),
    ("format-date-time", {"format": "date-time"}, "2025-01-31T09:30:00.5+01:00", "2025-01-31 09:30",
     "must be a valid date-time (RFC 3339, e.g. 2025-01-31T09:30:00Z)"),
    ("format-date-time-day", {"format": "date-time"}, "1998-12-31T23:59:60Z", "2025-02-30T00:00:00Z",
     "must be a valid date-time (RFC 3339, e.g. 2025-01-31T09:30:00Z)"),
    ("format-time", {"format": "time"}, "09:30:00Z", "25:00:00Z", "must be a valid time (RFC 3339, e.g. 09:30:00Z)"),
    ("format-uri", {"format": "uri"}, "https://example.com/a?b=1#c", "example.com/a b",
     "must be a valid URI with a scheme (e.g. https://example.com/a)"),
    ("format-uri-reference", {"format": "uri-reference"}, "/a/b?c", "/a b", "must be a valid URI reference"),
    ("format-hostname", {"format": "hostname"}, "api.example.com", "-bad-.example", "must be a valid hostname"),
    ("format-ipv4", {"format": "ipv4"}, "10.0.0.1", "10.0.0.256", "must be a valid IPv4 address"),
    ("format-ipv6", {"format": "ipv6"}, "::1", "1:::2", "must be a valid IPv6 address"),
    ("format-uuid", {"format": "uuid"}, "0b4a8f3c-1d2e-4f5a-8b9c-0d1e2f3a4b5c", "0b4a8f3c", "must be a valid UUID"),
    ("format-regex", {"format": "regex"}, "^a+$", "((", "must be a valid regular expression"),
]  # fmt: skip


@pytest.mark.parametrize(
    "subschema,good,bad,message", [k[1:] for k in KEYWORDS if k[0] != "false-schema"],
    ids=[k[0] for k in KEYWORDS if k[0] != "false-schema"],
)  # fmt: skip
def test_every_keyword_is_enforced(subschema, good, bad, message):
    schema = obj(v=subschema)
    check_variables_schema(schema)
    validate_variables(schema, {"v": good})
    assert errors_of(schema, {"v": bad}) == {"v": message}


def test_format_only_applies_to_strings():
    validate_variables(obj(v={"format": "email"}), {"v": 12})


def test_false_schema_and_true_schema():
    assert errors_of(obj(v=False), {"v": 1}) == {"v": "is not allowed"}
    validate_variables(obj(v=True), {"v": {"anything": [1]}})


def test_object_keywords_report_each_property_at_its_path():
    schema = obj(
        customer={
            "type": "object",
            "properties": {"name": {"type": "string"}},
            "required": ["name", "email"],
            "additionalProperties": False,
        },
        billing={
            "type": "object",
            "dependentRequired": {"card": ["expiry"]},
            "dependentSchemas": {"card": {"required": ["holder"]}},
        },
        tags={"type": "object", "propertyNames": {"pattern": "^[a-z_]+$"}},
        scores={
            "type": "object",
            "patternProperties": {"^s_": {"type": "number"}},
            "additionalProperties": {"type": "string"},
        },
    )
    check_variables_schema(schema)
    errors = errors_of(
        schema,
        {
            "customer": {"extra": 1},
            "billing": {"card": "4242"},
            "tags": {"ok": 1, "Bad-Key": 2},
            "scores": {"s_1": "high", "note": 3},
        },
    )
    assert errors == {
        "customer.name": "is required",
        "customer.email": "is required",
        "customer.extra": "is not an allowed property",
        "billing.expiry": "is required when card is given",
        "billing.holder": "is required",
        'tags["Bad-Key"]': "is not an allowed property name (it must match the pattern '^[a-z_]+$')",
        "scores.s_1": "must be a number",
        "scores.note": "must be a string",
    }


def test_array_keywords_and_nested_paths():
    schema = obj(
        order={
            "type": "object",
            "properties": {
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"sku": {"type": "string", "pattern": "^[A-Z]+-\\d+$"}},
                        "required": ["sku"],
                    },
                }
            },
        },
        pair={"prefixItems": [{"type": "string"}, {"type": "integer"}], "items": False},
        rest={"prefixItems": [{"type": "string"}], "items": {"type": "boolean"}},
    )
    check_variables_schema(schema)
    good = {"order": {"items": [{"sku": "AB-1"}]}, "pair": ["a", 1], "rest": ["a", True, False]}
    validate_variables(schema, good)
    errors = errors_of(
        schema,
        {
            "order": {"items": [{"sku": "AB-1"}, {"sku": "AB-2"}, {"sku": "ab"}, {}]},
            "pair": ["a", 1, 2],
            "rest": [1, True, "no"],
        },
    )
    assert errors == {
        "order.items[2].sku": "must match the pattern '^[A-Z]+-\\d+$'",
        "order.items[3].sku": "is required",
        "pair": "must have at most 2 items",
        "rest[0]": "must be a string",
        "rest[2]": "must be a boolean",
    }


def test_unevaluated_properties_and_items():
    schema = obj(
        shape={
            "type": "object",
            "properties": {"kind": {"enum": ["circle", "square"]}},
            "allOf": [{"if": {"properties": {"kind": {"const": "circle"}}},
                       "then": {"properties": {"radius": {"type": "number"}}},
                       "else": {"properties": {"side": {"type": "number"}}}}],
            "patternProperties": {"^x-": True},
            "unevaluatedProperties": False,
        },
        seq={"prefixItems": [{"type": "string"}], "unevaluatedItems": False},
    )  # fmt: skip
    check_variables_schema(schema)
    validate_variables(schema, {"shape": {"kind": "circle", "radius": 1, "x-note": "a"}})
    errors = errors_of(schema, {"shape": {"kind": "square", "radius": 1}, "seq": ["a", "b"]})
    assert errors == {
        "shape.radius": "is not an allowed property",
        "seq": "has more items than the schema allows",
    }


def test_if_then_else_and_all_of():
    schema = {
        "type": "object",
        "properties": {"mode": {"enum": ["qa", "summary"]}},
        "required": ["mode"],
        "if": {"properties": {"mode": {"const": "qa"}}},
        "then": {"required": ["question"]},
        "else": {"required": ["document"]},
        "allOf": [{"properties": {"question": {"minLength": 3}}}],
    }
    check_variables_schema(schema)
    validate_variables(schema, {"mode": "qa", "question": "Why?"})
    validate_variables(schema, {"mode": "summary", "document": "..."})
    # conditionally required names are invalid values, not missing top-level names
    assert errors_of(schema, {"mode": "qa"}) == {"question": "is required"}
    assert errors_of(schema, {"mode": "summary"}) == {"document": "is required"}
    assert errors_of(schema, {"mode": "qa", "question": "Wh"}) == {
        "question": "must be at least 3 characters"
    }


def test_local_refs_defs_and_anchors():
    schema = {
        "type": "object",
        "$defs": {
            "money": {"type": "number", "minimum": 0},
            "node": {
                "$anchor": "node",
                "type": "object",
                "properties": {"children": {"type": "array", "items": {"$ref": "#node"}}},
                "required": ["name"],
            },
        },
        "properties": {"total": {"$ref": "#/$defs/money"}, "tree": {"$ref": "#/$defs/node"}},
    }
    check_variables_schema(schema)
    tree = {"name": "a", "children": [{"name": "b", "children": [{"children": []}]}]}
    assert errors_of(schema, {"total": -1, "tree": tree}) == {
        "total": "must be at least 0",
        "tree.children[0].children[0].name": "is required",
    }
    validate_variables(schema, {"total": 3, "tree": {"name": "a"}})


def test_dynamic_ref_resolves_locally():
    schema = {
        "type": "object",
        "$defs": {"item": {"$dynamicAnchor": "item", "type": "string"}},
        "properties": {"list": {"type": "array", "items": {"$dynamicRef": "#item"}}},
    }
    check_variables_schema(schema)
    validate_variables(schema, {"list": ["a"]})
    assert errors_of(schema, {"list": [1]}) == {"list[0]": "must be a string"}


# --------------------------------------------------------------------------- types


def test_a_bool_is_not_a_number_nor_an_integer():
    schema = obj(n={"type": "number"}, i={"type": "integer"})
    assert errors_of(schema, {"n": True, "i": False}) == {
        "n": "must be a number",
        "i": "must be an integer",
    }
    assert errors_of(obj(n={"enum": [1]}), {"n": True}) == {"n": "must be one of 1"}
    assert errors_of(obj(n={"const": False}), {"n": 0}) == {"n": "must be false"}


def test_integer_accepts_whole_floats_only():
    schema = obj(i={"type": "integer"})
    validate_variables(schema, {"i": 3.0})
    assert errors_of(schema, {"i": 3.5}) == {"i": "must be an integer"}


def test_a_wrong_type_hides_the_other_errors_at_that_path():
    schema = obj(v={"type": "string", "enum": ["a"], "minLength": 2})
    assert errors_of(schema, {"v": 5}) == {"v": "must be a string"}


# --------------------------------------------------------------------------- error contract


def test_missing_top_level_names_are_all_listed_sorted():
    schema = {"type": "object", "properties": {}, "required": ["zeta", "alpha", "mid"]}
    with pytest.raises(MissingVariables) as info:
        validate_variables(schema, {"mid": 1})
    assert info.value.code == "missing_variables"
    assert info.value.details["missing"] == ["alpha", "zeta"]
    assert info.value.message == "Missing 2 required variables: alpha, zeta. Pass a value for each."
    with pytest.raises(MissingVariables) as info:
        validate_variables(schema, {"mid": 1, "zeta": 2})
    assert info.value.message == "Missing 1 required variable: alpha. Pass a value for each."


def test_missing_is_reported_before_invalid_values():
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["b"]}
    with pytest.raises(MissingVariables):
        validate_variables(schema, {"a": 1})


def test_errors_are_capped_and_the_message_lists_ten():
    schema = {"type": "object", "additionalProperties": {"type": "string"}}
    with pytest.raises(InvalidVariables) as info:
        validate_variables(schema, {f"v{i:03d}": i for i in range(80)})
    errors = info.value.details["errors"]
    assert len(errors) == schema_module.MAX_ERRORS == 50
    assert info.value.details["where"] == "variables"
    assert info.value.message.startswith("Invalid variables: v000 must be a string; v001 must be")
    assert info.value.message.endswith("(and 40 more).")
    assert info.value.message.count("must be a string") == 10


def test_variables_must_be_a_dict_and_messages_have_no_reprs():
    with pytest.raises(InvalidVariables) as info:
        validate_variables({"type": "object"}, [1, 2])
    assert info.value.details["errors"] == [
        {"path": "variables", "message": "must be an object (a dict of name to value)"}
    ]
    schema = obj(v={"not": {"type": "object"}}, w={"oneOf": [{}, {}]})
    with pytest.raises(InvalidVariables) as info:
        validate_variables(schema, {"v": {"deep": [1]}, "w": 1})
    text = json.dumps(info.value.as_dict())
    assert "0x" not in text and "<" not in text and "{'" not in text


def test_render_checks_the_schema_first():
    schema = {
        "type": "object",
        "properties": {"email": {"type": "string", "format": "email"}},
        "required": ["email"],
    }
    with pytest.raises(InvalidVariables) as info:
        render("text", "Hi {{ email }}", {"email": "nope"}, schema=schema)
    assert info.value.details["errors"] == [
        {"path": "email", "message": "must be a valid email address"}
    ]
    assert render("text", "Hi {{ email }}", {"email": "a@b.co"}, schema=schema) == "Hi a@b.co"


# --------------------------------------------------------------------------- invalid schemas

INVALID_SCHEMAS = [
    # (id, schema, path, keyword, text in the message)
    ("unknown-type", obj(x={"type": "strng"}), "properties.x.type", "type",
     '"strng" is not a JSON Schema type (use array, boolean, integer, null, number, object, string)'),
    ("unknown-type-in-list", obj(x={"type": ["string", "strng"]}), "properties.x.type[1]", "type",
     '"strng" is not a JSON Schema type'),
    ("negative-length", obj(x={"minLength": -1}), "properties.x.minLength", "minLength", "must be at least 0"),
    ("length-as-text", obj(x={"maxLength": "3"}), "properties.x.maxLength", "maxLength", "must be an integer"),
    ("not-a-schema", obj(x=5), "properties.x", "properties", "must be a schema (a JSON object, or true / false)"),
    ("required-not-a-list", {"type": "object", "required": "a"}, "required", "required", "must be an array"),
    ("bad-pattern", obj(x={"pattern": "(("}), "properties.x.pattern", "pattern", "is not a valid regular expression"),
    ("bad-pattern-property", {"type": "object", "patternProperties": {"[": {}}},
     "patternProperties", "patternProperties", "is not a valid regular expression"),
    ("typo", obj(x={"type": "string", "minLenght": 3}), "properties.x.minLenght", "minLenght",
     "unknown keyword 'minLenght' (did you mean 'minLength'?)"),
    ("old-dependencies", {"type": "object", "dependencies": {"a": ["b"]}}, "dependencies", "dependencies",
     "use 'dependentRequired'"),
    ("old-additional-items", obj(x={"additionalItems": False}), "properties.x.additionalItems",
     "additionalItems", "use 'items'"),
    ("content-annotation", obj(x={"contentMediaType": "application/json"}), "properties.x.contentMediaType",
     "contentMediaType", "is an annotation that is not checked"),
    ("then-without-if", obj(x={"then": {"minLength": 1}}), "properties.x.then", "then", "has no effect without 'if'"),
    ("min-contains-without-contains", obj(x={"minContains": 1}), "properties.x.minContains", "minContains",
     "has no effect without 'contains'"),
    ("unknown-format", obj(x={"format": "color"}), "properties.x.format", "format",
     "format 'color' is not supported (supported: date, date-time, email"),
    ("http-ref", obj(x={"$ref": "https://example.com/schema.json"}), "properties.x.$ref", "$ref",
     "is not a local reference"),
    ("file-ref", obj(x={"$ref": "file:///etc/passwd"}), "properties.x.$ref", "$ref", "is not a local reference"),
    ("relative-ref", obj(x={"$ref": "other.json#/a"}), "properties.x.$ref", "$ref", "is not a local reference"),
    ("dynamic-http-ref", obj(x={"$dynamicRef": "http://example.com/s#a"}), "properties.x.$dynamicRef",
     "$dynamicRef", "is not a local reference"),
    ("dangling-ref", obj(x={"$ref": "#/$defs/nope"}), "properties.x.$ref", "$ref",
     "does not point to anything in this schema"),
    ("ref-loop", {"type": "object", "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"allOf": [{"$ref": "#/$defs/a"}]}},
                  "properties": {"x": {"$ref": "#/$defs/a"}}}, None, "$ref", "refers back to itself"),
    ("nested-id", obj(x={"$id": "https://example.com/x", "type": "string"}), "properties.x.$id", "$id",
     "only allowed at the top level"),
    ("nested-schema", obj(x={"$schema": "http://json-schema.org/draft-07/schema#"}), "properties.x.$schema",
     "$schema", "only allowed at the top level"),
    ("other-draft", {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}, "$schema",
     "$schema", "only JSON Schema draft 2020-12 is supported"),
    ("not-an-object", ["type", "object"], "", None, "it must be a JSON object"),
    ("not-json", {"type": "object", "properties": {"x": {"const": float("nan")}}}, "", None, "it is not JSON"),
]  # fmt: skip


@pytest.mark.parametrize(
    "schema,path,keyword,text",
    [c[1:] for c in INVALID_SCHEMAS],
    ids=[c[0] for c in INVALID_SCHEMAS],
)
def test_invalid_schemas_are_refused_naming_path_and_keyword(
    schema, path, keyword, text, no_network
):
    with pytest.raises(RenderError) as info:
        check_variables_schema(schema)
    error = info.value
    assert error.code == "invalid_schema"
    assert text in error.message
    assert error.message.startswith("The variables schema is invalid")
    assert error.details["where"] == "variables"
    if path is not None:
        assert error.details["path"] == path
        if path:
            assert f" at {path}: " in error.message
    assert error.details["keyword"] == keyword
    assert no_network == []


def test_the_issue_example_message():
    with pytest.raises(RenderError) as info:
        check_variables_schema({"type": "object", "properties": {"x": {"type": "strng"}}})
    assert info.value.message == (
        'The variables schema is invalid at properties.x.type: "strng" is not a JSON Schema '
        "type (use array, boolean, integer, null, number, object, string)."
    )


def test_valid_schemas_pass_the_check():
    for schema in (
        {"type": "object"},
        {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"},
        {"$id": "https://example.com/vars", "type": "object", "$defs": {"a": {"type": "string"}},
         "properties": {"a": {"$ref": "#/$defs/a"}}},
        {"type": "object", "x-ui": {"order": ["a"]}, "title": "T", "description": "D",
         "properties": {"a": {"type": "string", "default": "x", "examples": ["y"], "deprecated": False,
                              "readOnly": False, "$comment": "c"}}},
        {"type": "object", "definitions": {"a": {"type": "string"}},
         "properties": {"a": {"$ref": "#/definitions/a"}}},
    ):  # fmt: skip
        check_variables_schema(schema)
        validate_variables(schema, {"a": "x"})


def test_a_stored_schema_with_ignorable_keywords_still_validates():
    """Saving refuses keywords that would be ignored; rendering a version stored before
    that rule keeps working (those keywords change nothing) instead of failing."""
    stored = obj(x={"type": "string", "minLenght": 3, "format": "color"})
    with pytest.raises(RenderError):
        check_variables_schema(stored)
    validate_variables(stored, {"x": "a"})
    assert errors_of(stored, {"x": 1}) == {"x": "must be a string"}


def test_a_stored_unusable_schema_fails_the_render_with_invalid_schema():
    stored = obj(x={"type": "strng"})
    with pytest.raises(RenderError) as info:
        render("text", "{{ x }}", {"x": "a"}, schema=stored)
    assert info.value.code == "invalid_schema"
    assert info.value.details["path"] == "properties.x.type"


# --------------------------------------------------------------------------- never fetched


@pytest.mark.parametrize(
    "ref",
    [
        "https://example.com/schema.json",
        "http://169.254.169.254/latest/meta-data",
        "file:///etc/passwd",
        "other.json",
        "https://json-schema.org/draft/2020-12/schema",
    ],
)
def test_a_remote_ref_is_refused_and_never_fetched(ref, no_network):
    schema = obj(x={"$ref": ref})
    with pytest.raises(RenderError) as info:
        check_variables_schema(schema)
    assert info.value.code == "invalid_schema"
    with pytest.raises(RenderError) as info:
        validate_variables(schema, {"x": "a"})
    assert info.value.code == "invalid_schema"
    with pytest.raises(RenderError):
        render("text", "{{ x }}", {"x": "a"}, schema=schema)
    assert no_network == []


def test_a_root_id_cannot_turn_a_local_ref_into_a_remote_one(no_network):
    schema = {
        "$id": "https://evil.example/base/",
        "type": "object",
        "properties": {"x": {"$ref": "x.json"}},
    }
    with pytest.raises(RenderError) as info:
        check_variables_schema(schema)
    assert "is not a local reference" in info.value.message
    assert no_network == []


def test_the_registry_refuses_to_retrieve_anything(no_network):
    from referencing.exceptions import Unresolvable

    schema_module._load()
    resolver = schema_module._REGISTRY.resolver()
    for uri in ("https://example.com/s.json", "file:///etc/passwd"):
        with pytest.raises(Unresolvable):
            resolver.lookup(uri)
    assert no_network == []


# --------------------------------------------------------------------------- hostile input


def test_the_issue_redos_pattern_answers_fast():
    schema = obj(code={"type": "string", "pattern": "^(a+)+$"})
    started = time.monotonic()
    assert errors_of(schema, {"code": "a" * 40 + "!"}) == {
        "code": "must match the pattern '^(a+)+$'"
    }
    validate_variables(schema, {"code": "a" * 40})
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    "schema,variables",
    [
        (obj(code={"pattern": "(x+x+)+y"}), {"code": "x" * 5000}),
        (obj(code={"pattern": "^(a|aa)+$"}), {"code": "a" * 80 + "!"}),
        (obj(m={"type": "object", "patternProperties": {"(x+x+)+y": {}}}), {"m": {"x" * 5000: 1}}),
        (obj(m={"type": "object", "patternProperties": {"(x+x+)+y": {}}, "additionalProperties": False}),
         {"m": {"x" * 5000: 1}}),
        (obj(m={"type": "object", "patternProperties": {"(x+x+)+y": {}}, "unevaluatedProperties": False}),
         {"m": {"x" * 5000: 1}}),
        (obj(m={"type": "object", "propertyNames": {"pattern": "(x+x+)+y"}}), {"m": {"x" * 5000: 1}}),
    ],
    ids=["pattern", "alternation", "patternProperties", "additionalProperties", "unevaluatedProperties",
         "propertyNames"],
)  # fmt: skip
def test_catastrophic_patterns_are_bounded(schema, variables):
    check_variables_schema(schema)
    started = time.monotonic()
    with pytest.raises(RenderLimitExceeded) as info:
        validate_variables(schema, variables)
    assert time.monotonic() - started < 1.5
    assert info.value.code == "limit_exceeded"
    assert info.value.details["limit"] == "pattern_seconds"
    assert "simplify the pattern" in info.value.message


def test_many_slow_values_are_bounded_by_the_whole_check_deadline():
    schema = obj(rows={"type": "array", "items": {"pattern": "(x+x+)+y"}})
    started = time.monotonic()
    with pytest.raises(RenderLimitExceeded):
        validate_variables(schema, {"rows": ["x" * 3000] * 100})
    assert time.monotonic() - started < schema_module.VALIDATION_SECONDS + 0.5


def test_an_exponential_schema_is_bounded_by_the_deadline():
    branch = {"type": "array", "items": {"$ref": "#/$defs/n"}}
    schema = {
        "type": "object",
        "$defs": {"n": {"anyOf": [{**branch, "maxItems": 0}, branch, {"type": "string"}]}},
        "properties": {"t": {"$ref": "#/$defs/n"}},
    }
    check_variables_schema(schema)
    value: object = 1
    for _ in range(40):
        value = [value]
    started = time.monotonic()
    with pytest.raises(RenderLimitExceeded) as info:
        validate_variables(schema, {"t": value})
    assert time.monotonic() - started < schema_module.VALIDATION_SECONDS + 0.5
    assert info.value.details["limit"] == "schema_seconds"


def test_unique_items_is_linear():
    schema = obj(rows={"type": "array", "uniqueItems": True})
    rows = [{"id": i, "tags": [i, str(i)]} for i in range(5_000)]  # quadratic: ~10 s
    started = time.monotonic()
    validate_variables(schema, {"rows": rows})
    assert errors_of(schema, {"rows": [*rows, {"tags": [0, "0"], "id": 0.0}]}) == {
        "rows": "must not contain duplicate items"
    }
    assert time.monotonic() - started < 2.0


def test_schema_size_and_depth_are_bounded():
    big = obj(**{f"v{i}": {"type": "string", "description": "x" * 100} for i in range(1000)})
    with pytest.raises(RenderError) as info:
        check_variables_schema(big)
    assert "at most 100,000 are allowed" in info.value.message
    deep: dict = {"type": "string"}
    for _ in range(40):
        deep = {"type": "object", "properties": {"a": deep}}
    with pytest.raises(RenderError) as info:
        check_variables_schema(deep)
    assert "nested more than 64 levels deep" in info.value.message
    very_deep: object = {}
    for _ in range(100_000):
        very_deep = {"not": very_deep}
    with pytest.raises(RenderError) as info:
        validate_variables(very_deep, {})
    assert info.value.code == "invalid_schema"


def test_a_deep_but_allowed_schema_works():
    deep: dict = {"type": "string"}
    for _ in range(30):
        deep = {"type": "object", "properties": {"a": deep}}
    check_variables_schema(deep)
    value: object = "x"
    for _ in range(30):
        value = {"a": value}
    validate_variables(deep, value)


# --------------------------------------------------------------------------- the cache


def test_compiled_validators_are_cached_by_content():
    schema_module._compile.cache_clear()
    schema_module._BY_ID.clear()
    schema = obj(a={"type": "string"})
    for _ in range(3):
        validate_variables(schema, {"a": "x"})
        validate_variables(json.loads(json.dumps(schema)), {"a": "x"})  # equal, another object
    assert schema_module._compile.cache_info().misses == 1


def test_a_schema_changed_in_place_is_not_served_stale():
    schema = obj(a={"const": 1})
    validate_variables(schema, {"a": 1})
    schema["properties"]["a"]["const"] = True  # equal to 1 in Python, not in JSON Schema
    with pytest.raises(InvalidVariables):
        validate_variables(schema, {"a": 1})
    validate_variables(schema, {"a": True})
    schema["properties"]["a"] = {"type": "string"}
    assert errors_of(schema, {"a": True}) == {"a": "must be a string"}


def test_the_caller_cannot_change_a_compiled_schema():
    schema = obj(a={"type": "string"})
    check_variables_schema(schema)
    compiled = schema_module._compiled(schema)
    schema["properties"]["a"]["type"] = "integer"
    assert compiled.schema["properties"]["a"]["type"] == "string"
