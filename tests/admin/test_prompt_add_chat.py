"""The add page takes a chat prompt's messages one by one, as the edit page does
(the same ChatMessagesWidget behind PromptBodyWidget): rows as posted by the
editor, errors on the message they are about, and the page reopens on the kind
that was posted."""

from __future__ import annotations

import pytest

from prompts_app.models import Prompt
from tests.admin.conftest import admin_url, form_data, page_form

pytestmark = pytest.mark.django_db


def _post_chat(client, acme, rows: list[tuple[str, str]], **changes):
    url = admin_url("prompt", "add")
    data = form_data(page_form(client, url), project=str(acme.pk), name="helper", kind="chat",
                     body=None, **{"body-editor": "rows"}, **changes)
    for index, (role, content) in enumerate(rows):
        data[f"body-{index}-role"], data[f"body-{index}-content"] = role, content
    return client.post(url, data)


def test_the_add_page_opens_on_a_text_template_with_the_chat_editor_ready(admin_client):
    response = admin_client.get(admin_url("prompt", "add"))

    page = response.content.decode()
    assert '<fieldset class="pl-body-part" data-kind="text">' in page
    assert '<fieldset class="pl-body-part" data-kind="chat" hidden disabled>' in page
    # One empty system message to start from, should the kind become chat.
    assert page.count('class="pl-chat-row"') == 1
    assert '<option value="system" selected>system</option>' in page


def test_a_chat_prompt_is_added_from_the_editors_rows(admin_client, acme):
    response = _post_chat(admin_client, acme, [("system", "You help {{ company }}.\r\nBe brief."),
                                                ("user", "{{ question }}")])

    assert response.status_code == 302
    prompt = Prompt.objects.get(name="helper")
    assert (prompt.kind, prompt.versions.get().messages) == (Prompt.KIND_CHAT, [
        {"role": "system", "content": "You help {{ company }}.\nBe brief."},
        {"role": "user", "content": "{{ question }}"},
    ])


def test_an_error_in_a_message_lands_on_that_message_and_the_page_stays_on_chat(admin_client, acme):
    response = _post_chat(admin_client, acme, [("system", "You help."), ("user", "{% if %}")])

    assert response.status_code == 200
    assert not Prompt.objects.filter(name="helper").exists()
    form = response.context["adminform"].form
    assert form.errors["body"] == ["Message 2 has an error: see the message below."]
    assert list(form.fields["body"].widget.row_errors) == [1]
    page = response.content.decode()
    assert '<fieldset class="pl-body-part" data-kind="chat">' in page
    assert '<li class="pl-chat-row errors">' in page
