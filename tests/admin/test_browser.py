"""One real-browser smoke test of the daily flow: log in, edit a prompt, see the
new version, open the diff, preview a render, read the version's eval results.
Screenshots land in test-artifacts/screenshots/ for a person to look at."""

from __future__ import annotations

import pytest

from prompts_app.models import Provider
from prompts_app.services import evals, library
from tests.admin.chromium import CHROMIUM
from tests.admin.chromium import element_screenshot as _element_screenshot
from tests.admin.chromium import screenshot as _screenshot
from tests.admin.conftest import CASES, GOOD_OUTPUTS, MIXED_OUTPUTS, finished_run
from tests.factories import PromptFactory, make_version

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: install Debian's chromium"),
]


def test_edit_diff_and_preview_a_prompt_in_a_real_browser(live_server, browser, django_user_model):
    from selenium.webdriver.common.by import By

    django_user_model.objects.create_superuser("ada", "ada@example.com", "correct horse battery")
    project, _ = library.project_get_or_create(name="acme")
    prompt = PromptFactory(project=project, name="greeting", description="Greets a customer.")
    make_version(prompt, "Hello {{ name }}, welcome to {{ company }}.", message="First greeting", author="ada")
    library.label_move(prompt=prompt, label="production", version_number=1, reason="Launch", actor="ada")

    browser.get(live_server.url + "/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("ada")
    browser.find_element(By.NAME, "password").send_keys("correct horse battery")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    assert "Site administration" in browser.page_source or "PromptLedger" in browser.title
    _screenshot(browser, "01-admin-index")

    # Open the prompt from the list, as a person would.
    browser.find_element(By.LINK_TEXT, "Prompts").click()
    browser.find_element(By.LINK_TEXT, "greeting").click()
    body = browser.find_element(By.NAME, "body")
    assert body.get_attribute("value") == "Hello {{ name }}, welcome to {{ company }}."
    _screenshot(browser, "02-prompt-page")

    body.clear()
    body.send_keys("Hello {{ name }}!\nWelcome to {{ company }}.\nHow can we help today?")
    browser.find_element(By.NAME, "message").send_keys("Ask how we can help")
    browser.find_element(By.NAME, "_continue").click()

    success = browser.find_element(By.CSS_SELECTOR, "ul.messagelist li.success").text
    assert "created version 2" in success
    row = browser.find_element(By.CSS_SELECTOR, 'tr.pl-version-row[data-version="2"]')
    assert "Ask how we can help" in row.text and "ada" in row.text
    assert prompt.versions.count() == 2
    _screenshot(browser, "03-saved-version-2")

    row.find_element(By.LINK_TEXT, "diff with previous").click()
    added = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#diff-template td.pl-add")]
    removed = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#diff-template td.pl-del")]
    assert "How can we help today?" in added
    assert "Hello {{ name }}, welcome to {{ company }}." in removed
    _screenshot(browser, "04-diff-side-by-side")
    browser.find_element(By.CSS_SELECTOR, "#diff-form select[name=mode] option[value=unified]").click()
    browser.find_element(By.CSS_SELECTOR, "#diff-form input[type=submit]").click()
    assert browser.find_elements(By.CSS_SELECTOR, "#diff-template .pl-unified .pl-add")
    _screenshot(browser, "05-diff-unified")

    browser.find_element(By.CSS_SELECTOR, ".pl-back").click()
    preview = browser.find_element(By.ID, "preview")
    preview.find_element(By.NAME, "var__name").send_keys("Grace")
    preview.find_element(By.NAME, "var__company").send_keys("Initech")
    preview.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    rendered = browser.find_element(By.CSS_SELECTOR, "#result pre.pl-rendered").text
    assert rendered == "Hello Grace!\nWelcome to Initech.\nHow can we help today?"
    assert int(browser.find_element(By.CSS_SELECTOR, ".pl-token-count").text) > 0
    _screenshot(browser, "06-preview")

    # Evals: v1 goes to production with a clean run; v2's run has failures. The
    # runs go through the real steps with canned model answers (no worker here).
    Provider.objects.create(project=project, name="fake", base_url="http://127.0.0.1:9/v1", model="gpt-4o-mini")
    evals.eval_suite_update(prompt=prompt, cases=CASES, repeats=2, provider="fake")
    production_run = finished_run(prompt.versions.get(number=1), GOOD_OUTPUTS)
    run = finished_run(prompt.versions.get(number=2), MIXED_OUTPUTS)

    browser.find_element(By.CSS_SELECTOR, ".pl-back").click()
    row = browser.find_element(By.CSS_SELECTOR, 'tr.pl-version-row[data-version="2"]')
    assert row.find_element(By.CSS_SELECTOR, ".pl-status-failed").text == "failed"
    assert row.find_element(By.CSS_SELECTOR, ".pl-cost").text.endswith(" / call")
    row.find_element(By.LINK_TEXT, "v2").click()
    evals_section = browser.find_element(By.ID, "evals")
    this = evals_section.find_element(By.ID, "eval-this")
    production = evals_section.find_element(By.ID, "eval-production")
    assert f"run #{run.pk}" in this.text and f"run #{production_run.pk}" in production.text
    assert this.find_element(By.CSS_SELECTOR, ".pl-pass-rate").text == "50%"
    assert production.find_element(By.CSS_SELECTOR, ".pl-pass-rate").text == "100%"
    _element_screenshot(browser, evals_section, "07-version-eval-summary")

    # The run's own page, through its status badge.
    this.find_element(By.CSS_SELECTOR, ".pl-status-failed").click()
    assert "Eval run #" in browser.title
    _screenshot(browser, "08-eval-run-page")
