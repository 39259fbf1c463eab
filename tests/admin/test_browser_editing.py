"""Editing prompts and creating keys in a real browser (issue 12's workplace
fixes): the edit page starts from production and says so, and another version
can be picked; the chat editor adds, moves and removes messages and the saved
version has them as edited; a save on a stale page is an error naming both
versions; reloading the API-key page creates no second key.

A screenshot of each flow lands in test-artifacts/admin/."""

from __future__ import annotations

import json

import pytest

from prompts_app.models import ApiKey, Prompt, PromptVersion
from prompts_app.services import library
from tests.admin.chromium import CHROMIUM
from tests.admin.conftest import V1, V2
from tests.factories import PromptFactory, make_version

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: install Debian's chromium"),
]


def _change_path(prompt: Prompt) -> str:
    return f"/admin/prompts_app/prompt/{prompt.pk}/change/"


def _greeting(staging: bool = True) -> Prompt:
    project, _ = library.project_get_or_create(name="acme")
    prompt = PromptFactory(project=project, name="greeting", protect_production=False)
    make_version(prompt, V1, message="First greeting", author="ada")
    make_version(prompt, V2, message="Staging experiment", author="grace", model_config={"model": "gpt-4o"})
    library.label_move(prompt=prompt, label="production", version_number=1, actor="ada")
    if staging:
        library.label_move(prompt=prompt, label="staging", version_number=2, actor="grace")
    return prompt


