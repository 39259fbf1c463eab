"""Eval outcomes in a real browser: a queued badge turns into its final status
without a reload (the run is carried through the real service steps while the
page is open), the promote page's panel follows its version dropdown, and a run
that only rendered is "rendered, not graded" and refused by the production gate.

Screenshots land in test-artifacts/admin/."""

from __future__ import annotations

import time

import pytest

from prompts_app.models import EvalCaseResult, EvalRun, Label
from prompts_app.services import evals, library
from tests.admin import chromium
from tests.admin.conftest import CASES, GOOD_OUTPUTS, finished_run, version_of

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not chromium.CHROMIUM.exists(), reason=f"{chromium.CHROMIUM} is missing"),
]


def _wait(browser, condition, timeout=15):
    from selenium.webdriver.support.ui import WebDriverWait

    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    # the poller and the panel swap replace elements: re-find them until the condition holds
    return WebDriverWait(
        browser,
        timeout,
        poll_frequency=0.2,
        ignored_exceptions=(StaleElementReferenceException, NoSuchElementException),
    ).until(condition)


def _badge_text(browser, selector):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        return browser.find_element(By.CSS_SELECTOR, selector).text
    except StaleElementReferenceException:  # swapped between find and read
        return None


def _answer_every_case(run, outputs):
    for case in run.cases:
        for repeat, output in enumerate(outputs[case["name"]]):
            EvalCaseResult.objects.create(run=run, case_name=case["name"], repeat_index=repeat, output=output,
                                          status=EvalCaseResult.PASSED, latency_ms=300, input_tokens=20,
                                          output_tokens=5)


def test_a_queued_badge_turns_into_its_final_status_without_a_reload(live_server, page, shots, prompt, suite):
    browser = page
    for auto in EvalRun.objects.filter(prompt_version__prompt=prompt):  # made before the suite: no cases
        evals.eval_run_start(run_id=auto.pk)
        assert evals.eval_run_finalize(run_id=auto.pk).status == "no_cases"
    run = evals.eval_run_request(version=version_of(prompt, 2), requested_by="ada")  # v2's latest run
    browser.get(f"{live_server.url}/admin/prompts_app/prompt/{prompt.pk}/change/")
    badge = 'tr.pl-version-row[data-version="2"] .pl-eval-cell .pl-status'
    assert _badge_text(browser, badge) == "queued"
    browser.execute_script("window.plNoReload = 'still here'")
    assert _badge_text(browser, 'tr.pl-version-row[data-version="1"] .pl-status') == "no cases"
    shots(browser, "eval-01-prompt-page-badge-queued")

    evals.eval_run_start(run_id=run.pk)
    _wait(browser, lambda b: _badge_text(b, badge) == "running")
    _answer_every_case(run, GOOD_OUTPUTS)
    assert evals.eval_run_finalize(run_id=run.pk).status == "passed"
    _wait(browser, lambda b: _badge_text(b, badge) == "passed")

    assert browser.execute_script("return window.plNoReload") == "still here"
    cell = browser.find_element(By_CSS(), badge)
    assert cell.get_attribute("href").endswith(f"/admin/prompts_app/evalrun/{run.pk}/change/")
    # Nothing moves any more: the page stops asking.
    _wait(browser, lambda b: b.execute_script("return window.plEvalStatus.polling") is False)
    polls = browser.execute_script("return window.plEvalStatus.polls")
    time.sleep(2.5)
    assert browser.execute_script("return window.plEvalStatus.polls") == polls
    shots(browser, "eval-02-prompt-page-badge-passed")


def test_the_run_page_follows_its_run_to_rendered_not_graded(live_server, page, shots, prompt):
    browser = page
    evals.eval_suite_update(prompt=prompt, cases=CASES[:1], provider="")
    run = evals.eval_run_request(version=version_of(prompt, 2), requested_by="ada")
    browser.get(f"{live_server.url}/admin/prompts_app/evalrun/{run.pk}/change/")
    head = "#run-head .pl-status"
    assert _badge_text(browser, head) == "queued"
    assert "Still queued" in browser.find_element(By_CSS(), "#run-head").text
    browser.execute_script("window.plNoReload = 'still here'")
    shots(browser, "eval-03-run-page-queued")

    evals.eval_run_start(run_id=run.pk)
    assert evals.eval_run_finalize(run_id=run.pk).status == "rendered"
    _wait(browser, lambda b: _badge_text(b, head) == "rendered, not graded")

    assert browser.execute_script("return window.plNoReload") == "still here"
    _wait(browser, lambda b: "Still" not in b.find_element(By_CSS(), "#run-head").text)
    assert browser.find_element(By_CSS(), "#eval-this .pl-status-rendered").text == "rendered, not graded"
    assert browser.find_element(By_CSS(), "#eval-this .pl-cases-rendered").text == "1 of 1"
    assert not browser.find_elements(By_CSS(), ".pl-status-passed")
    shots(browser, "eval-04-run-page-rendered-not-graded")


