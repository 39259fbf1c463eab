"""Editing a prompt in the admin: every content change is the next version;
a rejected template is a form error and stores nothing."""

from __future__ import annotations

import json

import pytest

from prompts_app.models import Prompt, PromptVersion
from tests.admin.conftest import V1, V2, admin_url, form_data, page_form

pytestmark = pytest.mark.django_db


def _change(client, prompt, **changes):
    url = admin_url("prompt", "change", prompt.pk)
    form = page_form(client, url)
    return client.post(url, form_data(form, **changes))


def test_change_page_shows_the_latest_template_its_variables_and_history(admin_client, prompt):
    response = admin_client.get(admin_url("prompt", "change", prompt.pk))

    assert response.status_code == 200
    page = response.content.decode()
    form = response.context["adminform"].form
    assert form["body"].value() == V2
    assert 'class="pl-code' in page
    assert "<code>name</code>" in page and "<code>company</code>" in page
    assert "Version history" in page
    assert "Ask how we can help" in page and "First greeting" in page
    assert admin_url("prompt", "diff", prompt.pk) + "?from=1&amp;to=2" in page


def test_saving_a_changed_template_creates_the_next_version_and_keeps_the_old_one(admin_client, prompt):
    v2_before = PromptVersion.objects.get(prompt=prompt, number=2)
    new_text = "Dear {{ name }},\nthanks for choosing {{ company }}."

    response = _change(admin_client, prompt, body=new_text, message="More formal", _continue="1")

    assert response.status_code == 302
    v3 = PromptVersion.objects.get(prompt=prompt, number=3)
    assert v3.template == new_text
    assert v3.message == "More formal"
    assert v3.author == "admin"
    v2_after = PromptVersion.objects.get(prompt=prompt, number=2)
    assert (v2_after.template, v2_after.message, v2_after.content_hash) == (
        V2, v2_before.message, v2_before.content_hash
    )
    assert PromptVersion.objects.get(prompt=prompt, number=1).template == V1
    page = admin_client.get(response["Location"]).content.decode()
    assert "created version 3" in page
    assert 'data-version="3"' in page


def test_browser_line_endings_are_stored_as_newlines(admin_client, prompt):
    _change(admin_client, prompt, body="Hi {{ name }}\r\nBye {{ company }}\r\n", message="crlf")

    assert PromptVersion.objects.get(prompt=prompt, number=3).template == "Hi {{ name }}\nBye {{ company }}\n"


def test_model_config_and_example_set_version_are_saved_on_the_new_version(admin_client, prompt, example_set):
    esv = example_set.versions.get(number=1)
    config = {"model": "gpt-4o-mini", "temperature": 0.2}

    response = _change(
        admin_client, prompt, model_config=json.dumps(config), example_set_version=str(esv.pk),
        message="Pin examples",
    )

    assert response.status_code == 302
    v3 = PromptVersion.objects.get(prompt=prompt, number=3)
    assert v3.template == V2
    assert v3.model_config == config
    assert v3.example_set_version == esv


def test_a_metadata_change_updates_the_prompt_without_a_new_version(admin_client, prompt):
    response = _change(admin_client, prompt, description="Says hello", tags="support, onboarding",
                       protect_production=True)

    assert response.status_code == 302
    prompt.refresh_from_db()
    assert prompt.description == "Says hello"
    assert prompt.tags == ["support", "onboarding"]
    assert prompt.protect_production is True
    assert prompt.versions.count() == 2


def test_saving_an_unchanged_page_creates_nothing(admin_client, prompt):
    response = _change(admin_client, prompt, _continue="1")

    assert response.status_code == 302
    assert prompt.versions.count() == 2
    assert "No changes" in admin_client.get(response["Location"]).content.decode()


