"""The admin end to end in a real browser, on the demo data (`demo_setup`), in
one session: log in; edit a prompt and see the new version with its eval run;
diff it; preview a render; promote it and read the label history; open the
ledger and advice page of the prompt that should be fine-tuned and try a
what-if; use the what-if calculator; acknowledge an alert.

Every page is saved under test-artifacts/screenshots/ (10-… onwards) for a
person to look at. No Celery worker runs here, so a new version's eval run
stays `queued`: the test checks that the run is there, not its result."""

from __future__ import annotations

import datetime as dt

import re
from io import StringIO

import pytest
from django.core.management import call_command

from prompts_app.models import Alert, EvalRun, Label, Prompt
from tests.admin.chromium import CHROMIUM, element_screenshot, screenshot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: install Debian's chromium"),
]

NEW_RULE = "Never guess a value that is not printed. Dates are ISO 8601 (YYYY-MM-DD)."
INVOICE = "ACME PARTS LTD\nInvoice No. AP-1001   Date: 11/20/2026\n\nBolts, 200 pcs   $40.00\nTotal   $40.00"
BREAK_EVEN = re.compile(r"break-even ≈ month \d+ \(\d+\.\d\d months\)")


def test_the_admin_end_to_end_on_the_demo_data(live_server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    call_command("demo_setup", stdout=StringIO())  # also makes the admin/admin login
    invoice = Prompt.objects.get(name="invoice-extract")
    triage = Prompt.objects.get(name="ticket-triage")
    before = invoice.latest_version_number

    def css(selector, within=None):
        return (within or browser).find_element(By.CSS_SELECTOR, selector)

    # --- log in; the index leads to the advice tools ---
    browser.get(live_server.url + "/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("admin")
    browser.find_element(By.NAME, "password").send_keys("admin")
    css("input[type=submit]").click()
    tools = browser.find_element(By.ID, "pl-advice-tools")
    assert "What-if calculator" in tools.text and "New alerts" in tools.text
    screenshot(browser, "10-admin-index-with-advice-tools")

    # --- the prompt list shows each prompt's verdict ---
    browser.find_element(By.LINK_TEXT, "Prompts").click()
    # ticket-triage's money says fine-tune, but gpt-4o-mini retires on 2027-01-14
    assert css(f'a.pl-advice-keep_prompting[href$="/{triage.pk}/advice/"]').text == "Keep prompting"
    screenshot(browser, "11-prompt-list-with-verdicts")

    # --- edit a prompt: the next version appears with its (queued) eval run ---
    browser.find_element(By.LINK_TEXT, "invoice-extract").click()
    body = browser.find_element(By.NAME, "body")
    template = body.get_attribute("value")
    assert "Never guess a value that is not printed." in template
    # The template is long: set it the way a paste would, rather than typing it out.
    browser.execute_script("arguments[0].value = arguments[1]", body,
                           template.replace("Never guess a value that is not printed.", NEW_RULE))
    browser.find_element(By.NAME, "message").send_keys("Ask for ISO dates")
    browser.find_element(By.NAME, "_continue").click()
    new = before + 1
    assert f"created version {new}" in css("ul.messagelist li.success").text
    row = css(f'tr.pl-version-row[data-version="{new}"]')
    assert "Ask for ISO dates" in row.text and "admin" in row.text
    badge = css(".pl-eval-cell .pl-status", row)
    assert badge.text in ("queued", "running", "passed", "failed", "error")  # queued: no worker here
    assert EvalRun.objects.filter(prompt_version__prompt=invoice, prompt_version__number=new).exists()
    screenshot(browser, "12-prompt-saved-new-version-with-eval-run")

    # --- diff it against the version before ---
    css(f'tr.pl-version-row[data-version="{new}"]').find_element(By.LINK_TEXT, "diff with previous").click()
    added = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#diff-template td.pl-add")]
    assert any("ISO 8601" in text for text in added)
    screenshot(browser, "13-diff-new-version")

    # --- preview a render of the new version ---
    css(".pl-back").click()
    css(f'tr.pl-version-row[data-version="{new}"]').find_element(By.LINK_TEXT, "preview").click()
    browser.find_element(By.NAME, "var__invoice_text").send_keys(INVOICE)
    css("#preview-form input[type=submit]").click()
    rendered = css("#result pre.pl-rendered").text
    assert "AP-1001" in rendered and "ISO 8601" in rendered
    screenshot(browser, "14-preview-new-version")

    # --- promote it to production and read the history ---
    css(".pl-back").click()
    css(f'tr.pl-version-row[data-version="{new}"]').find_element(By.LINK_TEXT, "promote").click()
    assert Select(browser.find_element(By.NAME, "version")).first_selected_option.text == f"v{new}"
    browser.find_element(By.NAME, "reason").send_keys("ISO dates for the ERP import")
    screenshot(browser, "15-promote-form")
    css("#promote-form input[type=submit]").click()
    assert "Moved 'production'" in css("ul.messagelist li.success").text
    latest_move = css("#label-history li.pl-move")
    assert f"v{before} → v{new}" in latest_move.text and "ISO dates for the ERP import" in latest_move.text
    assert Label.objects.get(prompt=invoice, name="production").version.number == new
    element_screenshot(browser, browser.find_element(By.ID, "labels"), "16-promoted-label-history")

    # --- the ledger and advice of the fine-tuning candidate ---
    browser.find_element(By.LINK_TEXT, "Prompts").click()
    css(f'a.pl-advice-keep_prompting[href$="/{triage.pk}/advice/"]').click()
    current = browser.find_element(By.ID, "advice-current")
    assert css(".pl-advice-big", current).text == "Keep prompting"
    assert "shuts down on 2027-01-14" in current.text or "2027-01-06" in current.text
    assert "/ month" in css(".pl-figure-monthly_savings .pl-figure-value", current).text
    assert css(".pl-figure-payback_months .pl-figure-value", current).text.endswith(" months")
    assert BREAK_EVEN.search(css(".pl-break-even-text", current).text)
    usage = browser.find_element(By.CSS_SELECTOR, "#usage-chart svg")
    assert usage.find_elements(By.CSS_SELECTOR, "rect title") and "USD per day" in usage.text
    assert css("svg .pl-break-even-point", current)
    screenshot(browser, "17-advice-ticket-triage")
    element_screenshot(browser, current, "17a-advice-verdict-and-payback")
    element_screenshot(browser, browser.find_element(By.ID, "ledger"), "17b-advice-ledger-chart")

    # A what-if from the measured inputs: with too few approved examples, and the
    # lifecycle dates carried over, it still says keep prompting, and why.
    examples = browser.find_element(By.NAME, "approved_examples")
    assert examples.get_attribute("value") == "600"
    examples.clear()
    examples.send_keys("150")
    browser.find_element(By.NAME, "_what_if").click()
    result = browser.find_element(By.ID, "what-if-result")
    assert css(".pl-advice-big", result).text == "Keep prompting"
    assert "Only 150 approved examples" in result.text
    element_screenshot(browser, browser.find_element(By.ID, "what-if"), "18-advice-what-if-result")

    # --- the what-if calculator, from the index ---
    browser.find_element(By.LINK_TEXT, "Home").click()
    browser.find_element(By.LINK_TEXT, "What-if calculator").click()
    for name, value in {"calls_per_month": "1,000,000", "avg_input_tokens": "1000", "avg_output_tokens": "0",
                        "tokens_removable": "800", "input_price_per_1m": "2", "output_price_per_1m": "2",
                        "one_time_cost": "10000", "approved_examples": "500", "versions_last_30_days": "1"}.items():
        browser.find_element(By.NAME, name).send_keys(value)
    browser.find_element(By.NAME, "_what_if").click()
    result = browser.find_element(By.ID, "what-if-result")
    assert css(".pl-advice-big", result).text == "Fine-tune"
    assert css(".pl-figure-monthly_savings .pl-figure-value", result).text == "$1,600.00 / month"
    assert css(".pl-figure-payback_months .pl-figure-value", result).text == "6.25 months"
    assert "break-even ≈ month 7 (6.25 months)" in css(".pl-break-even-text", result).text
    screenshot(browser, "19-what-if-calculator-reference-case")
    browser.find_element(By.NAME, "cached_input_share").send_keys("1.5")
    browser.find_element(By.NAME, "_what_if").click()
    assert "between 0 and 1" in css(".field-cached_input_share .errorlist").text
    element_screenshot(browser, browser.find_element(By.ID, "what-if-form"), "20-what-if-calculator-invalid-input")

    # --- acknowledge the alert ---
    browser.find_element(By.LINK_TEXT, "Home").click()
    browser.find_element(By.LINK_TEXT, "New alerts").click()
    # the list's first row: the newest new alert (the demo's prompts run on models
    # that retire, and ticket-triage has strategies that save money)
    new_alerts = Alert.objects.filter(state=Alert.STATE_NEW).order_by("-created_at", "-id")
    count, alert = new_alerts.count(), new_alerts.first()
    assert Alert.objects.filter(prompt=triage, kind=Alert.KIND_SHUTDOWN_SOON).exists() or (
        dt.date.today() > dt.date(2027, 1, 14)
    )
    assert css("#result_list .pl-alert-new").text == "new"
    screenshot(browser, "21-alerts-new")
    css("#result_list .pl-ack-button").click()
    assert f"Acknowledged the alert about {alert.prompt.name}." in css(
        "ul.messagelist li.success"
    ).text
    alert.refresh_from_db()
    assert (alert.state, alert.acknowledged_by) == (Alert.STATE_ACKNOWLEDGED, "admin")
    # back on "new alerts": one fewer
    assert len(browser.find_elements(By.CSS_SELECTOR, "#result_list .pl-alert-new")) == count - 1
    browser.find_element(By.LINK_TEXT, "All").click()
    assert css("#result_list .pl-alert-acknowledged").text == "acknowledged"
    screenshot(browser, "22-alerts-acknowledged")
    css("#result_list th.field-message_display a").click()
    assert "acknowledged" in css(".field-state_display").text
    assert "admin" in css(".field-acknowledged_by").text
    screenshot(browser, "23-alert-page")
