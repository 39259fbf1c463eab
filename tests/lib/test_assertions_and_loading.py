"""Assertion checks by hand-worked cases, and loading a suite from a file."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from prompts_app.errors import DomainError
from prompts_app.lib.assertions import assertions_clean, check, rubric_verdict
from prompts_app.models import EvalSuite, Provider
from tests.factories import PromptFactory


@pytest.mark.parametrize(
    "output, assertion, expected_output, passed",
    [
        ("Your order ships today", {"type": "contains", "value": "ships"}, "", True),
        ("Your order ships today", {"type": "contains", "value": "SHIPS"}, "", False),
        (
            "Your order ships today",
            {"type": "contains", "value": "SHIPS", "ignore_case": True},
            "",
            True,
        ),
        ("Sorry!", {"type": "not_contains", "value": "Sorry"}, "", False),
        (" 42 \n", {"type": "equals"}, "42", True),
        ("43", {"type": "equals", "value": "42"}, "", False),
        ("ID: AB-123", {"type": "regex", "pattern": r"[A-Z]{2}-\d{3}"}, "", True),
        ('```json\n{"a": 1}\n```', {"type": "is_json"}, "", True),
        ("{a: 1}", {"type": "is_json"}, "", False),
        (
            '{"a": "x"}',
            {"type": "json_schema", "schema": {"properties": {"a": {"type": "number"}}}},
            "",
            False,
        ),
        ("one two three", {"type": "max_tokens", "value": 3}, "", True),
        ("one two three four", {"type": "max_tokens", "value": 3}, "", False),
    ],
)
def test_checks(output, assertion, expected_output, passed):
    assert check(output, assertion, expected_output).passed is passed


def test_a_catastrophic_regex_fails_instead_of_hanging():
    verdict = check("a" * 40 + "!", {"type": "regex", "pattern": r"^(a+)+$"})
    assert verdict.passed is False


def test_rubric_scores_are_read_from_the_grader():
    assert rubric_verdict("SCORE: 4 - good", {"type": "rubric", "rubric": "r"}).passed is True
    assert (
        rubric_verdict("SCORE: 3", {"type": "rubric", "rubric": "r", "min_score": 4}).passed
        is False
    )
    assert rubric_verdict("I think it is fine", {"type": "rubric", "rubric": "r"}).passed is False


@pytest.mark.parametrize(
    "bad, field",
    [
        ([{"type": "similar"}], "assertions[0].type"),
        ([{"type": "contains"}], "assertions[0].value"),
        ([{"type": "regex", "pattern": "("}], "assertions[0].pattern"),
        ([{"type": "json_schema", "schema": {"type": 5}}], "assertions[0].schema"),
        ([{"type": "rubric", "rubric": "r", "min_score": 9}], "assertions[0].min_score"),
    ],
)
def test_bad_assertions_are_refused_with_the_field(bad, field):
    with pytest.raises(DomainError) as caught:
        assertions_clean(bad)
    assert caught.value.field == field


@pytest.mark.django_db
def test_load_eval_cases_from_jsonl_and_yaml(acme, tmp_path):
    PromptFactory(project=acme, name="greet")
    Provider.objects.create(project=acme, name="local", base_url="http://127.0.0.1:9/v1", model="m")
    jsonl = tmp_path / "cases.jsonl"
    jsonl.write_text(
        json.dumps(
            {
                "name": "a",
                "variables": {"name": "Ada"},
                "assertions": [{"type": "contains", "value": "Ada"}],
            }
        )
        + "\n\n"
        + json.dumps({"name": "b", "variables": {"name": "Bo"}})
        + "\n"
    )
    call_command(
        "load_eval_cases",
        str(jsonl),
        "--project",
        "acme",
        "--prompt",
        "greet",
        "--provider",
        "local",
        "--repeats",
        "3",
    )
    suite = EvalSuite.objects.get(prompt__name="greet")
    assert [c.name for c in suite.cases.all()] == ["a", "b"]
    assert suite.repeats == 3 and suite.provider.name == "local"

    yaml_file = tmp_path / "cases.yaml"
    yaml_file.write_text("repeats: 2\ncases:\n  - name: only\n    variables: {name: Cy}\n")
    call_command("load_eval_cases", str(yaml_file), "--project", "acme", "--prompt", "greet")
    suite.refresh_from_db()
    assert [c.name for c in suite.cases.all()] == ["only"] and suite.repeats == 2


@pytest.mark.django_db
def test_a_bad_case_file_changes_nothing(acme, tmp_path):
    PromptFactory(project=acme, name="greet")
    good = tmp_path / "good.yaml"
    good.write_text("- name: keep\n  variables: {}\n")
    call_command("load_eval_cases", str(good), "--project", "acme", "--prompt", "greet")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"name": "x", "assertions": [{"type": "regex", "pattern": "("}]}\n')
    with pytest.raises(CommandError, match="not a valid regex"):
        call_command("load_eval_cases", str(bad), "--project", "acme", "--prompt", "greet")
    assert [c.name for c in EvalSuite.objects.get().cases.all()] == ["keep"]


@pytest.mark.django_db
def test_eval_suite_api(writer):
    writer.client.post("/api/v1/prompts/", {"name": "greet"}, format="json")
    response = writer.client.put(
        "/api/v1/prompts/greet/eval-suite",
        {
            "repeats": 2,
            "cases": [{"name": "a", "variables": {"x": 1}, "assertions": [{"type": "is_json"}]}],
        },
        format="json",
    )
    assert response.status_code == 200
    assert response.json() == {
        "prompt": "greet",
        "provider": None,
        "repeats": 2,
        "cases": [
            {
                "name": "a",
                "variables": {"x": 1},
                "expected_output": "",
                "assertions": [{"type": "is_json"}],
            }
        ],
    }
    missing = writer.client.put(
        "/api/v1/prompts/greet/eval-suite", {"provider": "nope"}, format="json"
    )
    assert missing.status_code == 404
    bad = writer.client.put(
        "/api/v1/prompts/greet/eval-suite",
        {"cases": [{"name": "a", "assertions": [{"type": "nope"}]}]},
        format="json",
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "cases[0].assertions[0].type"
