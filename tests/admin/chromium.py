"""Shared by the browser tests: where Debian's chromium lives, and full-page
screenshots into test-artifacts/screenshots/ for a person to look at. The
`browser` fixture itself is in conftest.py."""

from __future__ import annotations

from pathlib import Path

from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
WIDTH = 1400


def screenshot(driver, name: str) -> None:
    """A full-page screenshot: the window is stretched to the page's height first
    (plus the browser's own frame, which the window size includes)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.execute_script("window.scrollTo(0, 0)")
    page, inner, outer = driver.execute_script(
        "return [document.documentElement.scrollHeight, window.innerHeight, window.outerHeight]"
    )
    height = min(max(page, 800), 6000)
    driver.set_window_size(WIDTH, height + (outer - inner))
    WebDriverWait(driver, 5).until(lambda d: d.execute_script("return window.innerHeight") >= height)
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    driver.set_window_size(WIDTH, 1000)


def element_screenshot(driver, element, name: str) -> None:
    """One element, whole: the window is stretched first so none of it is cut off."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page, inner, outer = driver.execute_script(
        "return [document.documentElement.scrollHeight, window.innerHeight, window.outerHeight]"
    )
    driver.set_window_size(WIDTH, min(max(page, 800), 6000) + (outer - inner))
    driver.execute_script("arguments[0].scrollIntoView()", element)
    element.screenshot(str(SCREENSHOTS / f"{name}.png"))
    driver.set_window_size(WIDTH, 1000)
