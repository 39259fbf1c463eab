"""Variable schemas: JSON Schema (draft 2020-12) validation of variable values.

The one implementation, shared by the server and the SDK (Django-free: ``jsonschema``,
``referencing`` and ``regex`` only). Every keyword of draft 2020-12 is enforced by
``jsonschema``'s own :class:`~jsonschema.Draft202012Validator`, extended where the
stock keyword is unsafe or its error unusable:

* ``pattern``, ``patternProperties`` (and the property matching of
  ``additionalProperties`` / ``unevaluatedProperties``) use the ``regex`` package with
  a timeout, so a catastrophic pattern cannot hang a render;
* ``uniqueItems`` is linear (the stock check is quadratic for objects);
* ``required``, ``dependentRequired``, ``additionalProperties``,
  ``unevaluatedProperties``, ``propertyNames`` report one error per property, at the
  property's path;
* ``format`` is asserted, with a fixed set of formats (see :data:`SUPPORTED_FORMATS`);
* ``$ref`` / ``$dynamicRef`` resolve inside the schema only: a remote (``http(s):``,
  ``file:``, ...) reference is refused when the schema is checked and never fetched;
* the whole check runs under a deadline.

Trust model: variable values are untrusted, schemas semi-trusted (they are bounded in
size and nesting, checked against the 2020-12 meta-schema, and their references and
patterns are checked before any value is validated).

Compiled validators are cached per schema (keyed by its canonical JSON, bounded LRU).
"""

from __future__ import annotations

import contextvars
import difflib
import functools
import json
import re
import threading
import time
from datetime import date
from itertools import islice
from typing import Any

from .errors import InvalidVariables, MissingVariables, RenderError, RenderLimitExceeded

# --------------------------------------------------------------------------- limits

MAX_SCHEMA_CHARS = 100_000  # canonical JSON of a variables schema
MAX_SCHEMA_DEPTH = 64  # nesting of objects/arrays inside a variables schema
MAX_ERRORS = 50  # errors collected per validation
PATTERN_SECONDS = 0.1  # one regex search against one value
VALIDATION_SECONDS = 0.5  # a whole validate_variables call
_MAX_REGEX_FORMAT_CHARS = 1_000  # values checked with format "regex"
_CACHE_SIZE = 128

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_DIALECTS = {SCHEMA_DIALECT, SCHEMA_DIALECT + "#"}

# --------------------------------------------------------------------------- paths & errors


