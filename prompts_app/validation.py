"""Input cleaners shared by services and selectors: each returns the cleaned
value or raises a DomainError that names the field and says how to fix it."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from prompts_app.errors import DomainError
from prompts_app.models import Prompt, slug_validator
from prompts_app.jsonutil import canonical_json

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