def _v1_passed_v2_rendered(prompt):
    library.prompt_update(prompt=prompt, protect_production=True)
    passed = finished_run(version_of(prompt, 1), GOOD_OUTPUTS)
    evals.eval_suite_update(prompt=prompt, cases=CASES[:1], provider="")
    rendered = evals.eval_run_request(version=version_of(prompt, 2), requested_by="ada")
    evals.eval_run_start(run_id=rendered.pk)
    rendered = evals.eval_run_finalize(run_id=rendered.pk)
    assert (passed.status, rendered.status) == ("passed", "rendered")
    return passed, rendered


def test_the_promote_panel_follows_the_version_dropdown(live_server, page, shots, prompt, suite):
    from selenium.webdriver.support.ui import Select

    browser = page
    passed, rendered = _v1_passed_v2_rendered(prompt)
    browser.get(f"{live_server.url}/admin/prompts_app/prompt/{prompt.pk}/promote/?version=2")
    panel = "#promote-version"
    assert browser.find_element(By_CSS(), f"{panel} h2").text == "v2"
    assert browser.find_element(By_CSS(), f"{panel} .pl-status").text == "rendered, not graded"
    browser.execute_script("window.plNoReload = 'still here'")
    shots(browser, "eval-05-promote-panel-v2")

    Select(browser.find_element(By_CSS(), "#promote-form select[name=version]")).select_by_visible_text("v1")
    def panel_shows(b, version, status, run, gate=""):
        found = lambda part: b.find_element(By_CSS(), f"{panel} {part}")  # noqa: E731
        return (
            found("h2").text == version
            and found(".pl-status").text == status
            and found(".pl-status").get_attribute("data-pl-run") == str(run.pk)
            and gate in found(".pl-gate").text
        )

    _wait(browser, lambda b: panel_shows(b, "v1", "passed", passed, "lets v1 through"))
    assert browser.execute_script("return window.plNoReload") == "still here"
    shots(browser, "eval-06-promote-panel-follows-v1")

    Select(browser.find_element(By_CSS(), "#promote-form select[name=version]")).select_by_visible_text("v2")
    _wait(browser, lambda b: panel_shows(b, "v2", "rendered, not graded", rendered))


def test_a_rendered_only_run_is_not_graded_and_the_gate_refuses_it(live_server, page, shots, prompt, suite):
    browser = page
    _passed, rendered = _v1_passed_v2_rendered(prompt)
    browser.get(f"{live_server.url}/admin/prompts_app/prompt/{prompt.pk}/change/")
    row_badge = browser.find_element(By_CSS(), 'tr.pl-version-row[data-version="2"] .pl-status')
    assert row_badge.text == "rendered, not graded" and "pl-status-rendered" in row_badge.get_attribute("class")
    shots(browser, "eval-07-version-history-rendered-not-graded")

    browser.get(f"{live_server.url}/admin/prompts_app/prompt/{prompt.pk}/promote/?version=2")
    gate = browser.find_element(By_CSS(), "#promote-version .pl-gate")
    assert "The production gate refuses v2" in gate.text and "only rendered its cases" in gate.text
    browser.find_element(By_CSS(), "#promote-form input[type=submit]").click()

    error = browser.find_element(By_CSS(), "#promote-form .errornote").text
    assert f"(#{rendered.pk}) only rendered its cases" in error and "nothing was graded" in error
    assert not Label.objects.filter(prompt=prompt, name="production").exists()
    shots(browser, "eval-08-promote-refused-rendered-not-graded")


def By_CSS():  # noqa: N802 - reads like selenium's By.CSS_SELECTOR at the call sites
    from selenium.webdriver.common.by import By

    return By.CSS_SELECTOR
