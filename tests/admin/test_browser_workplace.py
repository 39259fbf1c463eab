"""The rest of issue 12's workplace fixes in a real browser: the add page creates
a chat prompt message by message with the same editor as the edit page (and a
text prompt from its template, whichever kind was shown before), and a mistyped
label name is refused until the new label is confirmed.

A screenshot of each flow lands in test-artifacts/admin/."""

from __future__ import annotations

import json

import pytest

from prompts_app.models import Label, Prompt
from prompts_app.services import library
from tests.admin.chromium import CHROMIUM
from tests.admin.conftest import V1, V2
from tests.factories import PromptFactory, make_version

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: install Debian's chromium"),
]

ADD_PATH = "/admin/prompts_app/prompt/add/"


def _start_adding(page, name: str, kind: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    library.project_get_or_create(name="acme")
    page.open(ADD_PATH)
    Select(page.find_element(By.NAME, "project")).select_by_visible_text("acme")
    page.find_element(By.NAME, "name").send_keys(name)
    Select(page.find_element(By.NAME, "kind")).select_by_value(kind)


def _save(page) -> str:
    from selenium.webdriver.common.by import By

    page.find_element(By.NAME, "_save").click()
    return page.find_element(By.CSS_SELECTOR, "ul.messagelist li.success").text


def test_a_chat_prompt_is_created_message_by_message_on_the_add_page(page, shots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _start_adding(page, "support-chat", "chat")

    def rows():
        return page.find_elements(By.CSS_SELECTOR, ".pl-chat-row")

    # The chat editor replaces the template box; it opens with a system message.
    assert not page.find_element(By.CSS_SELECTOR, "textarea#id_body").is_displayed()
    assert len(rows()) == 1
    assert Select(rows()[0].find_element(By.CSS_SELECTOR, "select")).first_selected_option.text == "system"
    rows()[0].find_element(By.CSS_SELECTOR, "textarea").send_keys("You help {{ company }}.\nBe brief.")

    # Add a user message and a stray one; move the user message first and back,
    # remove the stray one.
    page.find_element(By.CSS_SELECTOR, ".pl-chat-add").click()
    rows()[1].find_element(By.CSS_SELECTOR, "textarea").send_keys("{{ question }}")
    page.find_element(By.CSS_SELECTOR, ".pl-chat-add").click()
    Select(rows()[2].find_element(By.CSS_SELECTOR, "select")).select_by_value("assistant")
    rows()[2].find_element(By.CSS_SELECTOR, "textarea").send_keys("Not this one.")
    rows()[1].find_element(By.CSS_SELECTOR, ".pl-chat-up").click()
    rows()[0].find_element(By.CSS_SELECTOR, ".pl-chat-down").click()
    rows()[2].find_element(By.CSS_SELECTOR, ".pl-chat-remove").click()
    expected = [
        {"role": "system", "content": "You help {{ company }}.\nBe brief."},
        {"role": "user", "content": "{{ question }}"},
    ]

    # The JSON toggle shows the same list, and back to the rows, which are saved.
    page.find_element(By.CSS_SELECTOR, ".pl-chat-toggle").click()
    assert json.loads(page.find_element(By.CSS_SELECTOR, "textarea.pl-chat-json").get_attribute("value")) == expected
    page.find_element(By.CSS_SELECTOR, ".pl-chat-toggle").click()
    assert [r.find_element(By.CSS_SELECTOR, ".pl-chat-number").text for r in rows()] == ["#1", "#2"]
    page.find_element(By.NAME, "message").send_keys("First chat")
    shots(page, "workplace-01-add-chat-prompt-editor")

    assert "Created prompt acme/support-chat with version 1" in _save(page)
    prompt = Prompt.objects.get(name="support-chat")
    version = prompt.versions.get()
    assert (prompt.kind, version.messages, version.message) == (Prompt.KIND_CHAT, expected, "First chat")
    assert len(rows()) == 2  # the edit page it lands on: one row per message
    shots(page, "workplace-02-add-chat-prompt-saved")


def test_the_add_page_saves_the_template_of_a_text_prompt_after_a_look_at_chat(page, shots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _start_adding(page, "welcome", "chat")
    page.find_element(By.CSS_SELECTOR, ".pl-chat-row textarea").send_keys("Never saved")
    Select(page.find_element(By.NAME, "kind")).select_by_value("text")

    template = page.find_element(By.CSS_SELECTOR, "textarea#id_body")
    assert template.is_displayed() and not page.find_element(By.CSS_SELECTOR, ".pl-chat-editor").is_displayed()
    template.send_keys("Welcome {{ user }}!\nGlad you are here.")
    shots(page, "workplace-03-add-text-prompt")

    assert "Created prompt acme/welcome with version 1" in _save(page)
    version = Prompt.objects.get(name="welcome").versions.get()
    assert (version.template, version.messages) == ("Welcome {{ user }}!\nGlad you are here.", None)


def test_a_mistyped_label_is_refused_until_the_new_label_is_confirmed(page, shots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    project, _ = library.project_get_or_create(name="acme")
    prompt = PromptFactory(project=project, name="greeting", protect_production=False)
    make_version(prompt, V1, message="First greeting", author="ada")
    make_version(prompt, V2, message="Ask how we can help", author="grace")
    library.label_move(prompt=prompt, label="staging", version_number=1, actor="ada")
    page.open(f"/admin/prompts_app/prompt/{prompt.pk}/promote/?version=2")

    label = page.find_element(By.NAME, "label")
    label.clear()
    label.send_keys("stagign")
    page.find_element(By.NAME, "_promote").click()

    error = page.find_element(By.CSS_SELECTOR, "#promote-form .field-label .errorlist").text
    assert "no label 'stagign'" in error and "staging" in error and "Create a new label" in error
    assert not Label.objects.filter(prompt=prompt, name="stagign").exists()
    assert page.find_element(By.NAME, "label").get_attribute("value") == "stagign"  # kept to correct or confirm
    shots(page, "workplace-04-new-label-needs-confirming")

    assert Select(page.find_element(By.NAME, "version")).first_selected_option.text == "v2"
    page.find_element(By.NAME, "create_label").click()
    page.find_element(By.NAME, "_promote").click()

    success = page.find_element(By.CSS_SELECTOR, "ul.messagelist li.success").text
    assert "Moved 'stagign' of acme/greeting to v2" in success
    assert Label.objects.get(prompt=prompt, name="stagign").version.number == 2
    assert Label.objects.get(prompt=prompt, name="staging").version.number == 1
    shots(page, "workplace-05-new-label-confirmed")