def test_a_syntax_error_is_shown_on_the_template_with_its_line_and_nothing_is_stored(admin_client, prompt):
    response = _change(admin_client, prompt, body="Hello\n{{ name ", message="broken",
                       description="should not be saved")

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["body"]
    assert errors and "line 2" in errors[0]
    assert "Please correct the error below." in response.content.decode()
    prompt.refresh_from_db()
    assert prompt.versions.count() == 2
    assert prompt.latest_version_number == 2
    assert prompt.description == "Greets a customer."


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ name.__class__.__base__.__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
    ],
)
def test_a_sandbox_escape_is_refused_as_a_form_error(admin_client, prompt, template):
    response = _change(admin_client, prompt, body=template, message="escape")

    assert response.status_code == 200
    assert response.context["adminform"].form.errors.get("body")
    assert prompt.versions.count() == 2


def test_an_empty_template_is_refused(admin_client, prompt):
    response = _change(admin_client, prompt, body="", message="empty")

    assert response.status_code == 200
    assert "required" in response.context["adminform"].form.errors["body"][0]
    assert prompt.versions.count() == 2


def test_invalid_model_config_json_and_unknown_keys_are_form_errors(admin_client, prompt):
    bad_json = _change(admin_client, prompt, model_config="{model: gpt}")
    unknown = _change(admin_client, prompt, model_config='{"modle": "gpt-4o"}')
    out_of_range = _change(admin_client, prompt, model_config='{"temperature": 7}')

    assert "not valid JSON" in bad_json.context["adminform"].form.errors["model_config"][0]
    assert "modle" in unknown.context["adminform"].form.errors["model_config"][0]
    assert "temperature" in out_of_range.context["adminform"].form.errors["model_config"][0]
    assert prompt.versions.count() == 2


def test_a_version_saved_meanwhile_is_not_overwritten_silently(admin_client, prompt):
    url = admin_url("prompt", "change", prompt.pk)
    stale = form_data(page_form(admin_client, url), body="Mine {{ name }}", message="mine")
    _change(admin_client, prompt, body="Theirs {{ name }}", message="theirs")  # v3, by someone else

    first = admin_client.post(url, stale)

    assert first.status_code == 200
    assert "Version 3 was saved after you opened this page" in first.context["adminform"].form.errors["body"][0]
    assert prompt.versions.count() == 3
    # The page now knows about v3: saving again is a deliberate choice, and goes through.
    again = admin_client.post(url, form_data(first.context["adminform"].form))
    assert again.status_code == 302
    assert PromptVersion.objects.get(prompt=prompt, number=4).template == "Mine {{ name }}"


def test_a_custom_variables_schema_is_kept_and_can_be_edited(admin_client, prompt):
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "company": {"type": "string"}},
              "required": ["name", "company"], "additionalProperties": False}

    response = _change(admin_client, prompt, variables_schema=json.dumps(schema), message="Strict schema")

    assert response.status_code == 302
    assert PromptVersion.objects.get(prompt=prompt, number=3).variables == schema


