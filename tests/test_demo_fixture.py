"""The demo data: fixtures/demo.json loads, resolves, renders, and demo_setup is idempotent."""

from __future__ import annotations

import json
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import connection

from prompts_app.lib.jsonutil import sha256_of
from prompts_app.lib.tokens import count_text_tokens
from prompts_app.models import (
    ApiKey,
    ExampleSet,
    Label,
    LabelMove,
    Project,
    Prompt,
    PromptVersion,
)
from prompts_app.selectors.library import prompt_resolve, render_payload, resolve_payload
from prompts_app.services import library

FIXTURES = Path(settings.BASE_DIR) / "fixtures"
DEMO_JSON = FIXTURES / "demo.json"
DEMO_VARIABLES = json.loads((FIXTURES / "demo_variables.json").read_text(encoding="utf-8"))
DEMO_PROMPTS = ["invoice-extract", "support-reply", "weekly-report"]


@pytest.fixture
def demo(db) -> Project:
    call_command("loaddata", str(DEMO_JSON), verbosity=0)
    return Project.objects.get(name="demo")


def test_fixture_holds_the_demo_prompts_and_no_api_keys(demo):
    names = list(
        Prompt.objects.filter(project=demo).order_by("name").values_list("name", flat=True)
    )
    assert names == DEMO_PROMPTS
    assert sorted(DEMO_VARIABLES) == DEMO_PROMPTS
    assert ApiKey.objects.count() == 0
    assert "hashed_key" not in DEMO_JSON.read_text(encoding="utf-8")


def test_version_numbers_are_gap_free_and_match_the_counters(demo):
    for prompt in Prompt.objects.filter(project=demo):
        numbers = sorted(prompt.versions.values_list("number", flat=True))
        assert len(numbers) >= 2, prompt.name
        assert numbers == list(range(1, len(numbers) + 1)), prompt.name
        assert prompt.latest_version_number == numbers[-1], prompt.name
    for example_set in ExampleSet.objects.filter(project=demo):
        numbers = sorted(example_set.versions.values_list("number", flat=True))
        assert numbers == list(range(1, len(numbers) + 1)), example_set.name
        assert example_set.latest_version_number == numbers[-1], example_set.name


def test_stored_hashes_match_what_the_services_compute_today(demo):
    # A stale hash means the hashing changed since the fixture was built:
    # rebuild it with `.venv/bin/python fixtures/build_demo.py`.
    for version in PromptVersion.objects.filter(prompt__project=demo).select_related(
        "prompt", "example_set_version"
    ):
        esv = version.example_set_version
        assert version.content_hash == library.version_content_hash(
            kind=version.prompt.kind,
            body=version.body,
            variables=version.variables,
            model_config=version.model_config,
            examples_hash=esv.content_hash if esv else None,
        ), str(version)
        if esv is not None:
            examples = [
                {"input": e.input, "output": e.output, "tags": e.tags, "approved": e.approved}
                for e in esv.examples.all()
            ]
            assert esv.content_hash == sha256_of(examples), str(esv)


@pytest.mark.parametrize("name", DEMO_PROMPTS)
def test_production_resolves_and_renders_with_the_sample_variables(demo, name):
    payload = prompt_resolve(project=demo, name=name, label="production")["payload"]
    assert payload["label"] == "production"

    rendered = render_payload(payload, DEMO_VARIABLES[name])

    assert rendered["token_count"] > 0
    if payload["kind"] == Prompt.KIND_CHAT:
        assert rendered["messages"][0]["role"] == "system"
        assert DEMO_VARIABLES[name]["customer_name"] in rendered["messages"][-1]["content"]
    else:
        assert rendered["text"]


def test_every_version_renders_with_the_sample_variables(demo):
    for version in PromptVersion.objects.filter(prompt__project=demo).select_related("prompt"):
        payload = resolve_payload(prompt=version.prompt, version=version, label=None)
        render_payload(payload, DEMO_VARIABLES[version.prompt.name])


def test_every_label_has_a_history_ending_at_its_current_version(demo):
    labels = Label.objects.filter(prompt__project=demo).select_related("prompt", "version")
    assert {(label.prompt.name, label.name) for label in labels} >= {
        (name, "production") for name in DEMO_PROMPTS
    }
    for label in labels:
        history = LabelMove.objects.filter(prompt=label.prompt, label=label.name)
        moves = list(history.order_by("moved_at", "id"))
        assert moves, f"{label} has no history"
        assert moves[0].from_version is None
        assert moves[-1].to_version_id == label.version_id
        assert moves[-1].moved_at == label.updated_at
        for before, after in zip(moves, moves[1:]):
            assert after.from_version_id == before.to_version_id


def test_support_reply_carries_a_long_static_system_prompt_and_approved_examples(demo):
    resolved = prompt_resolve(project=demo, name="support-reply", label="production")
    payload = resolved["payload"]
    system = payload["messages"][0]
    assert system["role"] == "system" and "{{" not in system["content"]
    assert count_text_tokens(system["content"]) >= 600
    version = PromptVersion.objects.get(
        prompt__project=demo, prompt__name="support-reply", number=payload["version"]
    )
    assert version.example_set_version.examples.filter(approved=True).count() >= 8


