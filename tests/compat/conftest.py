"""Prints the Jinja compatibility totals after the run (pass or fail)."""

from __future__ import annotations


def pytest_terminal_summary(terminalreporter):
    from tests.compat.test_jinja_suite import REPORTS

    for text in REPORTS:
        terminalreporter.section("Jinja compatibility")
        terminalreporter.write_line(text)
