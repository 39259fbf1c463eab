"""The one number formatter, against cases worked by hand."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from prompts_app.lib.formatting import (
    format_count,
    format_money,
    format_ms,
    format_number,
    format_percent,
    format_signed_money,
    format_tokens,
    to_decimal,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        # Half-up, not half-even: 1.005 → 1.01 and 2.665 → 2.67 (half-even would give 2.66).
        (D("1.005"), "$1.01"),
        (D("2.665"), "$2.67"),
        (D("2.664"), "$2.66"),
        # Thousands separators, always the cents.
        (D(1600), "$1,600.00"),
        (D("1234567.891"), "$1,234,567.89"),
        (D("22.94154"), "$22.94"),
        (3, "$3.00"),
        # Under a dollar: four significant digits, at least the cents, trailing zeros dropped.
        (D("0.5"), "$0.50"),
        (D("0.123456"), "$0.1235"),
        (D("0.0012202667"), "$0.00122"),  # the "$0.0012202667 / call"
        (D("0.0012345"), "$0.001235"),  # half-up on the fourth digit
        (D("0.000463"), "$0.000463"),
        (D("0.004"), "$0.004"),  # a sub-cent amount never reads "$0.00"
        (D("0.99996"), "$1.00"),  # rounds up into the dollars
        # Negative amounts: the sign before the dollar; no "-$0.00".
        ("-12.5", "-$12.50"),
        (D("-0.0000500000"), "-$0.00005"),
        (D("-0.000"), "$0.00"),
        (D("0E-10"), "$0.00"),
        (0, "$0.00"),
        # A float is read through its repr, not its binary value.
        (0.1, "$0.10"),
        (2.675, "$2.68"),
    ],
)
def test_money(value, text):
    assert format_money(value) == text


@pytest.mark.parametrize("value", [None, "", "abc", float("nan"), D("Infinity"), True])
def test_nothing_to_format_gives_none(value):
    assert to_decimal(value) is None
    assert format_money(value) is None
    assert format_signed_money(value) is None
    assert format_tokens(value) is None
    assert format_percent(value) is None
    assert format_number(value) is None


def test_money_with_fixed_places_and_exactly():
    assert format_money(D("2.5"), places=0) == "$3"
    assert format_money(D("-2.5"), places=0) == "-$3"
    assert format_money(D("0.25"), places=2) == "$0.25"
    assert format_money(D("1000"), places=0) == "$1,000"
    assert format_money(D("0.0012202667"), exact=True) == "$0.0012202667"
    assert format_money(D("1600"), exact=True) == "$1,600.00"


@pytest.mark.parametrize(
    ("value", "text"),
    [("0.0000120000", "+$0.000012"), ("-0.0000500000", "-$0.00005"), ("0E-10", "±$0.00"),
     ("1600", "+$1,600.00"), (D("-1.005"), "-$1.01")],
)
def test_signed_money(value, text):
    assert format_signed_money(value) == text


def test_tokens_to_two_places_half_up():
    assert format_tokens("812.5") == "812.50 tokens"
    assert format_tokens(D("1234.565")) == "1,234.57 tokens"
    assert format_tokens("12.5", signed=True) == "+12.50 tokens"
    assert format_tokens("-3.50", signed=True) == "-3.50 tokens"
    assert format_tokens(0, signed=True) == "±0.00 tokens"


def test_percent_at_most_two_places_half_up():
    assert format_percent("0.7500") == "75%"
    assert format_percent("0.6667") == "66.67%"
    assert format_percent("0.123456") == "12.35%"
    assert format_percent("0.875") == "87.5%"
    assert format_percent(1) == "100%"
    assert format_percent(D("-0.125")) == "-12.5%"


def test_numbers_and_counts():
    assert format_number("40419.35483") == "40,419.35"
    assert format_number("12.50") == "12.50"  # its decimals as given
    assert format_number(D("-1234.5")) == "-1,234.5"
    assert format_count(9000) == "9,000"
    assert format_count(D("2.5")) == "3"
    assert format_count(1_250_000, short=True) == "1.25M"
    assert format_count(1_000_000, short=True) == "1M"
    assert format_ms(12345) == "12,345 ms"
