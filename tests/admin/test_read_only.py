"""Immutable records stay immutable in the admin, and every page renders."""

from __future__ import annotations

import pytest

from prompts_app.models import Label, PromptVersion
from tests.admin.conftest import admin_url

pytestmark = pytest.mark.django_db


def test_versions_cannot_be_added_changed_or_deleted(admin_client, prompt):
    version = PromptVersion.objects.get(prompt=prompt, number=1)

    assert admin_client.get(admin_url("promptversion", "add")).status_code == 403
    assert admin_client.post(admin_url("promptversion", "change", version.pk), {"template": "x"}).status_code == 403
    assert admin_client.get(admin_url("promptversion", "delete", version.pk)).status_code == 403
    version.refresh_from_db()
    assert version.template.startswith("Hello {{ name }}, welcome")


def test_the_version_page_shows_content_and_links(admin_client, prompt):
    version = PromptVersion.objects.get(prompt=prompt, number=2)

    page = admin_client.get(admin_url("promptversion", "change", version.pk)).content.decode()

    assert "How can we help?" in page
    assert "Diff with previous" in page
    assert admin_url("prompt", "promote", prompt.pk) + "?version=2" in page


def test_labels_and_history_are_read_only(admin_client, prompt):
    admin_client.post(admin_url("prompt", "promote", prompt.pk), {"version": "1", "label": "production"})
    label = Label.objects.get()

    assert admin_client.get(admin_url("label", "add")).status_code == 403
    assert admin_client.post(admin_url("label", "change", label.pk), {}).status_code == 403
    assert admin_client.get(admin_url("labelmove", "add")).status_code == 403


@pytest.mark.parametrize(
    "model",
    ["project", "apikey", "prompt", "promptversion", "label", "labelmove", "exampleset", "examplesetversion",
     "provider", "modelprice", "evalsuite", "evalrun", "evalcaseresult"],
)
def test_every_list_page_renders(admin_client, prompt, example_set, writer, suite, model):
    assert admin_client.get(admin_url(model, "changelist")).status_code == 200


def test_the_admin_index_lists_the_models(admin_client):
    page = admin_client.get("/admin/").content.decode()

    for name in ["Prompts", "Prompt versions", "API keys", "Example sets", "Labels", "Providers", "Model prices",
                 "Eval suites", "Eval runs", "Eval case results"]:
        assert name in page


def test_a_prompt_without_versions_can_get_its_first_one(admin_client, acme):
    from tests.factories import PromptFactory

    prompt = PromptFactory(project=acme, name="empty")
    url = admin_url("prompt", "change", prompt.pk)
    assert "No versions yet" in admin_client.get(url).content.decode()

    response = admin_client.post(url, {"body": "First {{ x }}", "message": "v1", "base_version": "0",
                                       "description": "", "tags": ""})

    assert response.status_code == 302
    assert prompt.versions.get().number == 1


def test_custom_pages_need_a_staff_login(client, prompt):
    for view in ("change", "diff", "preview", "promote"):
        response = client.get(admin_url("prompt", view, prompt.pk))
        assert response.status_code == 302 and "/login/" in response["Location"]
    version = prompt.versions.get(number=2)
    response = client.post(admin_url("promptversion", "rerun", version.pk))
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert version.eval_runs.count() == 1  # only the automatic one


def test_adding_a_project_goes_through_the_service_and_seeds_prices(admin_client, db):
    from prompts_app.models import ModelPrice, Project

    response = admin_client.post(admin_url("project", "add"), {"name": "initech"})

    assert response.status_code == 302
    project = Project.objects.get(name="initech")
    assert ModelPrice.objects.filter(project=project).exists()
    again = admin_client.post(admin_url("project", "add"), {"name": "initech"})
    assert "already exists" in again.context["adminform"].form.errors["name"][0]
    bad = admin_client.post(admin_url("project", "add"), {"name": "Not A Slug"})
    assert bad.context["adminform"].form.errors["name"]
