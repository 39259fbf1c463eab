"""Editing an example set saves a new version through the service; older
versions never change."""

from __future__ import annotations

import json

import pytest

from prompts_app.errors import Conflict, DomainError
from prompts_app.models import ExampleSet
from prompts_app.services import library
from tests.admin.conftest import admin_url, form_data

pytestmark = pytest.mark.django_db


def _rows_page(client, example_set, mode=""):
    url = admin_url("exampleset", "change", example_set.pk) + (f"?mode={mode}" if mode else "")
    response = client.get(url)
    assert response.status_code == 200
    return url, response


def _rows_data(response, **changes):
    data = form_data(response.context["adminform"].form)
    formset = response.context["formset"]
    data.update(form_data(formset.management_form))
    for row in formset.forms:
        data.update(form_data(row))
    data["mode"] = response.context["mode"]
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_the_change_page_shows_the_latest_examples_as_rows(admin_client, example_set):
    _, response = _rows_page(admin_client, example_set)

    formset = response.context["formset"]
    assert formset.initial_form_count() == 2
    assert json.loads(formset.forms[0]["input"].value()) == {"name": "Linus", "company": "Initech"}
    assert formset.forms[1]["input"].value() == "Say hello to Bob"
    assert "Two examples" in response.content.decode()


def test_editing_rows_creates_a_new_version_and_keeps_the_old_one(admin_client, example_set):
    url, response = _rows_page(admin_client, example_set)

    data = _rows_data(
        response,
        **{"ex-0-output": "Hi Linus, welcome!", "ex-1-approved": "on", "ex-2-input": '{"name": "Eve"}',
           "ex-2-output": "Hello Eve.", "ex-2-tags": "new, short", "message": "Warmer outputs"},
    )
    result = admin_client.post(url, data)

    assert result.status_code == 302
    v2 = example_set.versions.get(number=2)
    assert (v2.message, v2.author) == ("Warmer outputs", "admin")
    examples = list(v2.examples.order_by("position").values("input", "output", "tags", "approved"))
    assert examples == [
        {"input": {"name": "Linus", "company": "Initech"}, "output": "Hi Linus, welcome!", "tags": ["short"],
         "approved": True},
        {"input": "Say hello to Bob", "output": "Hello Bob.", "tags": [], "approved": True},
        {"input": {"name": "Eve"}, "output": "Hello Eve.", "tags": ["new", "short"], "approved": False},
    ]
    v1 = example_set.versions.get(number=1)
    assert list(v1.examples.order_by("position").values_list("output", flat=True)) == ["Hi Linus!", "Hello Bob."]


def test_deleting_a_row_leaves_it_out_of_the_new_version(admin_client, example_set):
    url, response = _rows_page(admin_client, example_set)

    admin_client.post(url, _rows_data(response, **{"ex-1-DELETE": "on", "message": "Drop Bob"}))

    assert list(example_set.versions.get(number=2).examples.values_list("output", flat=True)) == ["Hi Linus!"]


def test_an_unchanged_save_creates_no_version(admin_client, example_set):
    url, response = _rows_page(admin_client, example_set)

    admin_client.post(url, _rows_data(response))

    assert example_set.versions.count() == 1


def test_bad_json_in_a_row_is_shown_on_that_row(admin_client, example_set):
    url, response = _rows_page(admin_client, example_set)

    result = admin_client.post(url, _rows_data(response, **{"ex-0-input": '{"name": '}))

    assert result.status_code == 200
    assert "not valid JSON" in result.context["formset"].forms[0].errors["input"][0]
    assert example_set.versions.count() == 1


def test_the_whole_list_can_be_edited_as_json(admin_client, example_set):
    url, response = _rows_page(admin_client, example_set, mode="json")
    examples = [{"input": {"name": "Zed"}, "output": "Yo Zed", "tags": ["x"], "approved": True}]

    result = admin_client.post(url, {"mode": "json", "examples_json": json.dumps(examples), "message": "Replace"})

    assert result.status_code == 302
    v2 = example_set.versions.get(number=2)
    assert list(v2.examples.values("input", "output", "tags", "approved")) == examples


def test_a_service_error_in_json_mode_is_a_form_error(admin_client, example_set):
    url, _ = _rows_page(admin_client, example_set, mode="json")

    result = admin_client.post(url, {"mode": "json", "examples_json": '[{"input": 5, "output": "x"}]'})

    assert result.status_code == 200
    assert "examples[0].input" in result.context["adminform"].form.errors["examples_json"][0]
    assert example_set.versions.count() == 1


def test_adding_an_example_set_with_first_examples(admin_client, acme):
    examples = [{"input": "Hi", "output": "Hello!", "approved": True}]

    response = admin_client.post(admin_url("exampleset", "add"), {
        "project": str(acme.pk), "name": "smalltalk", "description": "",
        "examples_json": json.dumps(examples), "message": "Seed",
    })

    assert response.status_code == 302
    created = ExampleSet.objects.get(name="smalltalk")
    assert created.versions.get().examples.get().output == "Hello!"


