"""Variable schemas: validation of variable values against a JSON Schema."""

from __future__ import annotations

import json
from typing import Any

from .errors import InvalidVariables, MissingVariables

# --------------------------------------------------------------------------- variables


def _path(parent: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    if isinstance(key, str) and key.isidentifier():
        return f"{parent}.{key}" if parent else key
    return f"{parent}[{json.dumps(key, ensure_ascii=False)}]"


_TYPE_NAMES = {
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "a boolean",
    "array": "an array",
    "object": "an object",
    "null": "null",
}


def _is_type(value: Any, name: str) -> bool:
    if name == "string":
        return isinstance(value, str)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "integer":
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if name == "boolean":
        return isinstance(value, bool)
    if name == "array":
        return isinstance(value, (list, tuple))
    if name == "object":
        return isinstance(value, dict)
    if name == "null":
        return value is None
    return True  # unknown type names are ignored


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    try:
        return a == b
    except Exception:
        return False


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _schema_errors(schema: Any, value: Any, path: str, errors: list, depth: int) -> None:
    if len(errors) >= 50 or depth > 64:
        return
    if schema is False:
        errors.append({"path": path, "message": "is not allowed"})
        return
    if not isinstance(schema, dict):
        return
    where = path or "variables"
    expected = schema.get("type")
    if isinstance(expected, str):
        expected = [expected]
    if isinstance(expected, list) and expected:
        known = [t for t in expected if t in _TYPE_NAMES]
        if known and not any(_is_type(value, t) for t in known):
            errors.append(
                {"path": where, "message": "must be " + " or ".join(_TYPE_NAMES[t] for t in known)}
            )
            return
    enum = schema.get("enum")
    if isinstance(enum, list) and not any(_json_equal(value, option) for option in enum):
        errors.append(
            {"path": where, "message": "must be one of " + ", ".join(_short(o) for o in enum[:20])}
        )
    if "const" in schema and not _json_equal(value, schema["const"]):
        errors.append({"path": where, "message": f"must be {_short(schema['const'])}"})
    try:
        if isinstance(value, str):
            if isinstance(schema.get("minLength"), int) and len(value) < schema["minLength"]:
                errors.append(
                    {"path": where, "message": f"must be at least {schema['minLength']} characters"}
                )
            if isinstance(schema.get("maxLength"), int) and len(value) > schema["maxLength"]:
                errors.append(
                    {"path": where, "message": f"must be at most {schema['maxLength']} characters"}
                )
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            for key, fails, text in (
                ("minimum", lambda v, m: v < m, "at least"),
                ("maximum", lambda v, m: v > m, "at most"),
                ("exclusiveMinimum", lambda v, m: v <= m, "greater than"),
                ("exclusiveMaximum", lambda v, m: v >= m, "less than"),
            ):
                bound = schema.get(key)
                if (
                    isinstance(bound, (int, float))
                    and not isinstance(bound, bool)
                    and fails(value, bound)
                ):
                    errors.append({"path": where, "message": f"must be {text} {bound}"})
        elif isinstance(value, (list, tuple)):
            if isinstance(schema.get("minItems"), int) and len(value) < schema["minItems"]:
                errors.append(
                    {"path": where, "message": f"must have at least {schema['minItems']} items"}
                )
            if isinstance(schema.get("maxItems"), int) and len(value) > schema["maxItems"]:
                errors.append(
                    {"path": where, "message": f"must have at most {schema['maxItems']} items"}
                )
            items = schema.get("items")
            if isinstance(items, (dict, bool)):
                for index, item in enumerate(value):
                    _schema_errors(items, item, _path(path, index), errors, depth + 1)
            elif isinstance(items, list):
                for index, (item, sub) in enumerate(zip(value, items, strict=False)):
                    _schema_errors(sub, item, _path(path, index), errors, depth + 1)
        elif isinstance(value, dict):
            properties = schema.get("properties")
            properties = properties if isinstance(properties, dict) else {}
            required = schema.get("required")
            if isinstance(required, list):
                for name in required:
                    if isinstance(name, str) and name not in value:
                        errors.append({"path": _path(path, name), "message": "is required"})
            for key, item in value.items():
                if key in properties:
                    _schema_errors(properties[key], item, _path(path, key), errors, depth + 1)
                else:
                    extra = schema.get("additionalProperties", True)
                    if extra is False:
                        errors.append(
                            {"path": _path(path, key), "message": "is not an allowed property"}
                        )
                    elif isinstance(extra, dict):
                        _schema_errors(extra, item, _path(path, key), errors, depth + 1)
    except Exception:  # a malformed schema keyword: ignore it, like unknown keywords
        return


def _missing(names: list[str], where: str | None = None) -> MissingVariables:
    names = sorted(names)
    listed = ", ".join(names)
    noun = "variable" if len(names) == 1 else "variables"
    context = f" for {where}" if where and where != "variables" else ""
    details: dict = {"missing": names, "where": where or "variables"}
    return MissingVariables(
        f"Missing {len(names)} required {noun}{context}: {listed}. Pass a value for each.",
        details=details,
    )


def _invalid(errors: list[dict], where: str = "variables") -> InvalidVariables:
    shown = "; ".join(f"{e['path']} {e['message']}" for e in errors[:10])
    more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
    return InvalidVariables(
        f"Invalid variables: {shown}{more}.", details={"errors": errors, "where": where}
    )


def validate_variables(schema: dict, variables: Any) -> None:
    """Validate variable values against a practical JSON-Schema subset: type (string,
    number, integer, boolean, array, object, null, or a list of them; a bool is not a
    number), required, properties (recursive), items, enum, const, minLength, maxLength,
    minimum, maximum, exclusiveMinimum, exclusiveMaximum, minItems, maxItems,
    additionalProperties (false or a schema). Unknown keywords are ignored.

    Raises MissingVariables (every missing top-level required name) or
    InvalidVariables (``details["errors"]`` = [{path, message}])."""
    if not isinstance(variables, dict):
        raise _invalid(
            [{"path": "variables", "message": "must be an object (a dict of name to value)"}]
        )
    if not isinstance(schema, dict):
        return
    required = schema.get("required")
    if isinstance(required, list):
        missing = [n for n in required if isinstance(n, str) and n not in variables]
        if missing:
            raise _missing(missing)
    errors: list = []
    _schema_errors(schema, variables, "", errors, 0)
    if errors:
        raise _invalid(errors)
