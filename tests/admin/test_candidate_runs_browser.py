"""Candidate models in a real browser, with a real Celery worker and the local
stand-in for OpenAI: from the eval suite's page, run the suite on a model of the
price sheet and on a typed one, and watch the "Candidate models" table turn from
running into ready and failed without a reload; then read the comparison on the
run's page. Screenshots land in test-artifacts/admin/."""

from __future__ import annotations

from pathlib import Path

import pytest

from prompts_app.models import EvalRun, Prompt, Provider
from prompts_app.services import evals, library
from tests.admin import chromium
from tests.evals.conftest import (
    CANDIDATE,
    CASES,
    GOOD_REPLIES,
    OWN_MODEL,
    UNPRICED,
    WORSE_REPLIES,
    new_version,
    price,
    wait_for_runs_of,
)
from tests.factories import PromptFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.skipif(not chromium.CHROMIUM.exists(), reason=f"{chromium.CHROMIUM} is missing"),
]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "admin"


@pytest.fixture
def shoot(monkeypatch):
    monkeypatch.setattr(chromium, "SCREENSHOTS", ARTIFACTS)
    return chromium.screenshot


@pytest.fixture
def graded_prompt(celery_worker, live_server, acme, fake_openai) -> Prompt:
    """acme/ask v1 in production, its suite graded on its own model by the worker."""
    price(acme, OWN_MODEL, "0.50", "1.50")
    price(acme, CANDIDATE, "1", "2")
    Provider.objects.create(project=acme, name="stand-in", base_url=fake_openai.base_url,
                            model="provider-default", timeout_seconds=2.0, max_retries=1)
    prompt = PromptFactory(project=acme, name="ask", kind=Prompt.KIND_TEXT)
    evals.eval_suite_update(prompt=prompt, provider="stand-in", cases=CASES)
    fake_openai.replies.update(GOOD_REPLIES)
    (own,) = wait_for_runs_of(new_version(prompt))
    assert own.status == EvalRun.PASSED
    library.label_move(prompt=prompt, label="production", version_number=1, reason="launch", actor="ada")
    return prompt


def _row_status(browser, model: str) -> str | None:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        row = browser.find_element(By.CSS_SELECTOR, f'tr.pl-candidate-row[data-model="{model}"]')
        return row.get_attribute("data-status")
    except (NoSuchElementException, StaleElementReferenceException):  # swapped by the refresh
        return None


def _wait_for_status(browser, model: str, wanted: str, timeout: float = 60) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, timeout, poll_frequency=0.2).until(lambda b: _row_status(b, model) == wanted)


def _cells(browser, model: str) -> list[str]:
    from selenium.webdriver.common.by import By

    row = browser.find_element(By.CSS_SELECTOR, f'tr.pl-candidate-row[data-model="{model}"]')
    return [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]


def test_run_a_candidate_model_from_the_suite_page(
    graded_prompt, live_server, browser, django_user_model, fake_openai, shoot
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    django_user_model.objects.create_superuser("ada", "ada@example.com", "correct horse battery")
    browser.get(live_server.url + "/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("ada")
    browser.find_element(By.NAME, "password").send_keys("correct horse battery")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()

    suite = graded_prompt.eval_suite
    browser.get(f"{live_server.url}/admin/prompts_app/evalsuite/{suite.pk}/change/")
    section = browser.find_element(By.ID, "candidates")
    assert "No candidate model has run on this suite yet" in section.text
    select = Select(browser.find_element(By.NAME, "candidate-model"))
    offered = [option.get_attribute("value") for option in select.options]
    assert CANDIDATE in offered and OWN_MODEL not in offered
    shoot(browser, "candidate-01-suite-page-form")

    # A model of the price sheet that answers as well as the current model: ready.
    select.select_by_value(CANDIDATE)
    browser.find_element(By.CSS_SELECTOR, "#candidate-form input[type=submit]").click()
    success = browser.find_element(By.CSS_SELECTOR, "ul.messagelist li.success").text
    assert "Queued eval run" in success and CANDIDATE in success
    browser.execute_script("window.plNoReload = 'still here'")
    _wait_for_status(browser, CANDIDATE, "ready")
    assert browser.execute_script("return window.plNoReload") == "still here"  # followed live
    cells = _cells(browser, CANDIDATE)
    assert cells[1] == "ready"
    assert cells[2] == "100% vs 100%"
    assert cells[3] == "100% vs 100%"
    assert cells[4] == "$0.00001 vs $0.000005875"
    assert "passed" in cells[5]
    shoot(browser, "candidate-02-ready")

    # A typed model, not on the price sheet, that answers json-b in prose: failed, not priced.
    fake_openai.replies.update(WORSE_REPLIES)
    browser.find_element(By.NAME, "candidate-other_model").send_keys(UNPRICED)
    browser.find_element(By.CSS_SELECTOR, "#candidate-form input[type=submit]").click()
    _wait_for_status(browser, UNPRICED, "failed")
    cells = _cells(browser, UNPRICED)
    assert cells[1] == "failed"
    assert cells[2] == "75% vs 100%"
    assert cells[3] == "66.67% vs 100%"
    assert cells[4] == "not priced vs $0.000005875"
    assert _row_status(browser, CANDIDATE) == "ready"
    shoot(browser, "candidate-03-ready-and-failed")

    # The run's own page: the candidate beside the current model, with the price note.
    run = EvalRun.objects.get(candidate_model=UNPRICED)
    browser.find_element(By.CSS_SELECTOR, f'tr.pl-candidate-row[data-model="{UNPRICED}"] a[href$="/{run.pk}/change/"]:not(.pl-status)').click()
    block = browser.find_element(By.ID, "candidate")
    assert f"Candidate model {UNPRICED}" in block.text
    assert "no price in force" in block.text
    assert block.find_element(By.CSS_SELECTOR, ".pl-candidate-pass-rate").text == "75%"
    shoot(browser, "candidate-04-run-page")

    # The version's own status is untouched: v1's latest run is still its own, passed.
    browser.get(f"{live_server.url}/admin/prompts_app/prompt/{graded_prompt.pk}/change/")
    badge = browser.find_element(By.CSS_SELECTOR, 'tr.pl-version-row[data-version="1"] .pl-eval-cell .pl-status')
    assert badge.text == "passed"
    own = EvalRun.objects.get(prompt_version__prompt=graded_prompt, candidate_model="", trigger="auto")
    assert badge.get_attribute("data-pl-run") == str(own.pk)