def test_the_example_set_version_page_lists_its_examples_read_only(admin_client, example_set):
    version = example_set.versions.get()

    response = admin_client.get(admin_url("examplesetversion", "change", version.pk))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Hi Linus!" in page and "Say hello to Bob" in page
    assert admin_client.post(admin_url("examplesetversion", "change", version.pk), {}).status_code == 403


# --- one service call per action; the paged browser with per-row approve ---------------------


def test_adding_a_set_with_bad_first_examples_creates_nothing(admin_client, acme):
    response = admin_client.post(admin_url("exampleset", "add"), {
        "project": str(acme.pk), "name": "smalltalk", "description": "",
        "examples_json": json.dumps([{"input": 3, "output": "x"}]), "message": "Seed",
    })

    assert response.status_code == 200
    assert "examples[0].input" in str(response.context["adminform"].form.errors)
    assert not ExampleSet.objects.filter(name="smalltalk").exists()  # the service is all or nothing


def test_the_add_view_makes_one_service_call(admin_client, acme, monkeypatch):
    calls = []
    real = library.example_set_create

    def spy(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(library, "example_set_create", spy)
    examples = [{"input": "Hi", "output": "Hello!", "approved": True}]
    response = admin_client.post(admin_url("exampleset", "add"), {
        "project": str(acme.pk), "name": "smalltalk", "examples_json": json.dumps(examples), "message": "Seed",
    })

    assert response.status_code == 302
    assert len(calls) == 1 and calls[0]["examples"] == examples and calls[0]["author"] == "admin"
    assert ExampleSet.objects.get(name="smalltalk").versions.get().message == "Seed"


def test_approve_saves_a_new_version_with_only_that_change(example_set):
    version = library.example_set_examples_approve(
        example_set=example_set, base_version=1, approvals={1: True, 0: True}, author="grace")

    assert (version.number, version.author, version.message) == (2, "grace", "Approved #2")
    old = list(example_set.versions.get(number=1).examples.order_by("position").values(
        "input", "output", "tags", "approved"))
    new = list(version.examples.order_by("position").values("input", "output", "tags", "approved"))
    assert new == [old[0], {**old[1], "approved": True}]


def test_approve_refuses_a_stale_base_and_skips_a_no_op(example_set):
    assert library.example_set_examples_approve(
        example_set=example_set, base_version=1, approvals={0: True}) is None  # already approved
    library.example_set_examples_approve(example_set=example_set, base_version=1, approvals={0: False})
    with pytest.raises(Conflict):
        library.example_set_examples_approve(example_set=example_set, base_version=1, approvals={1: True})
    with pytest.raises(DomainError):
        library.example_set_examples_approve(example_set=example_set, base_version=2, approvals={7: True})
    assert example_set.versions.count() == 2


def test_the_browser_pages_and_searches_and_approve_redirects_back(admin_client, acme):
    examples = [{"input": {"n": i}, "output": f"{'apple' if i % 2 else 'pear'} {i}"} for i in range(130)]
    big = library.example_set_create(project=acme, name="big", examples=examples, message="130")
    url = admin_url("exampleset", "change", big.pk)

    browser = admin_client.get(url).context["browser"]
    assert (browser["total"], len(browser["rows"])) == (130, 50)
    browser = admin_client.get(url, {"q": "APPLE", "page": "2"}).context["browser"]
    assert browser["total"] == 65 and [r["number"] for r in browser["rows"]][:2] == [102, 104]
    assert browser["page"].number == 2

    response = admin_client.post(admin_url("exampleset", "approve", big.pk), {
        "position": "103", "approved": "1", "base_version": "1", "q": "APPLE", "page": "2"})

    assert response.status_code == 302
    assert response["Location"] == url + "?q=APPLE&page=2#example-browser"
    new = big.versions.get(number=2)
    assert [e.position for e in new.examples.all() if e.approved] == [103]
    assert admin_client.get(admin_url("exampleset", "approve", big.pk)).status_code == 405
    stale = admin_client.post(admin_url("exampleset", "approve", big.pk), {
        "position": "5", "approved": "1", "base_version": "1"}, follow=True)
    assert "someone saved a newer version" in stale.content.decode()
    assert big.versions.count() == 2


def test_the_version_page_pages_its_examples(admin_client, acme):
    big = library.example_set_create(project=acme, name="big", message="60",
                                     examples=[{"input": f"q{i}", "output": f"a{i}"} for i in range(60)])
    url = admin_url("examplesetversion", "change", big.versions.get().pk)

    browser = admin_client.get(url, {"page": "2"}).context["browser"]
    assert [r["number"] for r in browser["rows"]] == list(range(51, 61))
    assert browser["approve_url"] is None  # a version never changes
