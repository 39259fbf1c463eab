"""The prompt edit page, fixed as issue 12 found it: an edit starts from
production (or the version picked) and says so; a save names the latest version
the page was opened on, and a newer one is a stale-base error; chat prompts are
edited message by message; each admin action is one service call; a new
prompt's protection starts from its project's setting."""

from __future__ import annotations

import inspect
import json

import pytest

from promptledger.rendering import RenderError
from prompts_app.admin import library as library_admin
from prompts_app.errors import Conflict, DomainError
from prompts_app.models import Prompt, PromptVersion
from prompts_app.services import library
from tests.admin.conftest import V1, V2, admin_url, form_data, page_form
from tests.factories import PromptFactory, make_version

pytestmark = pytest.mark.django_db


def _promote(prompt, number, label="production"):
    library.label_move(prompt=prompt, label=label, version_number=number, actor="test", force=True,
                       reason="test setup")


# --- 1. the edit starts from production, or the version picked ------------------------


def test_the_edit_page_starts_from_production_and_says_so(admin_client, prompt):
    _promote(prompt, 1)
    _promote(prompt, 2, "staging")

    response = admin_client.get(admin_url("prompt", "change", prompt.pk))

    form = response.context["adminform"].form
    assert form["body"].value() == V1
    assert form["start_version"].value() == 1 and form["base_version"].value() == 2
    page = response.content.decode()
    assert "Editing from v1 (production); the latest is v2 (staging)." in page
    assert '<option value="2">v2 (staging, latest)</option>' in page


def test_saving_from_production_builds_on_production_not_on_the_latest(admin_client, prompt):
    url = admin_url("prompt", "change", prompt.pk)
    make_version(prompt, V2, model_config={"model": "staging-experiment"})  # v3, never promoted
    _promote(prompt, 1)

    form = page_form(admin_client, url)
    response = admin_client.post(url, form_data(form, body=V1 + " Thanks!", message="one-line fix"))

    assert response.status_code == 302
    v4 = PromptVersion.objects.get(prompt=prompt, number=4)
    assert v4.template == V1 + " Thanks!"
    assert v4.model_config == {}  # the experiment's model change is not carried along


def test_from_picks_the_version_to_start_from(admin_client, prompt):
    _promote(prompt, 1)
    url = admin_url("prompt", "change", prompt.pk)

    response = admin_client.get(url + "?from=2")

    assert response.context["adminform"].form["body"].value() == V2
    assert "Editing from v2 (latest); the latest" not in response.content.decode()
    assert "Editing from v2 (latest)." in response.content.decode()
    posted = admin_client.post(url, form_data(response.context["adminform"].form, body=V2 + "!"))
    assert posted.status_code == 302
    assert PromptVersion.objects.get(prompt=prompt, number=3).template == V2 + "!"


def test_an_unknown_from_falls_back_and_says_so(admin_client, prompt):
    response = admin_client.get(admin_url("prompt", "change", prompt.pk) + "?from=99", follow=True)

    assert response.context["adminform"].form["body"].value() == V2
    assert "has no version 99" in response.content.decode()
    assert "No version is labelled production." in response.content.decode()


def test_an_unchanged_save_from_production_saves_nothing(admin_client, prompt):
    _promote(prompt, 1)
    url = admin_url("prompt", "change", prompt.pk)

    admin_client.post(url, form_data(page_form(admin_client, url)))

    assert prompt.versions.count() == 2


# --- 1b. the stale-base check is the service's ---------------------------------------------


def test_a_stale_save_is_a_form_error_naming_both_versions_and_stores_nothing(admin_client, prompt):
    url = admin_url("prompt", "change", prompt.pk)
    opened = form_data(page_form(admin_client, url), body="Mine {{ name }}", message="mine",
                       description="changed too")
    make_version(prompt, "Theirs {{ name }}")  # v3, saved meanwhile

    response = admin_client.post(url, opened)

    assert response.status_code == 200
    error = response.context["adminform"].form.errors["body"][0]
    assert "Version 3 was saved after you opened this page on v2" in error
    prompt.refresh_from_db()
    assert prompt.versions.count() == 3 and prompt.description == "Greets a customer."