def _occupy_fixture_ids() -> tuple[Project, Prompt]:
    """Another project and prompt holding the very ids the fixture's rows carry,
    as in a database that was in use before the demo was loaded."""
    rows = json.loads(DEMO_JSON.read_text(encoding="utf-8"))
    project_id = next(r["pk"] for r in rows if r["model"] == "prompts_app.project")
    prompt_id = next(r["pk"] for r in rows if r["model"] == "prompts_app.prompt")
    project = Project.objects.create(pk=project_id, name="acme")
    prompt = Prompt.objects.create(pk=prompt_id, project=project, name="support-reply")
    with connection.cursor() as cursor:  # explicit ids do not advance PostgreSQL sequences
        for sql in connection.ops.sequence_reset_sql(no_style(), [Project, Prompt]):
            cursor.execute(sql)
    return project, prompt


def test_demo_setup_twice_loads_once_and_leaves_existing_rows_alone(db):
    acme, other = _occupy_fixture_ids()
    out = StringIO()

    call_command("demo_setup", stdout=out)
    first = out.getvalue()
    call_command("demo_setup", stdout=out)
    second = out.getvalue()[len(first) :]

    assert "loaded 3 prompts" in first
    assert "nothing loaded" in second
    demo = Project.objects.get(name="demo")
    assert (
        Prompt.objects.filter(project=demo).count() == 4
    )  # the fixture's 3 + the generated ticket-triage
    assert PromptVersion.objects.filter(prompt__project=demo).count() == sum(
        p.latest_version_number for p in Prompt.objects.filter(project=demo)
    )
    # The rows that already held the fixture's ids are untouched.
    acme.refresh_from_db()
    other.refresh_from_db()
    assert (acme.name, other.project_id, other.versions.count()) == ("acme", acme.pk, 0)
    assert prompt_resolve(project=demo, name="support-reply", label="production")
    assert get_user_model().objects.filter(username="admin", is_superuser=True).count() == 1
    assert ApiKey.objects.filter(project=demo, name="demo-key").count() == 2
    for output in (first, second):
        raw = output.split("Bearer ")[1].split('"')[0]
        assert ApiKey.objects.for_raw_key(raw).project == demo
        assert "http://127.0.0.1:8000/admin/" in output
        assert "/api/v1/prompts/support-reply/resolve?label=production" in output


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_demo_shows_eval_results_for_every_fixture_version(celery_worker):
    import time

    from prompts_app.models import EvalRun

    call_command("demo_setup", stdout=StringIO())
    versions = PromptVersion.objects.filter(prompt__project__name="demo")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs = EvalRun.objects.filter(prompt_version__in=versions)
        if runs.count() == versions.count() and all(r.is_finished for r in runs):
            break
        time.sleep(0.2)
    runs = {
        (r.prompt_version.prompt.name, r.prompt_version.number): r
        for r in EvalRun.objects.select_related("prompt_version__prompt")
    }
    assert (
        len(runs) == versions.count() == 10
    )  # 9 fixture versions + the generated ticket-triage v1
    # The demo's suites have no model provider: their runs rendered every case but
    # graded nothing; ticket-triage has no suite at all.
    statuses = {key: run.status for key, run in runs.items()}
    assert statuses.pop(("ticket-triage", 1)) == EvalRun.NO_CASES
    assert set(statuses.values()) == {EvalRun.RENDERED}
    production = runs[("support-reply", 3)].summary["static"]
    assert production["render_failures"] == 0 and production["est_cost_per_call"] is not None


@pytest.mark.django_db
def test_demo_tells_the_true_story_of_ticket_triage():
    """The demo's high-volume prompt on gpt-4o-mini: caching first, a downshift
    with an eval run behind it, and no fine-tune on a model that is retiring."""
    from prompts_app.models import Alert, Prompt
    from prompts_app.services import advice

    call_command("demo_setup", stdout=StringIO())
    triage = Prompt.objects.get(project__name="demo", name="ticket-triage")
    # Promoted by the demo script, and protected from then on like every new prompt.
    assert triage.labels.get(name="production").version.number == 1
    assert triage.protect_production is True
    result = advice.prompt_advice(prompt=triage)
    assert result["inputs"]["approved_examples"] == 600
    # The money says fine-tune, the world says no: OpenAI stops training on
    # 2027-01-06 and gpt-4o-mini (with its fine-tunes) shuts down on 2027-01-14.
    assert result["verdict"] == "keep_prompting"
    assert "2027-01-14" in result["reasons"][0] or "2027-01-06" in result["reasons"][0]
    strategies = {s["key"]: s for s in result["strategies"]}
    first = result["strategies"][0]
    assert first["kind"] == "cache_prefix" and first["ready"] is True
    assert first["evidence"]["status"] == "not_needed"  # the static text already leads
    luna = strategies["downshift:gpt-5.6-luna"]
    assert luna["evidence"]["status"] == "ready" and luna["evidence"]["run_id"]
    assert Decimal(luna["monthly_saving"]) > 0
    assert [s["kind"] for s in result["strategies"]].index("downshift") == 1
    openai_tunes = [s for k, s in strategies.items() if k.startswith("fine_tune:openai:")]
    assert openai_tunes and all(s["blockers"] for s in openai_tunes)
    open_tunes = [s for k, s in strategies.items()
                  if s["kind"] == "fine_tune" and not s["blockers"]]
    assert {s["provider"] for s in open_tunes} >= {"together", "fireworks"}
    assert Alert.objects.filter(kind=Alert.KIND_FINE_TUNE).count() == 0
    # Running it again adds no usage twice, no second eval run and no alert twice.
    alerts_before = Alert.objects.count()
    call_command("demo_setup", stdout=StringIO())
    assert Alert.objects.count() == alerts_before
    assert triage.versions.get(number=1).eval_runs.filter(candidate_model="gpt-5.6-luna").count() == 1
