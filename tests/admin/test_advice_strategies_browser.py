"""The strategies on the advice page in a real browser, at 1280 px: the table
fits without sideways scrolling, and a strategy's "How is this worked out?"
opens on a click to show its formula (and closes again). Screenshots land in
test-artifacts/admin/."""

from __future__ import annotations

from pathlib import Path

import pytest

from prompts_app.services import advice
from tests.admin.chromium import CHROMIUM
from tests.admin.conftest import admin_url, page_overflow, set_inner_width

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: install Debian's chromium"),
]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "admin"
LAYOUT_WIDTH = 1280


def _screenshot(browser, name: str) -> None:
    """The whole page at the layout width."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.execute_script("window.scrollTo(0, 0)")
    height = browser.execute_script("return document.documentElement.scrollHeight")
    set_inner_width(browser, LAYOUT_WIDTH, min(max(height, 800), 6000) + 100)
    browser.save_screenshot(str(ARTIFACTS / f"{name}.png"))
    set_inner_width(browser, LAYOUT_WIDTH)


def test_the_strategies_fit_1280_px_and_each_formula_opens_on_a_click(page, triage):
    from selenium.webdriver.common.by import By

    expected = advice.prompt_advice(prompt=triage)["strategies"]
    set_inner_width(page, LAYOUT_WIDTH)
    page.open(admin_url("prompt", "advice", triage.pk))
    table = page.find_element(By.ID, "strategies-current")

    rows = table.find_elements(By.CSS_SELECTOR, "tbody.pl-strategy")
    assert [row.get_attribute("data-key") for row in rows] == [s["key"] for s in expected]
    overflow = page_overflow(page)
    assert overflow["scroll"] <= overflow["inner"], overflow
    box = page.execute_script(
        "const t = document.querySelector('#strategies-current table').getBoundingClientRect();"
        "const m = document.getElementById('strategies').getBoundingClientRect();"
        "return [t.right, m.right];")
    assert box[0] <= box[1] + 1, f"the table sticks out of its section: {box}"
    _screenshot(page, "advice-strategies-01-table")

    # The fine-tune of the current model: blocked by the shutdown; its formula is one click away.
    n = next(i for i, s in enumerate(expected) if s["key"] == "fine_tune:openai:gpt-4o-mini")
    row, strategy = rows[n], expected[n]
    assert row.find_element(By.CSS_SELECTOR, "td[data-col=status]").text.startswith(
        "Blocked: The tuned model shuts down on 2027-01-14")
    how = row.find_element(By.CSS_SELECTOR, "details.pl-strategy-how")
    formula = how.find_element(By.CSS_SELECTOR, "ol.pl-formula")
    assert not formula.is_displayed()
    summary = how.find_element(By.TAG_NAME, "summary")
    assert summary.text == "How is this worked out?"
    page.execute_script("arguments[0].scrollIntoView({block: 'center'})", summary)
    summary.click()

    assert how.get_attribute("open") is not None
    assert formula.is_displayed()
    lines = [item.text for item in formula.find_elements(By.TAG_NAME, "li")]
    assert lines[:len(strategy["formula"])] == strategy["formula"]
    assert how.find_element(By.CSS_SELECTOR, "ul.pl-blockers").text == strategy["blockers"][0]
    overflow = page_overflow(page)
    assert overflow["scroll"] <= overflow["inner"], overflow  # the open formula wraps too
    page.execute_script("arguments[0].scrollIntoView({block: 'start'})", rows[n])
    page.save_screenshot(str(ARTIFACTS / "advice-strategies-02-formula-open.png"))

    summary.click()
    assert not formula.is_displayed()


def test_the_verdict_figures_formulas_open_on_a_click(page, triage):
    from selenium.webdriver.common.by import By

    figures = advice.prompt_advice(prompt=triage)["figures"]
    set_inner_width(page, LAYOUT_WIDTH)
    page.open(admin_url("prompt", "advice", triage.pk))
    how = page.find_element(By.ID, "advice-current-how")
    monthly = how.find_element(By.CSS_SELECTOR, "dd.pl-formula-monthly_savings")
    assert not monthly.is_displayed()

    how.find_element(By.TAG_NAME, "summary").click()

    assert monthly.is_displayed()
    assert monthly.text.endswith(f"= ${float(figures['monthly_savings']):,.2f}/month")
    overflow = page_overflow(page)
    assert overflow["scroll"] <= overflow["inner"], overflow
    page.execute_script("arguments[0].scrollIntoView({block: 'start'})", page.find_element(By.ID, "verdict"))
    page.save_screenshot(str(ARTIFACTS / "advice-strategies-03-verdict-formulas-open.png"))


def test_the_what_if_result_ranks_its_strategies_in_the_same_table(page, triage):
    from selenium.webdriver.common.by import By

    set_inner_width(page, LAYOUT_WIDTH)
    page.open(admin_url("prompt", "advice", triage.pk) + "#what-if")
    # The form starts from the advice: computing it unchanged gives the advice's strategies again.
    page.find_element(By.NAME, "_what_if").click()

    result = page.find_element(By.ID, "strategies-what-if")
    current = page.find_element(By.ID, "strategies-current")
    keys = [row.get_attribute("data-key") for row in result.find_elements(By.CSS_SELECTOR, "tbody.pl-strategy")]
    assert keys == [row.get_attribute("data-key") for row in current.find_elements(By.CSS_SELECTOR, "tbody.pl-strategy")]
    assert page.find_element(By.NAME, "model_shutdown_date").get_attribute("type") == "date"
    overflow = page_overflow(page)
    assert overflow["scroll"] <= overflow["inner"], overflow
    page.execute_script("arguments[0].scrollIntoView({block: 'start'})", result)
    page.save_screenshot(str(ARTIFACTS / "advice-strategies-04-what-if-result.png"))