def test_the_view_passes_the_opened_version_to_the_service(admin_client, prompt, monkeypatch):
    seen = {}
    real = library.prompt_version_create

    def spy(**kwargs):
        seen.update(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(library, "prompt_version_create", spy)
    url = admin_url("prompt", "change", prompt.pk)
    admin_client.post(url, form_data(page_form(admin_client, url), body="New {{ name }}"))

    assert seen["based_on_version"] == 2
    assert "stale" not in inspect.getsource(library_admin.prompt_change)


# --- 2. chat prompts, message by message -----------------------------------------------------


def _rows(form, messages, **changes):
    data = form_data(form, **changes)
    data.pop("body")
    data["body-editor"] = "rows"
    for index, (role, content) in enumerate(messages):
        data[f"body-{index}-role"] = role
        data[f"body-{index}-content"] = content
    return data


def test_the_chat_page_shows_one_row_per_message(admin_client, chat_prompt):
    response = admin_client.get(admin_url("prompt", "change", chat_prompt.pk))

    page = response.content.decode()
    assert 'name="body-0-role"' in page and 'name="body-1-role"' in page
    assert '<textarea name="body-0-content"' in page and '<textarea name="body-1-content"' in page
    assert '<option value="system" selected>system</option>' in page
    assert "prompts_app/prompt_editor.js" in page
    assert 'name="body-editor" value="rows"' in page


def test_chat_rows_post_back_as_the_messages_list(admin_client, chat_prompt):
    url = admin_url("prompt", "change", chat_prompt.pk)
    messages = [("system", "Line one for {{ company }}.\r\nLine two."), ("user", "{{ question }}"),
                ("assistant", "Noted.")]

    response = admin_client.post(url, _rows(page_form(admin_client, url), messages, message="rows"))

    assert response.status_code == 302
    assert chat_prompt.versions.get(number=2).messages == [
        {"role": "system", "content": "Line one for {{ company }}.\nLine two."},
        {"role": "user", "content": "{{ question }}"},
        {"role": "assistant", "content": "Noted."},
    ]


def test_chat_rows_in_the_json_editor_mode_take_the_json(admin_client, chat_prompt):
    url = admin_url("prompt", "change", chat_prompt.pk)
    data = _rows(page_form(admin_client, url), [("user", "ignored")])
    data["body-editor"] = "json"
    data["body"] = json.dumps([{"role": "user", "content": "From JSON {{ q }}"}])

    admin_client.post(url, data)

    assert chat_prompt.versions.get(number=2).messages == [{"role": "user", "content": "From JSON {{ q }}"}]


def test_a_service_error_about_one_message_lands_on_that_message(admin_client, chat_prompt):
    url = admin_url("prompt", "change", chat_prompt.pk)
    messages = [("system", "Fine."), ("user", "{{ q }}"), ("assistant", "{% if %}")]

    response = admin_client.post(url, _rows(page_form(admin_client, url), messages))

    assert response.status_code == 200
    widget = response.context["adminform"].form.fields["body"].widget
    assert list(widget.row_errors) == [2]
    assert "messages[2]" in widget.row_errors[2][0]
    page = response.content.decode()
    row = page[page.index('name="body-2-role"') - 900:page.index('name="body-2-role"')]
    assert 'class="pl-chat-row errors"' in row and "messages[2]" in row
    assert chat_prompt.versions.count() == 1


# --- 4. one service call per action, the transaction in the service ------------------------


def test_the_library_admin_opens_no_transaction_of_its_own():
    source = inspect.getsource(library_admin)
    assert "transaction.atomic" not in source and "import transaction" not in source


def test_prompt_create_with_version_is_all_or_nothing(acme):
    with pytest.raises((DomainError, RenderError)):
        library.prompt_create_with_version(project=acme, name="broken", template="{% if %}")
    assert not Prompt.objects.filter(name="broken").exists()

    prompt, version = library.prompt_create_with_version(project=acme, name="ok", template="Hi {{ x }}",
                                                         author="ada")
    assert (version.prompt_id, version.number, version.author) == (prompt.pk, 1, "ada")


def test_prompt_edit_is_all_or_nothing_and_checks_the_base(acme):
    prompt = PromptFactory(project=acme, name="p", description="before")
    make_version(prompt, "One {{ x }}")

    with pytest.raises((DomainError, RenderError)):
        library.prompt_edit(prompt=prompt, content={"template": "{% if %}"}, based_on_version=1,
                            description="after")
    with pytest.raises(DomainError):  # the version is fine, the tags are not: neither is stored
        library.prompt_edit(prompt=prompt, content={"template": "Two"}, based_on_version=1, tags=["x" * 51])
    with pytest.raises(Conflict) as stale:
        library.prompt_edit(prompt=prompt, content={"template": "Two"}, based_on_version=0, description="after")
    assert stale.value.code == "stale_base"
    prompt.refresh_from_db()
    assert (prompt.description, prompt.latest_version_number) == ("before", 1)

    version = library.prompt_edit(prompt=prompt, content={"template": "Two"}, based_on_version=1,
                                  description="after")
    prompt.refresh_from_db()
    assert (version.number, prompt.description) == (2, "after")
    assert library.prompt_edit(prompt=prompt, tags=["x"]) is None


def test_a_rejected_template_leaves_the_metadata_unchanged_too(admin_client, prompt):
    url = admin_url("prompt", "change", prompt.pk)
    admin_client.post(url, form_data(page_form(admin_client, url), body="{% if %}", description="new"))

    prompt.refresh_from_db()
    assert prompt.description == "Greets a customer." and prompt.versions.count() == 2


# --- 5. a new prompt's protection starts from the project's setting ------------------------


@pytest.mark.parametrize(("project_default", "choice", "expected"), [
    (True, "", True), (False, "", False), (False, "on", True), (True, "off", False),
])
def test_a_new_prompt_is_protected_as_its_project_says_unless_chosen(
    admin_client, acme, project_default, choice, expected
):
    acme.protect_production_by_default = project_default
    acme.save()
    url = admin_url("prompt", "add")
    form = page_form(admin_client, url)
    assert form["protect_production"].value() in ("", None)

    response = admin_client.post(url, form_data(form, project=str(acme.pk), name="new-one", body="Hi {{ x }}",
                                                protect_production=choice))

    assert response.status_code == 302
    assert Prompt.objects.get(name="new-one").protect_production is expected
