"""The admin's layout and links in a real browser, on the demo data (`demo_setup`):

- no page scrolls sideways at 1280 px (the prompt list, a prompt with its
  version history, the example-set pages, the ledger and advice pages, an eval
  run), each saved under test-artifacts/admin/ for a person to look at;
- every link reachable from the admin index answers (no 404, no 500), and the
  favicon is there;
- the 600-example demo set is paged and searchable, and approving one row saves
  a new version with exactly that change.
"""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client

from prompts_app.models import Alert, EvalRun, ExampleSet, ModelPrice, Prompt
from prompts_app.services import library
from tests.admin.chromium import CHROMIUM
from tests.admin.conftest import page_overflow, set_inner_width

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: install Debian's chromium"),
]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "admin"
LAYOUT_WIDTH = 1280


def _demo():
    call_command("demo_setup", stdout=StringIO())  # also makes the admin/admin login


def _log_in(browser, base_url):
    from selenium.webdriver.common.by import By

    browser.get(base_url + "/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("admin")
    browser.find_element(By.NAME, "password").send_keys("admin")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    browser.find_element(By.ID, "site-name")


def _screenshot(browser, name: str) -> None:
    """A full-page screenshot at the layout width."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.execute_script("window.scrollTo(0, 0)")
    page = browser.execute_script("return document.documentElement.scrollHeight")
    set_inner_width(browser, LAYOUT_WIDTH, min(max(page, 800), 6000) + 100)
    browser.save_screenshot(str(ARTIFACTS / f"{name}.png"))
    set_inner_width(browser, LAYOUT_WIDTH)


def test_no_admin_page_scrolls_sideways_at_1280_px(live_server, browser):
    _demo()
    invoice = Prompt.objects.get(name="invoice-extract")
    triage = Prompt.objects.get(name="ticket-triage")
    big_set = ExampleSet.objects.get(name="ticket-triage-labelled")
    run = EvalRun.objects.order_by("-pk").first()
    assert run is not None, "the demo has eval runs"
    price = ModelPrice.objects.order_by("pk").first()
    alert = Alert.objects.order_by("pk").first()
    # Long unbroken words where people type them: names, descriptions, commit messages.
    long_word = "customer-support-escalation-" * 3 + "v2"
    project = invoice.project
    long_set = library.example_set_create(
        project=project, name=long_word, description="https://wiki.example.com/" + "a" * 150,
        examples=[{"input": {"ticket": "x" * 400}, "output": "y" * 400, "tags": ["z" * 50]}],
        message="Imported-from-" + "b" * 200, author="demo",
    )
    library.prompt_update(prompt=invoice, description="See-" + "c" * 200)
    pages = {
        "01-prompt-list": "/admin/prompts_app/prompt/",
        "02-prompt-change-with-versions": f"/admin/prompts_app/prompt/{invoice.pk}/change/",
        "03-prompt-change-chat": f"/admin/prompts_app/prompt/{triage.pk}/change/",
        "04-prompt-version-list": "/admin/prompts_app/promptversion/",
        "05-example-set-list": "/admin/prompts_app/exampleset/",
        "06-example-set-600-pages": f"/admin/prompts_app/exampleset/{big_set.pk}/change/",
        "07-example-set-600-json": f"/admin/prompts_app/exampleset/{big_set.pk}/change/?mode=json",
        "08-example-set-version": (
            f"/admin/prompts_app/examplesetversion/{big_set.versions.get(number=1).pk}/change/"
        ),
        "09-example-set-version-list": "/admin/prompts_app/examplesetversion/",
        "10-example-set-add": "/admin/prompts_app/exampleset/add/",
        "11-advice-ticket-triage": f"/admin/prompts_app/prompt/{triage.pk}/advice/",
        "12-advice-invoice-extract": f"/admin/prompts_app/prompt/{invoice.pk}/advice/",
        "13-what-if": "/admin/prompts_app/prompt/what-if/",
        "14-alert-list": "/admin/prompts_app/alert/",
        "15-alert": f"/admin/prompts_app/alert/{alert.pk}/change/",
        "16-model-price-list": "/admin/prompts_app/modelprice/",
        "17-model-price": f"/admin/prompts_app/modelprice/{price.pk}/change/",
        "18-advisor-settings-list": "/admin/prompts_app/advisorsettings/",
        "19-eval-run-list": "/admin/prompts_app/evalrun/",
        "20-eval-run": f"/admin/prompts_app/evalrun/{run.pk}/change/",
        "21-index": "/admin/",
        "22-example-set-long-words": f"/admin/prompts_app/exampleset/{long_set.pk}/change/",
        "23-example-set-long-words-rows": f"/admin/prompts_app/exampleset/{long_set.pk}/change/?mode=rows",
    }
    _log_in(browser, live_server.url)
    set_inner_width(browser, LAYOUT_WIDTH)
    too_wide = {}
    for name, path in pages.items():
        browser.get(live_server.url + path)
        assert browser.execute_script("return !!document.getElementById('site-name')"), (
            f"{path} is not an admin page: {browser.title}")
        found = page_overflow(browser)
        if found["scroll"] > found["inner"]:
            too_wide[name] = found
        _screenshot(browser, name)
    assert not too_wide, f"pages wider than {LAYOUT_WIDTH} px: {too_wide}"


# --- links ---------------------------------------------------------------------------------

SKIP = ("/admin/logout/",)


def _links(client, url: str) -> tuple[int, list[str]]:
    """The status of a GET of `url` (redirects followed) and the same-origin links on it."""
    from html.parser import HTMLParser

    response = client.get(url, follow=True)
    if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
        return response.status_code, []

    hrefs: list[str] = []

    class Anchors(HTMLParser):
        def handle_starttag(self, tag, attrs):
            href = dict(attrs).get("href")
            if tag == "a" and href:
                hrefs.append(href)

    Anchors().feed(response.content.decode())
    base = response.request["PATH_INFO"] + (
        "?" + response.request["QUERY_STRING"] if response.request.get("QUERY_STRING") else "")
    found = []
    for href in hrefs:
        if href.startswith(("#", "javascript:", "mailto:")):
            continue
        parts = urlsplit(urljoin("http://testserver" + base, href))
        if parts.netloc != "testserver":
            continue
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        if not target.startswith(SKIP):
            found.append(target)
    return response.status_code, found


def _is_change_page(path: str) -> bool:
    return path.split("?")[0].endswith("/change/")


def test_no_link_from_the_admin_index_is_dead(db):
    """Every link on the index, on each page it leads to (changelists, tools),
    and on the first change pages of each changelist, answers without 404 or 500."""
    _demo()
    client = Client()
    assert client.login(username="admin", password="admin")
    status, index_links = _links(client, "/admin/")
    assert status == 200
    assert "View site" not in client.get("/admin/").content.decode()

    seen: dict[str, int] = {}
    links_on: dict[str, list[str]] = {}
    dead: dict[str, tuple[str, int]] = {}

    def visit(url: str, came_from: str) -> list[str]:
        if url not in seen:
            seen[url], links_on[url] = _links(client, url)
            if seen[url] in (404, 500):
                dead[url] = (came_from, seen[url])
        return links_on[url]

    for first in dict.fromkeys(index_links):
        if first == "/admin/":
            continue
        second_level = visit(first, "/admin/")
        change_pages = 0
        for second in dict.fromkeys(second_level):
            if _is_change_page(second):
                change_pages += 1
                if change_pages > 3:  # a few rows of each list are enough
                    continue
                for third in dict.fromkeys(visit(second, first)):
                    visit(third, second)
            else:
                visit(second, first)
    assert len(seen) > 150, sorted(seen)
    assert not dead, f"dead links (url: (linked from, status)): {dead}"


def test_the_admin_has_a_favicon(live_server, browser):
    _demo()
    assert finders.find("prompts_app/favicon.svg")
    _log_in(browser, live_server.url)
    for path in ("/admin/", "/admin/prompts_app/prompt/", "/admin/login/"):
        browser.get(live_server.url + path)
        href = browser.execute_script(
            "const l = document.querySelector('link[rel~=icon]'); return l && l.href;")
        assert href and href.endswith("/favicon.svg"), path
    status = browser.execute_script(
        "return fetch(arguments[0]).then(r => r.status + ' ' + r.headers.get('content-type'))", href)
    assert status.startswith("200 image/svg"), status


# --- the 600-example set --------------------------------------------------------------------


def test_the_600_example_set_is_paged_searchable_and_approved_per_row(live_server, browser):
    from selenium.webdriver.common.by import By

    _demo()
    big_set = ExampleSet.objects.get(name="ticket-triage-labelled")
    # A reviewer unapproved every example that says "please" (120 of the 600).
    examples = [
        {"input": ex.input, "output": ex.output, "tags": ex.tags, "approved": "please" not in str(ex.input).lower()}
        for ex in big_set.versions.get(number=1).examples.order_by("position")
    ]
    base = library.example_set_version_create(example_set=big_set, examples=examples, message="Re-review",
                                              author="demo")
    assert base.number == 2

    def css(selector, within=None):
        return (within or browser).find_element(By.CSS_SELECTOR, selector)

    def until_text(selector, needle):
        """After a click that loads a page: wait for the new page (the old one's elements go stale)."""
        from selenium.common.exceptions import (
            NoSuchElementException,
            StaleElementReferenceException,
        )
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(
            browser, 15, ignored_exceptions=(StaleElementReferenceException, NoSuchElementException)
        ).until(lambda b: needle in b.find_element(By.CSS_SELECTOR, selector).text)

    _log_in(browser, live_server.url)
    set_inner_width(browser, LAYOUT_WIDTH)
    browser.get(live_server.url + f"/admin/prompts_app/exampleset/{big_set.pk}/change/")
    rows = browser.find_elements(By.CSS_SELECTOR, "#example-browser tr.pl-browser-row")
    assert len(rows) == 50  # the first page of 600, not one giant list
    assert not browser.find_elements(By.NAME, "examples_json")
    assert "(600)" in css("#example-browser h2").text

    search = css("#example-search")
    search.send_keys("please")
    css("#example-browser .pl-browser-search input[type=submit]").click()
    until_text("#example-browser h2", "(120)")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#example-browser tr.pl-browser-row")) == 50
    css("#example-browser .pl-pager").find_element(By.LINK_TEXT, "3").click()
    until_text("#example-browser .pl-pager", "101–120 of 120")
    rows = browser.find_elements(By.CSS_SELECTOR, "#example-browser tr.pl-browser-row")
    assert len(rows) == 20  # 101–120
    assert "101–120 of 120" in css("#example-browser .pl-pager").text
    row = rows[4]
    position = int(row.get_attribute("data-position"))
    assert "please" in row.text.lower()
    toggle = css("button.pl-approve-toggle", row)
    assert toggle.text == "approve"
    _screenshot(browser, "30-example-set-search-page-3")
    toggle.click()

    # Post/redirect/get: back on page 3 of the same search, the row now approved.
    until_text("ul.messagelist li.success", "created version 3")
    assert "q=please" in browser.current_url and "page=3" in browser.current_url
    assert "(120)" in css("#example-browser h2").text
    row = css(f'#example-browser tr.pl-browser-row[data-position="{position}"]')
    assert css("button.pl-approve-toggle", row).text == "✓ approved"
    _screenshot(browser, "31-example-set-approved-one-row")
    browser.refresh()  # a reload is a GET: no further version
    assert big_set.versions.count() == 3

    new = big_set.versions.get(number=3)
    assert new.author == "admin" and new.message == f"Approved #{position + 1}"
    before = list(base.examples.order_by("position").values("input", "output", "tags", "approved"))
    after = list(new.examples.order_by("position").values("input", "output", "tags", "approved"))
    changed = [i for i, (old, now) in enumerate(zip(before, after)) if old != now]
    assert len(after) == 600 and changed == [position]
    assert (before[position]["approved"], after[position]["approved"]) == (False, True)
    assert {**before[position], "approved": True} == after[position]
