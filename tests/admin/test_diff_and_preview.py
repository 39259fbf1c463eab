"""The diff page compares any two versions; the preview renders one with chosen
variables and shows its token count. Neither stores anything."""

from __future__ import annotations

import json

import pytest

from prompts_app.lib.tokens import count_text_tokens
from prompts_app.services import library
from tests.admin.conftest import admin_url
from tests.factories import make_version

pytestmark = pytest.mark.django_db


# --- diff -----------------------------------------------------------------------


def test_the_diff_page_shows_removed_and_added_lines_side_by_side(admin_client, prompt):
    response = admin_client.get(admin_url("prompt", "diff", prompt.pk) + "?from=1&to=2")

    assert response.status_code == 200
    page = response.content.decode()
    assert 'class="pl-cell pl-del">Hello {{ name }}, welcome to {{ company }}.</td>' in page
    assert 'class="pl-cell pl-add">Hello {{ name }}!</td>' in page
    assert 'class="pl-cell pl-add">How can we help?</td>' in page
    assert "First greeting" in page and "Ask how we can help" in page
    assert "template" in response.context["diff"]["changed"]


def test_the_unified_diff_marks_lines_with_plus_and_minus(admin_client, prompt):
    response = admin_client.get(admin_url("prompt", "diff", prompt.pk) + "?from=1&to=2&mode=unified")

    page = response.content.decode()
    assert '<span class="pl-line pl-del">-Hello {{ name }}, welcome to {{ company }}.</span>' in page
    assert '<span class="pl-line pl-add">+How can we help?</span>' in page


def test_the_diff_defaults_to_the_previous_and_latest_versions(admin_client, prompt):
    response = admin_client.get(admin_url("prompt", "diff", prompt.pk))

    assert response.status_code == 200
    assert (response.context["diff"]["from"], response.context["diff"]["to"]) == (1, 2)


def test_any_two_versions_can_be_compared_in_either_direction(admin_client, prompt):
    make_version(prompt, "Bye {{ name }}", model_config={"temperature": 0.5}, message="v3")

    response = admin_client.get(admin_url("prompt", "diff", prompt.pk) + "?from=3&to=1")

    page = response.content.decode()
    assert 'class="pl-cell pl-del">Bye {{ name }}</td>' in page
    assert "Model config" in page


def test_identical_versions_say_so(admin_client, prompt):
    response = admin_client.get(admin_url("prompt", "diff", prompt.pk) + "?from=2&to=2")

    assert "are identical" in response.content.decode()


def test_a_version_that_does_not_exist_is_an_error_not_a_crash(admin_client, prompt):
    response = admin_client.get(admin_url("prompt", "diff", prompt.pk) + "?from=1&to=99")

    assert response.status_code == 200
    assert response.context["form"].errors
    assert response.context["diff"] is None


def test_chat_diffs_show_message_roles(admin_client, chat_prompt):
    make_version(chat_prompt, messages=[{"role": "system", "content": "Be brief for {{ company }}."},
                                         {"role": "user", "content": "{{ question }}"}])

    page = admin_client.get(admin_url("prompt", "diff", chat_prompt.pk)).content.decode()

    assert 'class="pl-cell pl-add">Be brief for {{ company }}.</td>' in page


# --- preview ----------------------------------------------------------------------


def test_preview_renders_the_text_and_shows_the_token_count(admin_client, prompt):
    url = admin_url("prompt", "preview", prompt.pk)

    response = admin_client.post(url, {"version": "2", "var__name": "Ada", "var__company": "Acme"})

    assert response.status_code == 200
    rendered = "Hello Ada!\nWelcome to Acme.\nHow can we help?"
    assert response.context["result"]["text"] == rendered
    page = response.content.decode()
    assert rendered in page
    tokens = count_text_tokens(rendered)
    assert response.context["result"]["token_count"] == tokens
    assert f'<strong class="pl-token-count">{tokens}</strong> tokens' in page


def test_preview_of_an_older_version(admin_client, prompt):
    response = admin_client.post(admin_url("prompt", "preview", prompt.pk),
                                 {"version": "1", "var__name": "Ada", "var__company": "Acme"})

    assert response.context["result"]["text"] == "Hello Ada, welcome to Acme."


def test_preview_variables_can_be_given_as_json(admin_client, prompt):
    response = admin_client.post(
        admin_url("prompt", "preview", prompt.pk),
        {"version": "2", "var__name": "ignored", "variables_json": json.dumps({"name": "Bo", "company": "Co"})},
    )

    assert response.context["result"]["text"].startswith("Hello Bo!")


def test_preview_names_a_missing_variable(admin_client, prompt):
    response = admin_client.post(admin_url("prompt", "preview", prompt.pk), {"version": "2", "var__name": "Ada"})

    assert response.status_code == 200
    assert response.context["result"] is None
    assert "company" in response.context["error"]["message"]
    assert "errornote" in response.content.decode()


def test_the_prompt_page_has_a_preview_form_prefilled_from_the_pinned_examples(admin_client, prompt, example_set):
    make_version(prompt, "Hi {{ name }} from {{ company }}", example_set_version=example_set.versions.get(),
                 message="pinned")

    response = admin_client.get(admin_url("prompt", "change", prompt.pk))

    preview = response.context["preview_form"]
    assert preview["var__name"].value() == "Linus"
    assert preview["var__company"].value() == "Initech"
    assert f'action="{admin_url("prompt", "preview", prompt.pk)}#result"' in response.content.decode()


def test_a_chat_preview_shows_each_message(admin_client, chat_prompt):
    response = admin_client.post(admin_url("prompt", "preview", chat_prompt.pk),
                                 {"version": "1", "var__company": "Acme", "var__question": "Where is my order?"})

    assert response.status_code == 200
    messages = response.context["result"]["messages"]
    assert messages[0] == {"role": "system", "content": "You are a helpful assistant for Acme."}
    page = response.content.decode()
    assert "pl-role-user" in page and "Where is my order?" in page


def test_preview_uses_schema_types_for_numbers(admin_client, acme):
    from tests.factories import PromptFactory

    prompt = PromptFactory(project=acme, name="total")
    library.prompt_version_create(
        prompt=prompt, template="Total: {{ amount * 2 }}",
        variables={"type": "object", "properties": {"amount": {"type": "number"}}, "required": ["amount"]},
    )

    response = admin_client.post(admin_url("prompt", "preview", prompt.pk), {"version": "1", "var__amount": "2.5"})

    assert response.context["result"]["text"] == "Total: 5.0"
