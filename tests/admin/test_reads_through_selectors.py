"""The admin pages read through selectors (issue 12: faces do no ORM): the
modules moved so far name no model manager and make no queryset call, and the
lists that show counts or related rows per row cost the same number of queries
whatever the number of rows."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from prompts_app.models import AdviceState, Alert, Provider, Webhook, WebhookDelivery
from prompts_app.services import evals, library
from tests.admin.conftest import CASES, admin_url
from tests.factories import PromptFactory, make_version

pytestmark = pytest.mark.django_db

ADMIN = Path(__file__).resolve().parents[2] / "prompts_app" / "admin"
READ_THROUGH_SELECTORS = ["library.py", "example_sets.py", "ledger.py", "evals.py", "forms/library.py",
                          "forms/evals.py", "forms/example_sets.py"]
QUERYSET_METHODS = {
    "filter", "exclude", "annotate", "aggregate", "select_related", "prefetch_related", "defer", "only",
    "values_list", "order_by", "distinct", "in_bulk", "extra", "raw", "get_or_create", "update_or_create",
    "bulk_create",
}
# Queryset methods that take no argument; `text.count("\n")` is no query.
QUERYSET_METHODS_WITHOUT_ARGUMENTS = {"count", "exists", "first", "last"}


def orm_uses(source: str) -> list[str]:
    """Where `source` reaches the ORM itself: a manager, a queryset method, an import
    from django.db.models."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("django.db"):
            found.append(f"line {node.lineno}: from {node.module} import …")
        elif isinstance(node, ast.Attribute) and node.attr == "objects":
            found.append(f"line {node.lineno}: .objects")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name = node.func.attr
            bare = not node.args and not node.keywords
            if name in QUERYSET_METHODS or (name in QUERYSET_METHODS_WITHOUT_ARGUMENTS and bare):
                found.append(f"line {node.lineno}: .{name}()")
    return sorted(found)


def test_the_orm_finder_finds_what_the_faces_used_to_do():
    before = """
from django.db.models import Count
def prompt_count(obj):
    return obj.prompts.count()
key = ApiKey.objects.select_related("project").filter(pk=1).first()
lines = text.count("\\n")
"""
    assert orm_uses(before) == [
        "line 2: from django.db.models import …", "line 4: .count()", "line 5: .filter()", "line 5: .first()",
        "line 5: .objects", "line 5: .select_related()",
    ]


@pytest.mark.parametrize("module", READ_THROUGH_SELECTORS)
def test_the_admin_module_reads_only_through_selectors(module):
    assert orm_uses((ADMIN / module).read_text()) == []


def _queries(client, url: str, **params) -> tuple[int, str]:
    """The queries of one GET of the page, and the page. A first GET warms the
    caches a page fills once per process (content types)."""
    client.get(url, params)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(captured), response.content.decode()


def _row(page: str, text: str) -> str:
    """The change-list row that contains `text`."""
    start = page.rindex("<tr", 0, page.index(text))
    return page[start:page.index("</tr>", start)]


# --- the lists count in their own query ----------------------------------------------


def test_the_project_list_counts_prompts_and_active_keys_in_one_query(admin_client, acme):
    url = admin_url("project", "changelist")
    one, _ = _queries(admin_client, url)
    for name in ("globex", "initech", "umbrella"):
        project, _ = library.project_get_or_create(name=name)
        PromptFactory(project=project, name="p1")
        PromptFactory(project=project, name="p2")
        library.api_key_create(project=project, scopes=["read"], name="live")
        key, _ = library.api_key_create(project=project, scopes=["read"], name="old")
        library.api_key_revoke(api_key=key)

    four, page = _queries(admin_client, url)

    assert four == one
    row = _row(page, ">globex<")
    assert '<td class="field-prompt_count">2</td>' in row
    assert '<td class="field-active_keys">1</td>' in row
    assert '<td class="field-prompt_count">0</td>' in _row(page, ">acme<")


def test_the_project_list_sorts_by_its_counts(admin_client, acme):
    PromptFactory(project=acme, name="p1")
    library.project_get_or_create(name="empty")
    url = admin_url("project", "changelist")
    columns = admin_client.get(url).context["cl"].list_display

    def names(column):
        return [p.name for p in admin_client.get(url, {"o": column}).context["cl"].result_list]

    assert names(f"-{columns.index('prompt_count')}") == ["acme", "empty"]
    assert names(str(columns.index("prompt_count"))) == ["empty", "acme"]


def test_the_prompt_list_reads_labels_for_all_rows_at_once(admin_client, prompt):
    url = admin_url("prompt", "changelist")
    library.label_move(prompt=prompt, label="production", version_number=1, actor="ada")
    one, _ = _queries(admin_client, url)
    for name in ("a", "b", "c"):
        other = PromptFactory(project=prompt.project, name=name)
        make_version(other, "Hi {{ x }}")
        library.label_move(prompt=other, label="production", version_number=1, actor="ada")

    four, page = _queries(admin_client, url)

    assert four == one
    assert "production→v1" in _row(page, ">greeting<")


def test_the_version_list_reads_labels_and_runs_for_all_rows_at_once(admin_client, prompt):
    url = admin_url("promptversion", "changelist")
    one, _ = _queries(admin_client, url)
    for number in range(3):
        make_version(prompt, f"Hello {{{{ name }}}} #{number}")
    library.label_move(prompt=prompt, label="staging", version_number=5, actor="ada")

    five, page = _queries(admin_client, url)

    assert five == one
    row = _row(page, "greeting v5<")
    assert '<td class="field-labels_display">staging</td>' in row
    assert "queued" in row  # each new version gets an eval run


