"""Ingesting the three input tiers (uncached, cache reads, cache writes) and the
reasoning tokens: exact costs with the price in force, refusals that name the
field, conflicts on resends, rollups, and old clients that send neither count."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from prompts_app.models import ModelPrice, UsageEvent, UsageRollup
from tests.ledger.conftest import MODEL, RECENT, event, iso, post

pytestmark = pytest.mark.django_db

# Hand-worked, per 1M tokens at $3 input, $0.30 read, $3.75 write, $15 output:
#   uncached 20,000 − 18,000 − 1,024 = 976 × 3 = 2,928
#   reads 18,000 × 0.30 = 5,400; writes 1,024 × 3.75 = 3,840; output 300 × 15 = 4,500
#   = 16,668 per 1M = $0.016668 = 16,668,000,000 picodollars (reasoning is in the output).
THREE_TIER_PICO = 16_668_000_000


def test_a_three_tier_event_costs_each_tier_at_its_own_price(ingester, reply, tiered_price):
    response = post(ingester.client, [event(1)])

    assert response.status_code == 200
    assert response.json() == {
        "accepted": 1,
        "duplicates": 0,
        "conflicts": [],
        "rejected": [],
        "unpriced": 0,
    }
    stored = UsageEvent.objects.get()
    assert (
        stored.input_tokens,
        stored.cached_input_tokens,
        stored.cache_write_input_tokens,
        stored.output_tokens,
        stored.reasoning_tokens,
    ) == (20_000, 18_000, 1_024, 300, 100)
    assert stored.cost_pico == THREE_TIER_PICO
    assert stored.cost == Decimal("0.016668")


def test_writes_cost_plain_input_when_the_price_row_has_no_write_price(
    ingester, reply, tiered_price
):
    tiered_price.cache_write_per_1m = None
    tiered_price.save()
    post(ingester.client, [event(1)])
    # (976 + 1,024) × 3 + 18,000 × 0.30 + 300 × 15 = 6,000 + 5,400 + 4,500 = 15,900 per 1M
    assert UsageEvent.objects.get().cost_pico == 15_900_000_000


def test_each_event_is_priced_with_the_tiers_in_force_at_its_time(
    ingester, reply, tiered_price, acme
):
    # A price cut at 10:00 on the events' day: $2 input, $0.20 read, $2.50 write, $10 output.
    cut = RECENT
    ModelPrice.objects.create(
        project=acme,
        model=MODEL,
        effective_from=cut,
        input_per_1m=Decimal("2"),
        cached_input_per_1m=Decimal("0.20"),
        cache_write_per_1m=Decimal("2.50"),
        output_per_1m=Decimal("10"),
    )
    post(
        ingester.client,
        [
            event(1, timestamp=iso(cut - dt.timedelta(seconds=1))),
            event(2, timestamp=iso(cut)),
            event(3, timestamp=iso(cut + dt.timedelta(hours=5))),
        ],
    )
    costs = dict(UsageEvent.objects.values_list("event_id", "cost_pico"))
    # after: 976 × 2 + 18,000 × 0.20 + 1,024 × 2.50 + 300 × 10
    #      = 1,952 + 3,600 + 2,560 + 3,000 = 11,112 per 1M
    assert costs == {
        "evt-1": THREE_TIER_PICO,
        "evt-2": 11_112_000_000,
        "evt-3": 11_112_000_000,
    }
    rollup = UsageRollup.objects.get()  # one day, one version, one model
    assert rollup.cost_pico == THREE_TIER_PICO + 2 * 11_112_000_000


def test_rollups_add_up_cache_writes_and_reasoning(ingester, reply, tiered_price):
    post(ingester.client, [event(1), event(2, cache_write_input_tokens=0, reasoning_tokens=7)])
    post(ingester.client, [event(3, version=2)])
    rollups = {
        r["version_number"]: r
        for r in UsageRollup.objects.values(
            "version_number",
            "calls",
            "input_tokens",
            "cached_input_tokens",
            "cache_write_input_tokens",
            "output_tokens",
            "reasoning_tokens",
            "cost_pico",
        )
    }
    assert rollups[1] == {
        "version_number": 1,
        "calls": 2,
        "input_tokens": 40_000,
        "cached_input_tokens": 36_000,
        "cache_write_input_tokens": 1_024,
        "output_tokens": 600,
        "reasoning_tokens": 107,
        # the second event's 1,024 tokens are uncached: 2,000 × 3 + 5,400 + 4,500 = 15,900
        "cost_pico": THREE_TIER_PICO + 15_900_000_000,
    }
    assert (rollups[2]["calls"], rollups[2]["cache_write_input_tokens"]) == (1, 1_024)


def test_an_old_client_that_sends_neither_count_still_works(ingester, reply, tiered_price):
    old = event(1, cache_write_input_tokens=None, reasoning_tokens=None)
    assert "cache_write_input_tokens" not in old and "reasoning_tokens" not in old
    assert post(ingester.client, [old]).json()["accepted"] == 1
    stored = UsageEvent.objects.get()
    assert (stored.cache_write_input_tokens, stored.reasoning_tokens) == (0, 0)
    # 2,000 uncached × 3 + 5,400 + 4,500
    assert stored.cost_pico == 15_900_000_000
    # The same event resent by a newer client saying 0 explicitly is the same event.
    again = post(ingester.client, [event(1, cache_write_input_tokens=0, reasoning_tokens=0)]).json()
    assert (again["accepted"], again["duplicates"], again["conflicts"]) == (0, 1, [])


def _rejected(result: dict) -> dict[int, tuple[str, str]]:
    return {r["index"]: (r["field"], r["reason"]) for r in result["rejected"]}


def test_impossible_tiers_are_rejected_naming_the_field(ingester, reply, tiered_price):
    result = post(
        ingester.client,
        [
            event(1),
            event(2, cache_write_input_tokens=2_001),  # 18,000 + 2,001 > 20,000
            event(3, cached_input_tokens=0, cache_write_input_tokens=20_001),
            event(4, reasoning_tokens=301),
            event(5, cache_write_input_tokens=-1),
            event(6, cache_write_input_tokens="1024"),
            event(7, reasoning_tokens=True),
            event(8, reasoning_tokens=1.5),
            event(9, cache_write_input_tokens=2_000),  # exactly input: fine
        ],
    ).json()
    rejected = _rejected(result)
    assert set(rejected) == {1, 2, 3, 4, 5, 6, 7}
    assert rejected[1] == (
        "cache_write_input_tokens",
        "'cache_write_input_tokens' (2,001) plus 'cached_input_tokens' (18,000) cannot exceed "
        "'input_tokens' (20,000): input counts every input token, cache reads and cache "
        "writes included.",
    )
    assert rejected[2][0] == "cache_write_input_tokens"
    assert rejected[3] == (
        "reasoning_tokens",
        "'reasoning_tokens' (301) cannot exceed 'output_tokens' (300): output counts every "
        "output token, reasoning included.",
    )
    assert [rejected[i][0] for i in (4, 5)] == ["cache_write_input_tokens"] * 2
    assert [rejected[i][0] for i in (6, 7)] == ["reasoning_tokens"] * 2
    assert "whole number" in rejected[4][1]
    assert result["accepted"] == 2
    assert sorted(UsageEvent.objects.values_list("event_id", flat=True)) == ["evt-1", "evt-9"]


def test_a_resend_with_other_writes_or_reasoning_is_a_conflict(ingester, reply, tiered_price):
    post(ingester.client, [event(1), event(2), event(3, cache_write_input_tokens=None)])
    rollup_before = UsageRollup.objects.values().get()
    result = post(
        ingester.client,
        [
            event(1, cache_write_input_tokens=512),
            event(2, reasoning_tokens=99),
            event(3, cache_write_input_tokens=1_024),  # stored without writes
            event(4),
            event(4, cache_write_input_tokens=0, reasoning_tokens=0),  # earlier in this batch
        ],
    ).json()
    assert (result["accepted"], result["duplicates"]) == (1, 0)
    assert [(c["index"], c["fields"]) for c in result["conflicts"]] == [
        (0, ["cache_write_input_tokens"]),
        (1, ["reasoning_tokens"]),
        (2, ["cache_write_input_tokens"]),
        (4, ["cache_write_input_tokens", "reasoning_tokens"]),
    ]
    assert (
        "already stored with different cache_write_input_tokens" in result["conflicts"][0]["reason"]
    )
    assert "earlier in this batch" in result["conflicts"][3]["reason"]
    stored = dict(UsageEvent.objects.values_list("event_id", "cache_write_input_tokens"))
    assert stored == {"evt-1": 1_024, "evt-2": 1_024, "evt-3": 0, "evt-4": 1_024}
    rollup = UsageRollup.objects.values().get()
    assert rollup["calls"] == rollup_before["calls"] + 1  # evt-4 only
    assert rollup["cache_write_input_tokens"] == rollup_before["cache_write_input_tokens"] + 1_024


def test_null_counts_mean_none_like_absent_ones(ingester, reply, tiered_price):
    nulls = event(1)
    nulls.update(cached_input_tokens=None, cache_write_input_tokens=None, reasoning_tokens=None)
    response = post(ingester.client, [nulls])
    assert response.status_code == 200 and response.json()["accepted"] == 1
    stored = UsageEvent.objects.get()
    assert (
        stored.cached_input_tokens,
        stored.cache_write_input_tokens,
        stored.reasoning_tokens,
    ) == (0, 0, 0)
    assert stored.cost_pico == 20_000 * 3_000_000 + 300 * 15_000_000  # all uncached
    absent = event(
        1, cached_input_tokens=None, cache_write_input_tokens=None, reasoning_tokens=None
    )
    assert post(ingester.client, [absent]).json()["duplicates"] == 1
