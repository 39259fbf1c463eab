"""Editing an example set saves a new version through the service; older
versions never change."""

from __future__ import annotations

import json

import pytest

from prompts_app.models import ExampleSet
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