def test_the_webhook_list_counts_deliveries_in_one_query(admin_client, prompt):
    alert = Alert.objects.create(project=prompt.project, prompt=prompt, kind=Alert.KIND_FINE_TUNE, message="m")
    url = admin_url("webhook", "changelist")
    Webhook.objects.create(project=prompt.project, url="https://hooks.example/0")
    one, _ = _queries(admin_client, url)
    for index, status in enumerate([WebhookDelivery.DELIVERED, WebhookDelivery.FAILED, WebhookDelivery.PENDING]):
        hook = Webhook.objects.create(project=prompt.project, url=f"https://hooks.example/{index + 1}")
        WebhookDelivery.objects.create(alert=alert, webhook=hook, status=status)

    four, page = _queries(admin_client, url)

    assert four == one
    assert "0 delivered, 0 pending, 1 failed" in _row(page, "https://hooks.example/2<")


def test_the_example_set_page_counts_examples_per_version_in_one_query(admin_client, example_set):
    url = admin_url("exampleset", "change", example_set.pk)
    one, _ = _queries(admin_client, url, mode="browse")
    for position in (1, 0):
        library.example_set_examples_approve(example_set=example_set, base_version=example_set.versions.count(),
                                             approvals={position: position == 1}, author="ada")

    three, page = _queries(admin_client, url, mode="browse")
    rows = [(row["version"].number, row["count"], row["approved"])
            for row in admin_client.get(url).context["version_rows"]]

    assert three == one
    assert rows == [(3, 2, 1), (2, 2, 2), (1, 2, 1)]


def test_the_provider_list_counts_suites_in_one_query(admin_client, acme, provider):
    url = admin_url("provider", "changelist")
    one, _ = _queries(admin_client, url)
    for name in ("a", "b", "c"):
        Provider.objects.create(project=acme, name=f"p-{name}", base_url="http://127.0.0.1:9/v1", model="m")
        evals.eval_suite_update(prompt=PromptFactory(project=acme, name=name), cases=[], repeats=1, provider="fake")

    four, page = _queries(admin_client, url)

    assert four == one
    assert '<td class="field-suite_count">3</td>' in _row(page, "gpt-4o-mini<")
    assert '<td class="field-suite_count">0</td>' in _row(page, ">p-a<")


def test_the_eval_suite_list_counts_cases_in_one_query(admin_client, acme, suite):
    url = admin_url("evalsuite", "changelist")
    one, _ = _queries(admin_client, url)
    for name in ("a", "b", "c"):
        evals.eval_suite_update(prompt=PromptFactory(project=acme, name=name), cases=CASES[:1], repeats=1)

    four, page = _queries(admin_client, url)

    assert four == one
    assert '<td class="field-case_count">2</td>' in _row(page, "acme/greeting<")
    assert '<td class="field-case_count">1</td>' in _row(page, "acme/a<")


# --- the other reads -------------------------------------------------------------------


def test_the_alert_filters_narrow_by_state_and_kind(admin_client, prompt):
    made = {
        (state, kind): Alert.objects.create(project=prompt.project, prompt=prompt, kind=kind, state=state,
                                            message=f"{state} {kind}")
        for state in (Alert.STATE_NEW, Alert.STATE_ACKNOWLEDGED)
        for kind in (Alert.KIND_FINE_TUNE, Alert.KIND_NO_LONGER)
    }
    url = admin_url("alert", "changelist")

    def listed(**params):
        return {alert.pk for alert in admin_client.get(url, params).context["cl"].result_list}

    assert listed() == {alert.pk for alert in made.values()}
    assert listed(state__exact="new") == {made[key].pk for key in made if key[0] == Alert.STATE_NEW}
    assert listed(state__exact="acknowledged", kind__exact=Alert.KIND_NO_LONGER) == {
        made[(Alert.STATE_ACKNOWLEDGED, Alert.KIND_NO_LONGER)].pk}


def test_the_prompt_page_shows_its_fine_tuning_verdict(admin_client, prompt):
    page = admin_client.get(admin_url("prompt", "change", prompt.pk)).content.decode()
    assert "not evaluated yet" in page

    AdviceState.objects.create(prompt=prompt, verdict="fine_tune")
    page = admin_client.get(admin_url("prompt", "change", prompt.pk)).content.decode()

    assert '<span class="pl-advice-badge pl-advice-fine_tune">Fine-tune</span>' in page


def test_the_example_browser_matches_values_not_key_names(admin_client, example_set):
    url = admin_url("exampleset", "change", example_set.pk)

    def found(search):
        browser = admin_client.get(url, {"mode": "browse", "q": search}).context["browser"]
        return [row["number"] for row in browser["rows"]], browser["total"]

    # Example 1's input is {"name": "Linus", "company": "Initech"}; example 2's the string "Say hello to Bob".
    assert found("name") == ([], 0)
    assert found("company") == ([], 0)
    assert found('"') == ([], 0)
    assert found("initech") == ([1], 1)
    assert found("SAY HELLO") == ([2], 1)  # the whole input is this string
    assert found("hi linus") == ([1], 1)  # the output