def test_the_edit_starts_from_production_says_so_and_another_version_can_be_picked(page, shots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    prompt = _greeting()
    page.open(_change_path(prompt))

    assert page.find_element(By.ID, "pl-editing-from").text == (
        "Editing from v1 (production); the latest is v2 (staging)."
    )
    assert page.find_element(By.NAME, "body").get_attribute("value") == V1
    assert page.find_element(By.NAME, "model_config").get_attribute("value") == ""
    shots(page, "01-edit-starts-from-production")

    # Picking v2 in "Start from" reloads the page from v2 (the script submits on change).
    Select(page.find_element(By.ID, "pl-start-from-select")).select_by_visible_text("v2 (staging, latest)")
    page.find_element(By.XPATH, "//p[@id='pl-editing-from'][starts-with(., 'Editing from v2')]")
    assert page.current_url.endswith("?from=2")
    assert page.find_element(By.NAME, "body").get_attribute("value") == V2
    assert json.loads(page.find_element(By.NAME, "model_config").get_attribute("value")) == {"model": "gpt-4o"}
    shots(page, "02-edit-started-from-v2")

    # Back to production, a one-line fix: v3 is v1 plus the fix, without v2's model change.
    page.open(_change_path(prompt))
    body = page.find_element(By.NAME, "body")
    body.send_keys(" See you soon.")
    page.find_element(By.NAME, "message").send_keys("One-line fix")
    page.find_element(By.NAME, "_continue").click()
    assert "created version 3" in page.find_element(By.CSS_SELECTOR, "ul.messagelist li.success").text
    v3 = PromptVersion.objects.get(prompt=prompt, number=3)
    assert (v3.template, v3.model_config) == (V1 + " See you soon.", {})


def test_the_chat_editor_adds_moves_and_removes_messages_and_saves_them(page, shots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    project, _ = library.project_get_or_create(name="acme")
    prompt = PromptFactory(project=project, name="support-chat", kind=Prompt.KIND_CHAT)
    make_version(prompt, messages=[
        {"role": "system", "content": "You help {{ company }}."},
        {"role": "user", "content": "{{ question }}"},
        {"role": "assistant", "content": "An old example answer."},
    ])
    page.open(_change_path(prompt))

    def rows():
        return page.find_elements(By.CSS_SELECTOR, ".pl-chat-row")

    assert len(rows()) == 3
    assert rows()[0].find_element(By.CSS_SELECTOR, "textarea").tag_name == "textarea"

    # Add a message: a role and a multi-line content.
    page.find_element(By.CSS_SELECTOR, ".pl-chat-add").click()
    new = rows()[3]
    Select(new.find_element(By.CSS_SELECTOR, "select")).select_by_value("user")
    new.find_element(By.CSS_SELECTOR, "textarea").send_keys("Customer tier: {{ tier }}\nBe brief.")
    # Move it up twice: it becomes message 2.
    new.find_element(By.CSS_SELECTOR, ".pl-chat-up").click()
    rows()[2].find_element(By.CSS_SELECTOR, ".pl-chat-up").click()
    assert rows()[1].find_element(By.CSS_SELECTOR, "textarea").get_attribute("value").startswith("Customer tier")
    assert rows()[1].find_element(By.CSS_SELECTOR, "textarea").get_attribute("name") == "body-1-content"
    # Remove the old assistant example (now the last one), and move the question down… and back up.
    rows()[3].find_element(By.CSS_SELECTOR, ".pl-chat-remove").click()
    rows()[2].find_element(By.CSS_SELECTOR, ".pl-chat-up").click()
    rows()[1].find_element(By.CSS_SELECTOR, ".pl-chat-down").click()
    assert [r.find_element(By.CSS_SELECTOR, ".pl-chat-number").text for r in rows()] == ["#1", "#2", "#3"]
    expected = [
        {"role": "system", "content": "You help {{ company }}."},
        {"role": "user", "content": "Customer tier: {{ tier }}\nBe brief."},
        {"role": "user", "content": "{{ question }}"},
    ]

    # The JSON toggle shows the same list, and back.
    page.find_element(By.CSS_SELECTOR, ".pl-chat-toggle").click()
    assert json.loads(page.find_element(By.CSS_SELECTOR, "textarea.pl-chat-json").get_attribute("value")) == expected
    page.find_element(By.CSS_SELECTOR, ".pl-chat-toggle").click()
    assert len(rows()) == 3
    rows()[2].find_element(By.CSS_SELECTOR, "textarea").send_keys("\nThanks!")  # the rows are what is saved
    expected[2]["content"] += "\nThanks!"
    page.find_element(By.NAME, "message").send_keys("Tier first")
    shots(page, "03-chat-editor-edited")

    page.find_element(By.NAME, "_continue").click()
    assert "created version 2" in page.find_element(By.CSS_SELECTOR, "ul.messagelist li.success").text
    assert PromptVersion.objects.get(prompt=prompt, number=2).messages == expected
    assert len(rows()) == 3  # the page now shows the new version, one row per message
    shots(page, "04-chat-editor-saved")


def test_a_chat_error_lands_on_its_message(page, shots):
    from selenium.webdriver.common.by import By

    project, _ = library.project_get_or_create(name="acme")
    prompt = PromptFactory(project=project, name="support-chat", kind=Prompt.KIND_CHAT)
    make_version(prompt)
    page.open(_change_path(prompt))

    page.find_elements(By.CSS_SELECTOR, ".pl-chat-row textarea")[1].send_keys(" {% if %}")
    page.find_element(By.NAME, "_continue").click()

    bad = page.find_element(By.CSS_SELECTOR, ".pl-chat-row.errors")
    assert bad.find_element(By.CSS_SELECTOR, ".pl-chat-number").text == "#2"
    assert "messages[1]" in bad.find_element(By.CSS_SELECTOR, ".errorlist").text
    assert prompt.versions.count() == 1
    shots(page, "05-chat-error-on-its-message")


def test_a_stale_save_shows_an_error_naming_both_versions(page, shots):
    from selenium.webdriver.common.by import By

    prompt = _greeting(staging=False)
    page.open(_change_path(prompt))
    page.find_element(By.NAME, "body").send_keys(" Mine.")

    make_version(prompt, V2 + " Theirs.", message="saved meanwhile", author="grace")  # v3
    page.find_element(By.NAME, "_continue").click()

    error = page.find_element(By.CSS_SELECTOR, ".field-body .errorlist").text
    assert "Version 3 was saved after you opened this page on v2" in error
    assert prompt.versions.count() == 3
    shots(page, "06-stale-save-error")

    # A second save is deliberate, and goes through as v4 from the person's text.
    page.find_element(By.NAME, "_continue").click()
    assert "created version 4" in page.find_element(By.CSS_SELECTOR, "ul.messagelist li.success").text
    assert PromptVersion.objects.get(prompt=prompt, number=4).template == V1 + " Mine."


def test_reloading_the_api_key_page_creates_no_second_key(page, shots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    library.project_get_or_create(name="acme")
    page.open("/admin/prompts_app/apikey/add/")
    Select(page.find_element(By.NAME, "project")).select_by_visible_text("acme")
    page.find_element(By.NAME, "name").send_keys("support-bot")
    page.find_element(By.CSS_SELECTOR, "input[name=_save]").click()

    raw = page.find_element(By.ID, "raw-key").text
    assert page.current_url.endswith("/admin/prompts_app/apikey/created/")
    assert ApiKey.objects.for_raw_key(raw) is not None
    shots(page, "07-api-key-created")

    page.refresh()

    assert ApiKey.objects.count() == 1
    assert raw not in page.page_source
    assert "shown only once" in page.find_element(By.CSS_SELECTOR, "ul.messagelist li.info").text
    shots(page, "08-api-key-page-reloaded")