def test_draft_preview_renders_the_unsaved_text_and_saves_nothing(admin_client, prompt):
    response = _change(
        admin_client, prompt, body="Draft for {{ name }}", preview_variables='{"name": "Ada"}', _preview="1"
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "Draft for Ada" in page
    assert "Draft preview (not saved)" in page
    assert response.context["draft"]["token_count"] > 0
    assert prompt.versions.count() == 2
    # The textarea keeps the draft, so the person can save it next.
    assert response.context["adminform"].form["body"].value() == "Draft for {{ name }}"


def test_draft_preview_names_a_missing_variable(admin_client, prompt):
    response = _change(admin_client, prompt, body="Draft for {{ name }}", preview_variables="{}", _preview="1")

    assert response.status_code == 200
    assert response.context["draft"]["error"]
    assert "name" in response.context["draft"]["error"]["message"]


def test_adding_a_prompt_creates_it_with_version_1(admin_client, acme):
    url = admin_url("prompt", "add")
    form = page_form(admin_client, url)

    response = admin_client.post(url, form_data(
        form, project=str(acme.pk), name="welcome-mail", kind="text", body="Welcome {{ user }}!",
        message="Initial", tags="mail",
    ))

    assert response.status_code == 302
    created = Prompt.objects.get(project=acme, name="welcome-mail")
    assert created.tags == ["mail"]
    version = created.versions.get()
    assert (version.number, version.template, version.message, version.author) == (
        1, "Welcome {{ user }}!", "Initial", "admin"
    )


def test_adding_a_prompt_with_a_bad_template_creates_nothing(admin_client, acme):
    url = admin_url("prompt", "add")
    form = page_form(admin_client, url)

    response = admin_client.post(url, form_data(form, project=str(acme.pk), name="broken", body="{% if %}"))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["body"]
    assert not Prompt.objects.filter(name="broken").exists()


def test_adding_a_prompt_with_a_taken_name_is_a_form_error(admin_client, prompt):
    url = admin_url("prompt", "add")
    form = page_form(admin_client, url)

    response = admin_client.post(url, form_data(form, project=str(prompt.project_id), name="greeting",
                                                 body="Hi"))

    assert response.status_code == 200
    assert "already exists" in response.context["adminform"].form.errors["name"][0]


def test_adding_a_chat_prompt_takes_a_json_message_list(admin_client, acme):
    url = admin_url("prompt", "add")
    form = page_form(admin_client, url)
    messages = [{"role": "system", "content": "You help {{ company }}."}, {"role": "user", "content": "{{ q }}"}]

    response = admin_client.post(url, form_data(form, project=str(acme.pk), name="helper", kind="chat",
                                                 body=json.dumps(messages)))

    assert response.status_code == 302
    assert Prompt.objects.get(name="helper").versions.get().messages == messages


def test_editing_chat_messages_creates_the_next_version(admin_client, chat_prompt):
    url = admin_url("prompt", "change", chat_prompt.pk)
    form = page_form(admin_client, url)
    messages = json.loads(form["body"].value())
    messages[0]["content"] = "You are a terse assistant for {{ company }}."

    response = admin_client.post(url, form_data(form, body=json.dumps(messages), message="Terse"))

    assert response.status_code == 302
    assert chat_prompt.versions.get(number=2).messages[0]["content"].startswith("You are a terse")
    assert chat_prompt.versions.get(number=1).messages[0]["content"].startswith("You are a helpful")


def test_a_bad_chat_role_is_a_form_error(admin_client, chat_prompt):
    url = admin_url("prompt", "change", chat_prompt.pk)
    form = page_form(admin_client, url)

    response = admin_client.post(url, form_data(form, body='[{"role": "wizard", "content": "x"}]'))

    assert response.status_code == 200
    assert "role" in response.context["adminform"].form.errors["body"][0]
    assert chat_prompt.versions.count() == 1


def test_the_prompt_list_shows_latest_version_and_labels(admin_client, prompt):
    response = admin_client.get(admin_url("prompt", "changelist"))

    assert response.status_code == 200
    assert "greeting" in response.content.decode()
    assert "v2" in response.content.decode()


def test_whitespace_options_are_saved_with_the_next_version_and_kept_on_the_form(
    admin_client, prompt
):
    template = "<list>\n  {% for i in items %}\n  {{ i }}\n  {% endfor %}\n</list>"
    response = _change(
        admin_client, prompt, body=template, trim_blocks="on", lstrip_blocks="on", message="ws"
    )

    assert response.status_code == 302
    v3 = PromptVersion.objects.get(prompt=prompt, number=3)
    assert (v3.trim_blocks, v3.lstrip_blocks) == (True, True)
    assert PromptVersion.objects.get(prompt=prompt, number=2).trim_blocks is False
    form = page_form(admin_client, admin_url("prompt", "change", prompt.pk))
    assert form["trim_blocks"].value() and form["lstrip_blocks"].value()
    # turning one off is a content change: version 4
    _change(admin_client, prompt, lstrip_blocks=None, message="no lstrip")
    v4 = PromptVersion.objects.get(prompt=prompt, number=4)
    assert (v4.trim_blocks, v4.lstrip_blocks) == (True, False)