def _path(parent: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    if isinstance(key, str) and key.isidentifier():
        return f"{parent}.{key}" if parent else key
    return f"{parent}[{json.dumps(key, ensure_ascii=False)}]"


def _join(keys) -> str:
    path = ""
    for key in keys:
        path = _path(path, key)
    return path


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
    shown = "; ".join(f"{_clip(e['path'], 100)} {e['message']}" for e in errors[:10])
    more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
    return InvalidVariables(
        f"Invalid variables: {shown}{more}.", details={"errors": errors, "where": where}
    )


def _schema_error(path: str, reason: str, keyword: str | None = None) -> RenderError:
    where = f" at {path}" if path else ""
    details = {"where": "variables", "path": path, "keyword": keyword}
    return RenderError(
        f"The variables schema is invalid{where}: {reason.rstrip('.')}.",
        code="invalid_schema",
        details=details,
    )


def _copy_error(exc: RenderError) -> RenderError:
    return type(exc)(exc.message, code=exc.code, details=exc.details)


# --------------------------------------------------------------------------- messages

_TYPE_NAMES = {
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "a boolean",
    "array": "an array",
    "object": "an object",
    "null": "null",
}

_FORMAT_LABELS = {
    "date": "date (YYYY-MM-DD)",
    "date-time": "date-time (RFC 3339, e.g. 2025-01-31T09:30:00Z)",
    "time": "time (RFC 3339, e.g. 09:30:00Z)",
    "email": "email address",
    "idn-email": "email address",
    "hostname": "hostname",
    "idn-hostname": "hostname",
    "ipv4": "IPv4 address",
    "ipv6": "IPv6 address",
    "uri": "URI with a scheme (e.g. https://example.com/a)",
    "uri-reference": "URI reference",
    "uuid": "UUID",
    "regex": "regular expression",
}


def _short(value: Any, limit: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _count(number: Any, noun: str, plural: str | None = None) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {plural or noun + 's'}"


def _quoted_pattern(pattern: str) -> str:
    return "'" + (pattern if len(pattern) <= 60 else pattern[:57] + "...") + "'"


def _error(message: str, path=()) -> ValidationError:
    """An error whose message is already written for a person."""
    error = ValidationError(message, path=path)
    error.pl_message = message
    return error


def _options(error: ValidationError, head: str) -> str:
    first: dict = {}
    for sub in error.context or ():
        index = sub.relative_schema_path[0] if sub.relative_schema_path else None
        if index not in first or (sub.validator == "type" and first[index].validator != "type"):
            first[index] = sub  # the first error of each option; its type error if any
    parts = []
    for index, sub in list(first.items())[:3]:
        where = _join(sub.relative_path)
        label = f"{index + 1}: " if isinstance(index, int) else ""
        parts.append(f"{label}{where + ' ' if where else ''}{_message(sub)}")
    if len(first) > 3:
        parts.append("...")
    return f"{head} ({', or '.join(parts)})" if parts else head


def _message(error: ValidationError) -> str:
    """What went wrong, as the predicate of a sentence whose subject is the path."""
    ready = getattr(error, "pl_message", None)
    if ready:
        return ready
    keyword, value = error.validator, error.validator_value
    if keyword is None:
        return "is not allowed"  # a false schema
    if keyword == "type":
        names = [value] if isinstance(value, str) else list(value)
        if names == ["object", "boolean"]:  # a subschema position, in the meta-schema
            return "must be a schema (a JSON object, or true / false)"
        return "must be " + " or ".join(_TYPE_NAMES.get(n, str(n)) for n in names)
    if keyword == "enum":
        shown = ", ".join(_short(o) for o in value[:20])
        return f"must be one of {shown}{', ...' if len(value) > 20 else ''}"
    if keyword == "const":
        return f"must be {_short(value)}"
    if keyword == "minLength":
        return f"must be at least {_count(value, 'character')}"
    if keyword == "maxLength":
        return f"must be at most {_count(value, 'character')}"
    if keyword == "minimum":
        return f"must be at least {value}"
    if keyword == "maximum":
        return f"must be at most {value}"
    if keyword == "exclusiveMinimum":
        return f"must be greater than {value}"
    if keyword == "exclusiveMaximum":
        return f"must be less than {value}"
    if keyword == "multipleOf":
        return f"must be a multiple of {value}"
    if keyword == "minItems":
        return f"must have at least {_count(value, 'item')}"
    if keyword == "maxItems":
        return f"must have at most {_count(value, 'item')}"
    if keyword == "uniqueItems":
        return "must not contain duplicate items"
    if keyword == "contains":
        return "must contain at least one item that matches the 'contains' schema"
    if keyword == "minContains":
        return f"must contain at least {_count(value, 'item')} that match the 'contains' schema"
    if keyword == "maxContains":
        return f"must contain at most {_count(value, 'item')} that match the 'contains' schema"
    if keyword == "minProperties":
        return f"must have at least {_count(value, 'property', 'properties')}"
    if keyword == "maxProperties":
        return f"must have at most {_count(value, 'property', 'properties')}"
    if keyword == "format":
        return f"must be a valid {_FORMAT_LABELS.get(value, str(value))}"
    if keyword == "pattern":
        return f"must match the pattern {_quoted_pattern(value)}"
    if keyword == "not":
        return f"must not match the 'not' schema {_short(value, 60)}"
    if keyword == "anyOf":
        return _options(error, "must match one of the anyOf options")
    if keyword == "oneOf":
        if error.context:
            return _options(error, "must match exactly one of the oneOf options")
        return "must match exactly one of the oneOf options, but matches several"
    if keyword == "unevaluatedItems":
        return "has more items than the schema allows"
    return _clip(str(error.message), 200)


# --------------------------------------------------------------------------- deadline & regex

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "promptledger_schema_deadline", default=None
)


def _too_slow() -> RenderLimitExceeded:
    return RenderLimitExceeded(
        f"Checking the variables against the schema took longer than {VALIDATION_SECONDS:g} "
        "seconds; simplify the schema (fewer anyOf/oneOf branches, simpler patterns) or send "
        "smaller variables.",
        details={"limit": "schema_seconds", "value": VALIDATION_SECONDS, "where": "variables"},
    )


def _tick() -> None:
    deadline = _DEADLINE.get()
    if deadline is not None and time.monotonic() > deadline:
        raise _too_slow()


@functools.lru_cache(maxsize=1024)
def _compiled_pattern(pattern: str):
    _load()
    return regex.compile(pattern)


def _search(pattern: str, text: str) -> bool:
    """``re.search`` semantics (as jsonschema), bounded in time."""
    compiled = _compiled_pattern(pattern)
    timeout = PATTERN_SECONDS
    deadline = _DEADLINE.get()
    if deadline is not None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _too_slow()
        timeout = min(timeout, remaining)
    try:
        return compiled.search(text, timeout=timeout) is not None
    except TimeoutError:
        raise RenderLimitExceeded(
            f"The schema pattern {_quoted_pattern(pattern)} took longer than "
            f"{timeout:.2g} seconds to check against a {len(text):,}-character value; "
            "simplify the pattern (nested repetition such as (a+)+ can take exponential time).",
            details={
                "limit": "pattern_seconds",
                "value": PATTERN_SECONDS,
                "where": "variables",
                "pattern": pattern[:200],
            },
        ) from None


# --------------------------------------------------------------------------- formats

_RE_TIME = r"(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
_DATE_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt]" + _RE_TIME, re.ASCII)
_TIME = re.compile(_RE_TIME, re.ASCII)
_URI_BODY = r"[A-Za-z0-9\-._~!$&'()*+,;=:@/?#\[\]%]*"
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:" + _URI_BODY, re.ASCII)
_URI_REFERENCE = re.compile(_URI_BODY, re.ASCII)
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?", re.ASCII)


