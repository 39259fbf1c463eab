"""Eval assertions: plain functions from (output, assertion) to a verdict.

Each assertion is a JSON object with a `type` and its own keys. Checking never
raises: a broken assertion (a bad regex, an invalid schema) fails with a reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import regex

from promptledger import rendering
from prompts_app.errors import DomainError
from prompts_app.lib.tokens import count_text_tokens

REGEX_TIMEOUT_SECONDS = 0.5
# Assertions about the shape of an output: their pass rate is the "format adherence".
FORMAT_TYPES = {"is_json", "json_schema", "regex"}
MODEL_GRADED = "rubric"


@dataclass(frozen=True)
class Verdict:
    type: str
    passed: bool
    reason: str
    score: float | None = None

    def as_dict(self) -> dict:
        data = {"type": self.type, "passed": self.passed, "reason": self.reason}
        if self.score is not None:
            data["score"] = self.score
        return data


def _contains(output: str, a: dict, expected: str) -> Verdict:
    value = a["value"]
    found = value.lower() in output.lower() if a.get("ignore_case") else value in output
    return Verdict("contains", found, f"{'found' if found else 'did not find'} {value!r}")


def _not_contains(output: str, a: dict, expected: str) -> Verdict:
    value = a["value"]
    found = value.lower() in output.lower() if a.get("ignore_case") else value in output
    return Verdict("not_contains", not found, f"{'found' if found else 'did not find'} {value!r}")


def _equals(output: str, a: dict, expected: str) -> Verdict:
    value = a.get("value", expected)
    same = output.strip() == str(value).strip()
    return Verdict("equals", same, "equal" if same else f"expected {str(value)[:200]!r}")


def _regex(output: str, a: dict, expected: str) -> Verdict:
    try:
        found = regex.search(a["pattern"], output, timeout=REGEX_TIMEOUT_SECONDS) is not None
    except TimeoutError:
        return Verdict("regex", False, "the pattern took too long on this output")
    except regex.error as exc:
        return Verdict("regex", False, f"the pattern is invalid: {exc}")
    return Verdict("regex", found, f"{'matched' if found else 'did not match'} /{a['pattern']}/")


def _parse_json(output: str):
    text = output.strip()
    if text.startswith("```"):
        text = text.strip("`")
        text = text[4:] if text.startswith("json") else text
    return json.loads(text)


def _is_json(output: str, a: dict, expected: str) -> Verdict:
    try:
        _parse_json(output)
    except ValueError as exc:
        return Verdict("is_json", False, f"not valid JSON: {exc}")
    return Verdict("is_json", True, "valid JSON")


def _json_schema(output: str, a: dict, expected: str) -> Verdict:
    try:
        data = _parse_json(output)
    except ValueError as exc:
        return Verdict("json_schema", False, f"not valid JSON: {exc}")
    # the renderer's validator: local $ref only (never fetched), bounded patterns and time
    try:
        errors = rendering.json_schema_errors(a["schema"], data)
    except rendering.RenderError as exc:
        return Verdict("json_schema", False, f"the schema could not be checked: {exc.message}")
    if errors:
        first = errors[0]
        path = "(root)" if first["path"] == "variables" else first["path"]
        return Verdict("json_schema", False, f"{path}: {first['message']}")
    return Verdict("json_schema", True, "matches the schema")


def _max_tokens(output: str, a: dict, expected: str) -> Verdict:
    tokens = count_text_tokens(output)
    ok = tokens <= a["value"]
    return Verdict("max_tokens", ok, f"{tokens} tokens (limit {a['value']})")


CHECKS: dict[str, Callable[[str, dict, str], Verdict]] = {
    "contains": _contains,
    "not_contains": _not_contains,
    "equals": _equals,
    "regex": _regex,
    "is_json": _is_json,
    "json_schema": _json_schema,
    "max_tokens": _max_tokens,
}
REQUIRED_KEYS = {
    "contains": {"value": str},
    "not_contains": {"value": str},
    "equals": {},
    "regex": {"pattern": str},
    "is_json": {},
    "json_schema": {"schema": dict},
    "max_tokens": {"value": int},
    "rubric": {"rubric": str},
}


def assertions_clean(assertions, *, field: str = "assertions") -> list[dict]:
    """Validate a list of assertions; raises DomainError naming the bad one."""
    if assertions is None:
        return []
    if not isinstance(assertions, list):
        raise DomainError(f"'{field}' must be a list.", field=field)
    for index, a in enumerate(assertions):
        where = f"{field}[{index}]"
        if not isinstance(a, dict) or a.get("type") not in REQUIRED_KEYS:
            raise DomainError(
                f"{where}.type must be one of {', '.join(REQUIRED_KEYS)}.", field=f"{where}.type"
            )
        for key, kind in REQUIRED_KEYS[a["type"]].items():
            value = a.get(key)
            if isinstance(value, bool) or not isinstance(value, kind):
                raise DomainError(
                    f"{where}.{key} is required ({kind.__name__}).", field=f"{where}.{key}"
                )
        if a["type"] == "regex":
            try:
                regex.compile(a["pattern"])
            except regex.error as exc:
                raise DomainError(
                    f"{where}.pattern is not a valid regex: {exc}", field=f"{where}.pattern"
                ) from None
        if a["type"] == "json_schema":
            try:
                rendering.check_variables_schema(a["schema"])
            except rendering.RenderError as exc:
                raise DomainError(
                    f"{where}.schema is not a valid JSON Schema: {exc.message}",
                    field=f"{where}.schema",
                ) from None
        if a["type"] == "rubric":
            threshold = a.get("min_score", 4)
            if (
                isinstance(threshold, bool)
                or not isinstance(threshold, (int, float))
                or not 1 <= threshold <= 5
            ):
                raise DomainError(
                    f"{where}.min_score must be between 1 and 5.", field=f"{where}.min_score"
                )
    return assertions


def check(output: str, assertion: dict, expected: str = "") -> Verdict:
    """Check one non-model assertion against an output."""
    return CHECKS[assertion["type"]](output, assertion, expected)


RUBRIC_SYSTEM = (
    "You grade an AI assistant's answer against a rubric. Reply with one line: "
    "'SCORE: N' where N is an integer from 1 (fails the rubric) to 5 (fully meets it), "
    "then one sentence of justification."
)


def rubric_messages(output: str, assertion: dict, task: str) -> list[dict]:
    return [
        {"role": "system", "content": RUBRIC_SYSTEM},
        {
            "role": "user",
            "content": f"Rubric:\n{assertion['rubric']}\n\nTask given to the assistant:\n{task}\n\n"
            f"Assistant's answer:\n{output}",
        },
    ]


def rubric_verdict(grader_reply: str, assertion: dict) -> Verdict:
    match = regex.search(r"SCORE:\s*([1-5])", grader_reply, timeout=REGEX_TIMEOUT_SECONDS)
    if match is None:
        return Verdict("rubric", False, f"the grader gave no score: {grader_reply[:200]!r}")
    score = float(match.group(1))
    threshold = float(assertion.get("min_score", 4))
    return Verdict("rubric", score >= threshold, f"score {score:g}/5 (needs {threshold:g})", score)
