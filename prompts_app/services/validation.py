"""Input cleaners shared by services and selectors: each returns the cleaned
value or raises a DomainError that names the field and says how to fix it."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from django.core.exceptions import ValidationError

from prompts_app.errors import DomainError
from prompts_app.lib.jsonutil import canonical_json
from prompts_app.models import Prompt, slug_validator

MODEL_CONFIG_FIELDS: dict[str, tuple[type, ...]] = {
    "model": (str,),
    "temperature": (int, float),
    "top_p": (int, float),
    "max_tokens": (int,),
    "response_format": (dict, str),
    "stop": (str, list),
    "seed": (int,),
    "presence_penalty": (int, float),
    "frequency_penalty": (int, float),
}
MAX_DESCRIPTION_CHARS = 10_000
MAX_MESSAGE_CHARS = 10_000
MAX_EXAMPLES = 10_000


def check_slug(value: Any, *, field: str) -> str:
    if not isinstance(value, str):
        raise DomainError(f"'{field}' must be a string.", field=field)
    try:
        slug_validator(value)
    except ValidationError:
        raise DomainError(
            f"'{value}' is not a valid {field}: use 1-100 lowercase letters, digits, '-', '_' "
            "or '.', starting with a letter or digit (no spaces or slashes).",
            field=field,
        ) from None
    return value


def check_text(value: Any, *, field: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DomainError(f"'{field}' must be a string.", field=field)
    if len(value) > limit:
        raise DomainError(f"'{field}' is longer than {limit} characters.", field=field)
    return value


def check_tags(value: Any, *, field: str = "tags") -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(
        isinstance(t, str) and 0 < len(t) <= 50 for t in value
    ):
        raise DomainError(
            f"'{field}' must be a list of short strings (1-50 characters).", field=field
        )
    return value


def model_config_clean(config: Any) -> dict:
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise DomainError("'model_config' must be an object.", field="model_config")
    unknown = sorted(set(config) - set(MODEL_CONFIG_FIELDS))
    if unknown:
        raise DomainError(
            f"Unknown model_config keys: {', '.join(unknown)}. "
            f"Allowed: {', '.join(MODEL_CONFIG_FIELDS)}.",
            field="model_config",
        )
    for key, value in config.items():
        types = MODEL_CONFIG_FIELDS[key]
        if isinstance(value, bool) or not isinstance(value, types):
            names = " or ".join(
                {
                    str: "a string",
                    int: "an integer",
                    float: "a number",
                    dict: "an object",
                    list: "a list",
                }[t]
                for t in types
            )
            raise DomainError(f"model_config.{key} must be {names}.", field=f"model_config.{key}")
    if "temperature" in config and not 0 <= config["temperature"] <= 2:
        raise DomainError(
            "model_config.temperature must be between 0 and 2.", field="model_config.temperature"
        )
    if "top_p" in config and not 0 <= config["top_p"] <= 1:
        raise DomainError("model_config.top_p must be between 0 and 1.", field="model_config.top_p")
    if "max_tokens" in config and config["max_tokens"] < 1:
        raise DomainError(
            "model_config.max_tokens must be at least 1.", field="model_config.max_tokens"
        )
    return config


def prompt_body_clean(kind: str, template: Any, messages: Any) -> str | list[dict]:
    if kind == Prompt.KIND_TEXT:
        if messages is not None:
            raise DomainError("A text prompt takes 'template', not 'messages'.", field="messages")
        if not isinstance(template, str) or not template.strip():
            raise DomainError("'template' is required: a non-empty string.", field="template")
        return template
    if template is not None:
        raise DomainError("A chat prompt takes 'messages', not 'template'.", field="template")
    if not isinstance(messages, list) or not messages:
        raise DomainError(
            '\'messages\' is required: a non-empty list of {"role", "content"}.', field="messages"
        )
    cleaned = []
    for index, item in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(item, dict) or set(item) - {"role", "content"}:
            raise DomainError(
                f"{where} must be an object with 'role' and 'content' only.", field=where
            )
        if item.get("role") not in ("system", "user", "assistant"):
            raise DomainError(
                f"{where}.role must be system, user or assistant.", field=f"{where}.role"
            )
        if not isinstance(item.get("content"), str):
            raise DomainError(f"{where}.content must be a string.", field=f"{where}.content")
        cleaned.append({"role": item["role"], "content": item["content"]})
    return cleaned


def schema_clean(schema: Any) -> dict:
    if not isinstance(schema, dict):
        raise DomainError("'variables' must be a JSON Schema object.", field="variables")
    if schema.get("type", "object") != "object":
        raise DomainError("'variables' schema must have type 'object'.", field="variables")
    if not isinstance(schema.get("properties", {}), dict):
        raise DomainError("'variables.properties' must be an object.", field="variables")
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise DomainError("'variables.required' must be a list of names.", field="variables")
    if len(canonical_json(schema)) > 100_000:
        raise DomainError("'variables' schema is too large (100 KB at most).", field="variables")
    return schema


def examples_clean(examples: Any) -> list[dict]:
    if not isinstance(examples, list):
        raise DomainError("'examples' must be a list.", field="examples")
    if len(examples) > MAX_EXAMPLES:
        raise DomainError(f"At most {MAX_EXAMPLES} examples per version.", field="examples")
    cleaned = []
    for index, item in enumerate(examples):
        where = f"examples[{index}]"
        if not isinstance(item, dict):
            raise DomainError(f"{where} must be an object.", field=where)
        unknown = set(item) - {"input", "output", "tags", "approved"}
        if unknown:
            raise DomainError(
                f"{where} has unknown keys: {', '.join(sorted(unknown))}.", field=where
            )
        if not isinstance(item.get("input"), (dict, str)):
            raise DomainError(
                f"{where}.input must be an object of variables or a user message string.",
                field=f"{where}.input",
            )
        if not isinstance(item.get("output"), str):
            raise DomainError(f"{where}.output must be a string.", field=f"{where}.output")
        approved = item.get("approved", False)
        if not isinstance(approved, bool):
            raise DomainError(f"{where}.approved must be true or false.", field=f"{where}.approved")
        cleaned.append(
            {
                "input": item["input"],
                "output": item["output"],
                "tags": check_tags(item.get("tags"), field=f"{where}.tags"),
                "approved": approved,
            }
        )
    if len(canonical_json(cleaned)) > 5_000_000:
        raise DomainError(
            "The examples are too large (5 MB at most per version).", field="examples"
        )
    return cleaned


# --- JSON and text hygiene ---------------------------------------------------------
#
# What a client sends as JSON (an API body, an admin JSON textarea) is checked once,
# as it is parsed, for what no field can hold: containers nested deeper than
# MAX_JSON_DEPTH, lone UTF-16 surrogates ("\ud800": not a character, and not
# encodable as UTF-8), NUL characters (PostgreSQL text and jsonb cannot store
# them), and numbers that overflow to infinity (not JSON). Each is a 400 that
# names the field; nothing past the parser ever sees such a value.

MAX_JSON_DEPTH = 64
_SURROGATE = re.compile("[\ud800-\udfff]")
# A NUL or a surrogate can only reach a parsed JSON string through a \u escape:
# a body without one needs no per-string check.
_RISKY_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def json_path(parts: tuple, base: str | None = None) -> str | None:
    """("events", 3, "model") -> "events[3].model" (the API's field spelling)."""
    path = base or ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path or None


def text_problem(value: str) -> tuple[str, str] | None:
    """(code, what is wrong) when a string cannot be stored as text, else None."""
    if "\x00" in value:
        return "nul_character", "contains a NUL character (\\u0000), which text cannot hold"
    if not value.isascii():
        found = _SURROGATE.search(value)
        if found:
            return (
                "invalid_unicode",
                f"contains a lone UTF-16 surrogate (\\u{ord(found.group()):04x}), which is not "
                "a character: send valid Unicode (a pair of surrogates, or the character itself)",
            )
    return None


def _node_parts(node) -> tuple:
    parts = []
    while node is not None:
        node, key = node
        parts.append(key)
    return tuple(reversed(parts))


def _scalar_problem(value: Any, texts: bool) -> tuple[str, str] | None:
    if type(value) is float and not math.isfinite(value):
        return "invalid_number", "is a number too large for JSON (it overflows to infinity)"
    if texts and type(value) is str:
        return text_problem(value)
    return None


def json_value_check(
    value: Any, *, field: str | None = None, texts: bool = True, max_depth: int = MAX_JSON_DEPTH
) -> Any:
    """Raise a DomainError naming the first place in `value` that cannot be stored
    (see above); `texts=False` skips the per-string checks (when the raw JSON had
    no \\u escape that could produce one). Iterative: any depth is safe to check."""

    def refuse(node, code: str, what: str, *, key: bool = False):
        where = json_path(_node_parts(node), field)
        if key:
            message = f"A key in '{where or 'the body'}' {what}."
        else:
            message = f"'{where or 'value'}' {what}."
        raise DomainError(message, field=where, code=code)

    problem = _scalar_problem(value, texts)
    if problem:
        refuse(None, *problem)
    if type(value) is not dict and type(value) is not list:
        return value
    stack: list[tuple[Any, Any, int]] = [(value, None, 0)]
    while stack:
        item, node, depth = stack.pop()
        if depth >= max_depth:
            where = json_path(_node_parts(node), field)
            shown = where if not where or len(where) <= 60 else where[:57] + "..."
            raise DomainError(
                f"The JSON is nested more than {max_depth} levels deep"
                f"{f' at {shown!s}' if shown else ''}: arrays and objects may nest "
                f"{max_depth} levels at most.",
                field=where,
                code="too_deep",
            )
        is_dict = type(item) is dict
        for key, child in item.items() if is_dict else enumerate(item):
            kind = type(child)
            if kind is dict or kind is list:
                stack.append((child, (node, key), depth + 1))
            elif kind is float or (texts and kind is str):
                problem = _scalar_problem(child, texts)
                if problem:
                    refuse((node, key), *problem)
            if texts and is_dict and type(key) is str:
                problem = text_problem(key)
                if problem:
                    refuse(node, *problem, key=True)
    return value


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON: numbers must be finite")


def json_loads(text: str, *, field: str | None = None) -> Any:
    """json.loads for client text: a ValueError (json.JSONDecodeError for syntax)
    for what is not JSON, a DomainError naming the field for what no field can
    hold (see above)."""
    try:
        # 1e999 parses to infinity: the check below names its field.
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise DomainError(
            f"The JSON{f' in {field!s}' if field else ''} is nested too deeply: arrays and "
            f"objects may nest {MAX_JSON_DEPTH} levels at most.",
            field=field,
            code="too_deep",
        ) from None
    risky = (
        _RISKY_ESCAPE.search(text) is not None
        or "\x00" in text
        or (not text.isascii() and _SURROGATE.search(text) is not None)
    )
    return json_value_check(value, field=field, texts=risky)