def _time_ok(groups) -> bool:
    hour, minute, second, zulu, sign, off_h, off_m = groups
    hour, minute, second = int(hour), int(minute), int(second)
    if hour > 23 or minute > 59 or second > 60:
        return False
    offset = 0
    if not zulu:
        if int(off_h) > 23 or int(off_m) > 59:
            return False
        offset = (int(off_h) * 60 + int(off_m)) * (1 if sign == "+" else -1)
    if second == 60:  # a leap second happens at 23:59:60 UTC only
        return (hour * 60 + minute - offset) % 1440 == 23 * 60 + 59
    return True


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    match = _DATE_TIME.fullmatch(value)
    if not match:
        return False
    try:
        date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return False
    return _time_ok(match.groups()[3:])


def _is_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    match = _TIME.fullmatch(value)
    return bool(match) and _time_ok(match.groups())


def _uri_ok(value: str, pattern) -> bool:
    return (
        pattern.fullmatch(value) is not None
        and _BAD_PERCENT.search(value) is None
        and value.count("#") <= 1
    )


def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or _uri_ok(value, _URI)


def _is_uri_reference(value: object) -> bool:
    return not isinstance(value, str) or _uri_ok(value, _URI_REFERENCE)


def _is_hostname(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not value or len(value) > 253:
        return False
    return all(_LABEL.fullmatch(label) for label in value.split("."))


def _is_regex(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if len(value) > _MAX_REGEX_FORMAT_CHARS:
        return False
    re.compile(value)
    return True


def _is_idn_hostname(value: object) -> bool:  # (when the idna package is missing)
    if not isinstance(value, str):
        return True
    try:
        return _is_hostname(value.encode("idna").decode("ascii"))
    except UnicodeError:
        return False


SUPPORTED_FORMATS = (
    "date", "date-time", "email", "hostname", "idn-email", "idn-hostname", "ipv4", "ipv6",
    "regex", "time", "uri", "uri-reference", "uuid",
)  # fmt: skip


def _format_checker():
    from jsonschema import Draft202012Validator, FormatChecker

    checker = FormatChecker(formats=())
    stock = Draft202012Validator.FORMAT_CHECKER.checkers
    for name in ("date", "email", "idn-email", "idn-hostname", "ipv4", "ipv6", "uuid"):
        if name in stock:
            func, raises = stock[name]
            checker.checks(name, raises)(func)
    if "idn-hostname" not in stock:
        checker.checks("idn-hostname")(_is_idn_hostname)
    checker.checks("date-time")(_is_date_time)
    checker.checks("time")(_is_time)
    checker.checks("uri")(_is_uri)
    checker.checks("uri-reference")(_is_uri_reference)
    checker.checks("hostname")(_is_hostname)
    checker.checks("regex", raises=re.error)(_is_regex)
    return checker


# --------------------------------------------------------------------------- keywords


def _descend(validator, instance, schema, path=None, schema_path=None):
    """``validator.descend`` without building a child validator per subschema.

    Same keyword functions, same error bookkeeping. A child validator only differs
    from its parent by its resolver when the subschema has an ``$id`` (or a
    ``$schema``), which variables schemas only have at the top level; such a
    subschema still goes through ``validator.descend``."""
    _tick()
    if schema is False:  # (the stock descend leaves the path out of this error)
        error = _error("is not allowed", path=() if path is None else (path,))
        if schema_path is not None:
            error.schema_path.appendleft(schema_path)
        yield error
        return
    if type(schema) is not dict or "$id" in schema or "$schema" in schema:
        yield from validator.descend(instance, schema, path=path, schema_path=schema_path)
        return
    functions = validator.VALIDATORS
    for keyword, value in schema.items():
        function = functions.get(keyword)
        if function is None:
            continue
        for error in function(validator, value, instance, schema) or ():
            error._set(
                validator=keyword,
                validator_value=value,
                instance=instance,
                schema=schema,
                type_checker=validator.TYPE_CHECKER,
            )
            if keyword not in ("if", "$ref"):
                error.schema_path.appendleft(keyword)
            if path is not None:
                error.path.appendleft(path)
            if schema_path is not None:
                error.schema_path.appendleft(schema_path)
            yield error


_KNOWN_TYPES = frozenset(_TYPE_NAMES)


def _type(validator, types, instance, schema):
    names = [types] if isinstance(types, str) else types
    kind = type(instance)
    if kind is str:
        have = ("string",)
    elif kind is bool:
        have = ("boolean",)
    elif kind is int:
        have = ("integer", "number")
    elif kind is float:
        have = ("integer", "number") if instance.is_integer() else ("number",)
    elif kind is dict:
        have = ("object",)
    elif kind is list:
        have = ("array",)
    elif instance is None:
        have = ("null",)
    else:
        have = None
    if have is None or not _KNOWN_TYPES.issuperset(names):
        yield from _STOCK["type"](validator, types, instance, schema)
        return
    for name in names:
        if name in have:
            return
    yield ValidationError(f"is not of type {', '.join(names)}")


def _properties(validator, properties, instance, schema):
    if not isinstance(instance, dict):
        return
    for name, subschema in properties.items():
        if name in instance:
            yield from _descend(validator, instance[name], subschema, path=name, schema_path=name)


def _pattern_properties(validator, patterns, instance, schema):
    if not isinstance(instance, dict):
        return
    for pattern, subschema in patterns.items():
        for name, value in instance.items():
            if _search(pattern, name):
                yield from _descend(validator, value, subschema, path=name, schema_path=pattern)


def _additional_properties(validator, extra, instance, schema):
    if not isinstance(instance, dict) or extra is True:
        return
    properties = schema.get("properties", {})
    patterns = schema.get("patternProperties", {})
    for name in instance:
        if name in properties or any(_search(p, name) for p in patterns):
            continue
        if extra is False:
            yield _error("is not an allowed property", path=(name,))
        else:
            yield from _descend(validator, instance[name], extra, path=name)


def _items(validator, items, instance, schema):
    if not isinstance(instance, list):
        return
    prefix = len(schema.get("prefixItems", ()))
    if len(instance) <= prefix:
        return
    if items is False:
        yield _error(f"must have at most {_count(prefix, 'item')}")
        return
    for index in range(prefix, len(instance)):
        yield from _descend(validator, instance[index], items, path=index)


def _prefix_items(validator, prefix_items, instance, schema):
    if not isinstance(instance, list):
        return
    for index, (item, subschema) in enumerate(zip(instance, prefix_items, strict=False)):
        yield from _descend(validator, item, subschema, path=index, schema_path=index)


def _pattern(validator, pattern, instance, schema):
    if isinstance(instance, str) and not _search(pattern, instance):
        yield ValidationError(f"does not match {pattern!r}")


def _required(validator, required, instance, schema):
    if not isinstance(instance, dict):
        return
    for name in required:
        if name not in instance:
            yield _error("is required", path=(name,))


def _dependent_required(validator, dependencies, instance, schema):
    if not isinstance(instance, dict):
        return
    for name, needed in dependencies.items():
        if name in instance:
            for each in needed:
                if each not in instance:
                    yield _error(f"is required when {_join([name])} is given", path=(each,))


def _property_names(validator, names_schema, instance, schema):
    if not isinstance(instance, dict):
        return
    for name in instance:
        first = next(iter(_descend(validator, name, names_schema)), None)
        if first is not None:
            yield _error(f"is not an allowed property name (it {_message(first)})", path=(name,))


def _freeze(value: Any) -> Any:
    """A hashable key equal for values JSON Schema calls equal (1 == 1.0, true != 1)."""
    kind = type(value)
    if kind is bool:
        return ("b", value)
    if kind is str:
        return ("s", value)
    if kind is int or kind is float:
        return ("n", value)
    if value is None:
        return ("z",)
    if kind is list or kind is tuple:
        return ("a", tuple(_freeze(v) for v in value))
    if kind is dict:
        return ("o", frozenset((k, _freeze(v)) for k, v in value.items()))
    raise TypeError(kind)


def _unique_items(validator, unique, instance, schema):
    if not unique or not isinstance(instance, list) or len(instance) < 2:
        return
    try:
        seen: set = set()
        for item in instance:
            key = _freeze(item)
            if key in seen:
                yield ValidationError("has non-unique elements")
                return
            seen.add(key)
    except (TypeError, RecursionError):  # not JSON data: the stock (slower) check
        yield from _STOCK["uniqueItems"](validator, unique, instance, schema)


def _evaluated_keys(validator, instance, schema) -> list:
    """jsonschema's ``find_evaluated_property_keys_by_schema``, with bounded regexes."""
    if schema is True or schema is False:
        return []
    keys: list = []
    for keyword in ("$ref", "$dynamicRef"):
        ref = schema.get(keyword)
        if ref is not None:
            resolved = validator._resolver.lookup(ref)
            keys.extend(
                _evaluated_keys(
                    validator.evolve(schema=resolved.contents, _resolver=resolved.resolver),
                    instance,
                    resolved.contents,
                )
            )
    properties = schema.get("properties")
    if isinstance(properties, dict):
        keys += properties.keys() & instance.keys()
    for keyword in ("additionalProperties", "unevaluatedProperties"):
        subschema = schema.get(keyword)
        if subschema is None:
            continue
        keys += (
            name
            for name, value in instance.items()
            if next(iter(_descend(validator, value, subschema)), None) is None
        )
    if "patternProperties" in schema:
        for name in instance:
            for pattern in schema["patternProperties"]:
                if _search(pattern, name):
                    keys.append(name)
    for name, subschema in schema.get("dependentSchemas", {}).items():
        if name in instance:
            keys += _evaluated_keys(validator, instance, subschema)
    for keyword in ("allOf", "oneOf", "anyOf"):
        for subschema in schema.get(keyword, []):
            if next(iter(_descend(validator, instance, subschema)), None) is None:
                keys += _evaluated_keys(validator, instance, subschema)
    if "if" in schema:
        if validator.evolve(schema=schema["if"]).is_valid(instance):
            keys += _evaluated_keys(validator, instance, schema["if"])
            if "then" in schema:
                keys += _evaluated_keys(validator, instance, schema["then"])
        elif "else" in schema:
            keys += _evaluated_keys(validator, instance, schema["else"])
    return keys


def _unevaluated_properties(validator, unevaluated, instance, schema):
    if not isinstance(instance, dict):
        return
    _tick()
    evaluated = set(_evaluated_keys(validator, instance, schema))
    for name in instance:
        if name in evaluated:
            continue
        if unevaluated is False:
            yield _error("is not an allowed property", path=(name,))
        else:
            yield from _descend(validator, instance[name], unevaluated, path=name, schema_path=name)


def _ticking(function):
    def keyword(validator, value, instance, schema):
        _tick()
        return function(validator, value, instance, schema)

    return keyword


def _refuse_retrieval(uri: str):
    raise LookupError(f"remote references are never fetched: {uri}")


_TICKING = (
    "$ref", "$dynamicRef", "allOf", "anyOf", "oneOf", "not", "if", "contains",
    "dependentSchemas", "unevaluatedItems",
)  # fmt: skip


# Set by _load(): jsonschema, referencing and regex are imported on first use (about
# a tenth of a second), so ``import promptledger`` (the SDK) stays light.
class _NotLoaded(Exception):
    """Never raised: what the exception names below are before _load()."""


regex: Any = None
ValidationError: Any = None
UnknownType: Any = _NotLoaded
Unresolvable: Any = _NotLoaded
best_match: Any = None
DRAFT202012: Any = None
_STOCK: Any = None
_FORMATS: Any = None
_Validator: Any = None
_REGISTRY: Any = None  # local references only: nothing is ever fetched
_META: Any = None
_LOADED = False
_LOAD_LOCK = threading.Lock()


def _load() -> None:
    global regex, ValidationError, UnknownType, Unresolvable, best_match, DRAFT202012
    global _STOCK, _FORMATS, _Validator, _REGISTRY, _META, _LOADED
    if _LOADED:
        return
    with _LOAD_LOCK:
        if _LOADED:
            return
        import regex as _regex
        from jsonschema import Draft202012Validator, validators
        from jsonschema import exceptions as _exceptions
        from referencing import Registry
        from referencing import exceptions as _ref_exceptions
        from referencing import jsonschema as _ref_jsonschema

        regex = _regex
        ValidationError = _exceptions.ValidationError
        UnknownType = _exceptions.UnknownType
        best_match = _exceptions.best_match
        Unresolvable = _ref_exceptions.Unresolvable
        DRAFT202012 = _ref_jsonschema.DRAFT202012
        _STOCK = Draft202012Validator.VALIDATORS
        _FORMATS = _format_checker()
        _Validator = validators.extend(
            Draft202012Validator,
            validators={
                **{name: _ticking(_STOCK[name]) for name in _TICKING},
                "type": _type,
                "properties": _properties,
                "patternProperties": _pattern_properties,
                "additionalProperties": _additional_properties,
                "items": _items,
                "prefixItems": _prefix_items,
                "pattern": _pattern,
                "required": _required,
                "dependentRequired": _dependent_required,
                "propertyNames": _property_names,
                "uniqueItems": _unique_items,
                "unevaluatedProperties": _unevaluated_properties,
            },
        )
        # Whatever is not in the schema itself (or the bundled meta-schemas) is
        # refused, never fetched from the network or the filesystem.
        _REGISTRY = Registry(retrieve=_refuse_retrieval)  # type: ignore[call-arg]
        _META = Draft202012Validator(
            Draft202012Validator.META_SCHEMA,
            format_checker=Draft202012Validator.FORMAT_CHECKER,
            registry=_REGISTRY,
        )
        _LOADED = True


# --------------------------------------------------------------------------- checking a schema

_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_ONE = (
    "additionalProperties", "unevaluatedProperties", "items", "contains", "propertyNames",
    "not", "if", "then", "else", "unevaluatedItems",
)  # fmt: skip
_SCHEMA_LISTS = ("prefixItems", "allOf", "anyOf", "oneOf")
_IN_PLACE_ONE = ("not", "if", "then", "else")
_IN_PLACE_LISTS = ("allOf", "anyOf", "oneOf")

_KNOWN_KEYWORDS = frozenset({
    "$ref", "$dynamicRef", "additionalProperties", "allOf", "anyOf", "const", "contains",
    "dependentRequired", "dependentSchemas", "enum", "exclusiveMaximum", "exclusiveMinimum",
    "format", "if", "items", "maxItems", "maxLength", "maxProperties", "maximum", "minItems",
    "minLength", "minProperties", "minimum", "multipleOf", "not", "oneOf", "pattern",
    "patternProperties", "prefixItems", "properties", "propertyNames", "required", "type",
    "unevaluatedItems", "unevaluatedProperties", "uniqueItems",
    "$schema", "$id", "$defs", "definitions", "$anchor", "$dynamicAnchor", "$comment",
    "then", "else", "minContains", "maxContains", "title", "description", "default",
    "examples", "deprecated", "readOnly", "writeOnly",
})  # fmt: skip
_REPLACED_KEYWORDS = {
    "dependencies": "comes from older drafts; use 'dependentRequired' (lists of names) or "
    "'dependentSchemas' (schemas)",
    "additionalItems": "comes from older drafts; use 'items' (with 'prefixItems' for the "
    "leading items)",
    "$recursiveRef": "comes from draft 2019-09; use '$dynamicRef'",
    "$recursiveAnchor": "comes from draft 2019-09; use '$dynamicAnchor'",
    "contentEncoding": "is an annotation that is not checked; remove it",
    "contentMediaType": "is an annotation that is not checked; remove it",
    "contentSchema": "is an annotation that is not checked; remove it",
    "$vocabulary": "only has a meaning in meta-schemas; remove it",
}


def _subschemas(schema: dict):
    """Every subschema object with its path (a list of keys), the root first."""
    stack = [([], schema)]
    while stack:
        path, node = stack.pop()
        yield path, node
        children = []
        for keyword in _SCHEMA_MAPS:
            value = node.get(keyword)
            if isinstance(value, dict):
                for name, sub in value.items():
                    children.append(([*path, keyword, name], sub))
        for keyword in _SCHEMA_ONE:
            children.append(([*path, keyword], node.get(keyword)))
        for keyword in _SCHEMA_LISTS:
            value = node.get(keyword)
            if isinstance(value, list):
                for index, sub in enumerate(value):
                    children.append(([*path, keyword, index], sub))
        stack.extend((p, s) for p, s in reversed(children) if isinstance(s, dict))


def _shape(schema: Any) -> None:
    """Refuse a schema that is too deeply nested (iteratively: no recursion)."""
    stack = [(schema, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_SCHEMA_DEPTH:
            raise _schema_error("", f"it is nested more than {MAX_SCHEMA_DEPTH} levels deep")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, (dict, list)))


def _meta_reason(error: ValidationError) -> tuple[list, str]:
    path = list(error.absolute_path)
    if "type" in path[-2:] and error.validator in ("anyOf", "enum"):
        at = path.index("type", len(path) - 2)
        path = path[: at + 1] if error.validator == "anyOf" else path
        return path, (
            f"{_short(error.instance)} is not a JSON Schema type "
            f"(use {', '.join(sorted(_TYPE_NAMES))})"
        )
    if error.validator == "format" and error.validator_value == "regex":
        return path, f"{_quoted_pattern(str(error.instance))} is not a valid regular expression"
    return path, _message(error)


def _schema_path(keys) -> str:
    """A path inside a schema: properties.order.items, allOf[0].$ref."""
    path = ""
    for key in keys:
        if isinstance(key, int):
            path += f"[{key}]"
        elif key and not any(c in key for c in ".[]\"' ") and key.isprintable():
            path = f"{path}.{key}" if path else key
        else:
            path += f"[{json.dumps(key, ensure_ascii=False)}]"
    return path


def _keyword_of(path: list) -> str | None:
    """The last keyword in a schema path (names under 'properties' etc. are skipped)."""
    keyword, name_next = None, False
    for key in path:
        if name_next:
            name_next = False
            continue
        if isinstance(key, str):
            keyword = key
            name_next = key in _SCHEMA_MAPS
    return keyword


def _check_refs(schema: dict, nodes: list) -> None:
    """Every reference is local and resolves; no reference loops back to where it
    started without descending into the value (that would never end)."""
    resolver = _REGISTRY.resolver_with_root(DRAFT202012.create_resource(schema))
    targets: dict[tuple[int, str], Any] = {}
    for path, node in nodes:
        for keyword in ("$ref", "$dynamicRef"):
            ref = node.get(keyword)
            if ref is None:
                continue
            where = _schema_path([*path, keyword])
            if not ref.startswith("#"):
                raise _schema_error(
                    where,
                    f"{_short(ref, 80)} is not a local reference; only references inside this "
                    "schema (such as '#/$defs/name') are allowed, and remote schemas are never "
                    "fetched",
                    keyword,
                )
            try:
                targets[(id(node), keyword)] = resolver.lookup(ref).contents
            except Unresolvable:
                raise _schema_error(
                    where, f"{_short(ref, 80)} does not point to anything in this schema", keyword
                ) from None

    paths = {id(node): path for path, node in nodes}

    def in_place(node):
        for keyword in _IN_PLACE_LISTS:
            for sub in node.get(keyword, ()):
                yield sub
        for keyword in _IN_PLACE_ONE:
            if keyword in node:
                yield node[keyword]
        yield from node.get("dependentSchemas", {}).values()
        for keyword in ("$ref", "$dynamicRef"):
            if keyword in node:
                yield targets[(id(node), keyword)]

    done: set[int] = set()
    for _, start in nodes:
        if id(start) in done:
            continue
        on_path = {id(start)}
        stack = [(start, iter(in_place(start)))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                on_path.discard(id(node))
                done.add(id(node))
                continue
            if not isinstance(child, dict) or id(child) in done:
                continue
            if id(child) in on_path:
                loop = next((n for n, _ in stack if "$ref" in n or "$dynamicRef" in n), node)
                keyword = "$ref" if "$ref" in loop else "$dynamicRef"
                where = _schema_path([*paths.get(id(loop), []), keyword])
                raise _schema_error(
                    where,
                    f"{_short(loop.get(keyword), 80)} refers back to itself without descending "
                    "into the value, which would never end",
                    keyword,
                )
            on_path.add(id(child))
            stack.append((child, iter(in_place(child))))


def _check_patterns(nodes: list) -> None:
    for path, node in nodes:
        found = []
        if isinstance(node.get("pattern"), str):
            found.append(([*path, "pattern"], node["pattern"]))
        if isinstance(node.get("patternProperties"), dict):
            found.extend(([*path, "patternProperties", p], p) for p in node["patternProperties"])
        for where, pattern in found:
            try:
                _compiled_pattern(pattern)
            except (regex.error, ValueError, OverflowError, RecursionError) as exc:
                raise _schema_error(
                    _schema_path(where),
                    f"{_quoted_pattern(pattern)} is not a valid regular expression ({exc})",
                    _keyword_of(where),
                ) from None


def _strict(nodes: list) -> None:
    """What is refused when a schema is saved, though a stored schema still renders:
    keywords that would be silently ignored."""
    for path, node in nodes:
        for keyword in node:
            if keyword in _KNOWN_KEYWORDS or keyword.startswith("x-"):
                continue
            where = _schema_path([*path, keyword])
            reason = _REPLACED_KEYWORDS.get(keyword)
            if reason is None:
                close = difflib.get_close_matches(keyword, sorted(_KNOWN_KEYWORDS), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                reason = (
                    f"unknown keyword '{keyword}'{hint}; variables schemas use JSON Schema "
                    "draft 2020-12, and extension keywords must start with 'x-'"
                )
            else:
                reason = f"'{keyword}' {reason}"
            raise _schema_error(where, reason, keyword)
        for keyword, needs in (
            ("then", "if"),
            ("else", "if"),
            ("minContains", "contains"),
            ("maxContains", "contains"),
        ):
            if keyword in node and needs not in node:
                raise _schema_error(
                    _schema_path([*path, keyword]),
                    f"'{keyword}' has no effect without '{needs}'",
                    keyword,
                )
        fmt = node.get("format")
        if isinstance(fmt, str) and fmt not in _FORMATS.checkers:
            raise _schema_error(
                _schema_path([*path, "format"]),
                f"format '{fmt}' is not supported (supported: {', '.join(SUPPORTED_FORMATS)})",
                "format",
            )


class _Compiled:
    __slots__ = ("required", "schema", "nodes", "validator")

    def __init__(self, schema: dict, nodes: list, validator: Any):
        self.schema = schema
        self.nodes = nodes
        self.validator = validator
        required = schema.get("required")
        self.required = tuple(required) if isinstance(required, list) else ()


def _canonical(schema: Any) -> str:
    try:
        return json.dumps(
            schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except RecursionError:
        raise _schema_error("", f"it is nested more than {MAX_SCHEMA_DEPTH} levels deep") from None
    except (TypeError, ValueError) as exc:
        raise _schema_error("", f"it is not JSON ({exc})") from None


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _compile(key: str) -> _Compiled | RenderError:
    try:
        return _build(key)
    except RenderError as exc:
        return exc


def _build(key: str) -> _Compiled:
    _load()
    if len(key) > MAX_SCHEMA_CHARS:
        raise _schema_error(
            "", f"it is {len(key):,} characters of JSON; at most {MAX_SCHEMA_CHARS:,} are allowed"
        )
    schema = json.loads(key)  # a private copy: the caller's dict may change later
    if not isinstance(schema, dict):
        raise _schema_error("", "it must be a JSON object")
    _shape(schema)
    dialect = schema.pop("$schema", None)
    if dialect is not None and dialect not in _DIALECTS:
        raise _schema_error(
            "$schema",
            f"only JSON Schema draft 2020-12 is supported; remove '$schema' or set it to "
            f"'{SCHEMA_DIALECT}'",
            "$schema",
        )
    try:
        errors = list(islice(_META.iter_errors(schema), 100))
    except RecursionError:
        raise _schema_error("", "it is nested too deeply") from None
    if errors:
        path, reason = _meta_reason(best_match(errors))
        raise _schema_error(_schema_path(path), reason, _keyword_of(path))
    schema.pop("$id", None)  # references resolve against this document only
    nodes = list(_subschemas(schema))
    for path, node in nodes[1:]:
        for keyword in ("$schema", "$id"):
            if keyword in node:
                raise _schema_error(
                    _schema_path([*path, keyword]),
                    f"'{keyword}' is only allowed at the top level of a variables schema",
                    keyword,
                )
    _check_patterns(nodes)
    _check_refs(schema, nodes)
    validator = _Validator(schema, format_checker=_FORMATS, registry=_REGISTRY)
    return _Compiled(schema, nodes, validator)


class _Same:
    """Equal to a value of the same type only (in Python ``True == 1 == 1.0``; in
    JSON Schema ``true`` is not ``1``)."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __eq__(self, other: Any) -> bool:
        return type(other) is type(self.value) and other == self.value

    __hash__ = None  # type: ignore[assignment]


def _snapshot(value: Any) -> Any:
    """A deep copy that compares equal to ``value`` only while it is unchanged."""
    if isinstance(value, dict):
        return {k: _snapshot(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_snapshot(v) for v in value]
    if isinstance(value, str):
        return value
    return _Same(value)


# Schema objects seen lately, by id (held, so an id is not reused while it is here):
# when the same object comes back unchanged (the SDK's Prompt, a pinned payload), its
# compiled form is found without computing the canonical JSON. A snapshot is only
# taken the second time an object is seen, so one-off objects cost nothing extra.
_BY_ID: dict[int, tuple[Any, Any, _Compiled]] = {}
_BY_ID_SIZE = 64


def _compiled(schema: Any) -> _Compiled:
    if not isinstance(schema, dict):
        raise _schema_error("", "it must be a JSON object")
    seen = _BY_ID.get(id(schema))
    again = seen is not None and seen[0] is schema
    if again and seen[1] is not None and seen[1] == schema:
        return seen[2]
    result = _compile(_canonical(schema))
    if isinstance(result, RenderError):
        raise _copy_error(result)
    if len(_BY_ID) >= _BY_ID_SIZE:
        _BY_ID.clear()
    _BY_ID[id(schema)] = (schema, _snapshot(schema) if again else None, result)
    return result


# --------------------------------------------------------------------------- public


def check_variables_schema(schema: Any) -> None:
    """Refuse a variables schema that is not a valid, fully enforceable JSON Schema
    (draft 2020-12): too large or deep, invalid under the meta-schema, a remote or
    dangling ``$ref``, an invalid ``pattern``, an unknown keyword or format (which
    would be silently ignored), ``then``/``else`` without ``if``.

    Raises :class:`RenderError` with ``code="invalid_schema"``; the message names the
    path in the schema and the keyword (``details``: ``where`` = "variables", ``path``,
    ``keyword``)."""
    _strict(_compiled(schema).nodes)


def validate_variables(schema: Any, variables: Any) -> None:
    """Validate variable values against a JSON Schema (draft 2020-12, every keyword
    enforced; ``format`` asserted for :data:`SUPPORTED_FORMATS`; a bool is not a
    number; ``$ref`` local only).

    Raises MissingVariables (every missing top-level required name),
    InvalidVariables (``details["errors"]`` = [{path, message}], at most 50),
    RenderLimitExceeded (a pattern or the whole check took too long), or
    RenderError ``invalid_schema`` (the schema itself is unusable)."""
    if not isinstance(variables, dict):
        raise _invalid(
            [{"path": "variables", "message": "must be an object (a dict of name to value)"}]
        )
    if schema is None or schema is True:
        return
    if schema is False:
        raise _invalid([{"path": "variables", "message": "is not allowed (the schema is false)"}])
    compiled = _compiled(schema)
    missing = [name for name in compiled.required if name not in variables]
    if missing:
        raise _missing(missing)
    errors = _errors(compiled, variables)
    if errors:
        raise _invalid(errors)


def json_schema_errors(schema: Any, instance: Any) -> list[dict]:
    """[{path, message}] of any JSON value against a JSON Schema, checked exactly as
    variables are (local ``$ref`` only, bounded patterns and time): for eval
    assertions on a model's output. Raises RenderError ``invalid_schema`` or
    RenderLimitExceeded."""
    return _errors(_compiled(schema), instance)


def _errors(compiled: _Compiled, instance: Any) -> list[dict]:
    token = _DEADLINE.set(time.monotonic() + VALIDATION_SECONDS)
    try:
        found = list(islice(compiled.validator.iter_errors(instance), MAX_ERRORS))
    except RecursionError:
        raise RenderLimitExceeded(
            "The value is nested too deeply to check against the schema.",
            details={"limit": "max_nesting_depth", "where": "variables"},
        ) from None
    except (Unresolvable, UnknownType) as exc:
        raise _schema_error("", _clip(str(exc), 200)) from None
    finally:
        _DEADLINE.reset(token)
    return _describe(found) if found else []


def _describe(found: list[ValidationError]) -> list[dict]:
    rows = []
    for error in found:
        rows.append((_join(error.absolute_path) or "variables", error.validator, _message(error)))
    typed = {path for path, keyword, _ in rows if keyword == "type"}
    errors, seen = [], set()
    for path, keyword, message in rows:
        if path in typed and keyword != "type":
            continue  # fix the type first; the rest follows from it
        if (path, message) in seen:
            continue
        seen.add((path, message))
        errors.append({"path": path, "message": message})
    return errors


__all__ = [
    "json_schema_errors",
    "MAX_SCHEMA_CHARS",
    "MAX_SCHEMA_DEPTH",
    "SUPPORTED_FORMATS",
    "check_variables_schema",
    "validate_variables",
]
