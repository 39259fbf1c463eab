"""Jinja's own test suite, for the installed Jinja2 version, against the product's
template environment (issue 11, item 8). See runner.py and jinja_plugin.py for how, and
jinja_expected_differences.toml for the deliberate differences and their reasons.

Needs the Jinja2 sdist from PyPI once (kept in .cache/jinja-sdist/, outside git)."""

from __future__ import annotations

import pytest

from tests.compat import runner

pytestmark = pytest.mark.slow

REPORTS: list[str] = []  # printed in the terminal summary by tests/compat/conftest.py


def test_jinja_suite_runs_against_the_product_environment():
    unavailable = None
    try:
        report = runner.check()
    except runner.SdistUnavailable as exc:
        unavailable = str(exc)
    if unavailable:  # outside the except block: just the message, no chained traceback
        pytest.fail(unavailable, pytrace=False)
    text = report.text()
    REPORTS.append(text)
    if not report.ok:
        pytest.fail(text, pytrace=False)
    # the swap really happened: a stock-only run would show no difference at all
    assert report.expected, text
