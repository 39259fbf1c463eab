"""The cache hit ratio in the ledger: per version, day and model in the API, the
selector the advisor's alert reuses, and the admin's ledger table, which marks a
version whose hit ratio fell against the previous version with traffic (its change
probably broke the cached prefix)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from prompts_app.models import AdvisorSettings
from prompts_app.selectors.ledger import cache_hit_ratio_by_version
from tests.factories import PromptFactory, make_version
from tests.ledger.conftest import RECENT, TODAY, event, iso, post

pytestmark = pytest.mark.django_db

# Per version: input tokens, cache reads, cache writes (one call each at RECENT).
TRAFFIC = {
    1: (10_000, 9_000, 500),  # 90%
    2: (10_000, 8_500, 1_000),  # 85%: 5 points lower, no mark
    3: (10_000, 6_000, 3_000),  # 60%: 25 points lower than v2: marked
    4: (0, 0, 0),  # calls but no input: no ratio, and not what v5 is compared with
    5: (10_000, 4_000, 0),  # 40%: exactly 20 points lower than v3: marked
}


@pytest.fixture
def traffic(ingester, reply, tiered_price):
    events = [
        event(
            n,
            version=n,
            input_tokens=inp,
            cached_input_tokens=read,
            cache_write_input_tokens=written,
            output_tokens=50,
            reasoning_tokens=10,
        )
        for n, (inp, read, written) in TRAFFIC.items()
    ]
    assert post(ingester.client, events).json()["accepted"] == 5


# --- the selector ------------------------------------------------------------------------------


def test_the_selector_gives_each_versions_ratio_and_its_drop(traffic, reply):
    rows = cache_hit_ratio_by_version(prompt=reply, since=RECENT.date(), until=TODAY)

    assert [
        (r["version_number"], r["calls"], r["input_tokens"], r["cached"], r["written"], r["ratio"])
        for r in rows
    ] == [
        (1, 1, 10_000, 9_000, 500, Decimal("0.9")),
        (2, 1, 10_000, 8_500, 1_000, Decimal("0.85")),
        (3, 1, 10_000, 6_000, 3_000, Decimal("0.6")),
        (4, 1, 0, 0, 0, None),
        (5, 1, 10_000, 4_000, 0, Decimal("0.4")),
    ]
    assert [(r["previous_version"], r["drop"]) for r in rows] == [
        (None, None),
        (1, Decimal("0.05")),
        (2, Decimal("0.25")),
        (3, None),
        (3, Decimal("0.2")),  # v4 had no input: v5 is compared with v3
    ]


def test_the_selector_reads_only_its_window_and_its_prompt(ingester, traffic, reply, acme):
    other = PromptFactory(project=acme, name="other")
    make_version(other, "other {{ x }}")
    day_before = RECENT - dt.timedelta(days=1)
    post(
        ingester.client,
        [
            event(
                10,
                version=1,
                cached_input_tokens=0,
                cache_write_input_tokens=0,
                timestamp=iso(day_before),
            ),
            event(11, prompt="other", version=1),
        ],
    )

    inside = cache_hit_ratio_by_version(prompt=reply, since=RECENT.date(), until=TODAY)
    assert inside[0]["ratio"] == Decimal("0.9")
    wider = cache_hit_ratio_by_version(prompt=reply, since=day_before.date(), until=TODAY)
    assert (wider[0]["calls"], wider[0]["input_tokens"], wider[0]["cached"]) == (
        2,
        30_000,
        9_000,
    )
    assert wider[0]["ratio"] == Decimal("0.3")
    # A datetime stands for its day.
    assert cache_hit_ratio_by_version(prompt=reply, since=RECENT, until=RECENT)[0]["calls"] == 1
    assert cache_hit_ratio_by_version(prompt=reply, since=TODAY, until=TODAY) == []


# --- the API -----------------------------------------------------------------------------------


def test_the_ledger_api_gives_tiers_and_ratios_per_version(reader, traffic):
    ledger = reader.client.get("/api/v1/prompts/reply/ledger?group_by=version").json()

    assert [
        (
            r["version"],
            r["input_tokens"],
            r["cached_input_tokens"],
            r["cache_write_input_tokens"],
            r["reasoning_tokens"],
            r["cache_hit_ratio"],
            r["cache_write_ratio"],
        )
        for r in ledger["rows"]
    ] == [
        (1, 10_000, 9_000, 500, 10, "0.9000", "0.0500"),
        (2, 10_000, 8_500, 1_000, 10, "0.8500", "0.1000"),
        (3, 10_000, 6_000, 3_000, 10, "0.6000", "0.3000"),
        (4, 0, 0, 0, 10, None, None),
        (5, 10_000, 4_000, 0, 10, "0.4000", "0.0000"),
    ]
    totals = ledger["totals"]
    # 27,500 / 40,000 read, 4,500 / 40,000 written
    assert (totals["cache_hit_ratio"], totals["cache_write_ratio"]) == ("0.6875", "0.1125")
    assert (totals["cache_write_input_tokens"], totals["reasoning_tokens"]) == (4_500, 50)


def test_day_model_and_project_rows_carry_the_ratios_too(reader, traffic):
    by_day = reader.client.get("/api/v1/prompts/reply/ledger?group_by=day").json()
    by_model = reader.client.get("/api/v1/prompts/reply/ledger?group_by=model").json()
    project = reader.client.get("/api/v1/ledger").json()

    for row in (by_day["rows"][0], by_model["rows"][0], project["rows"][0], project["totals"]):
        assert (row["cache_write_input_tokens"], row["reasoning_tokens"]) == (4_500, 50)
        assert (row["cache_hit_ratio"], row["cache_write_ratio"]) == ("0.6875", "0.1125")
    assert by_day["rows"][0]["day"] == RECENT.date().isoformat()


def test_ratios_are_rounded_half_up_to_four_decimals_and_null_without_input(
    ingester, reader, reply, tiered_price
):
    post(
        ingester.client,
        [
            event(
                1,
                input_tokens=3,
                cached_input_tokens=2,
                cache_write_input_tokens=1,
                output_tokens=1,
                reasoning_tokens=0,
            ),
        ],
    )
    row = reader.client.get("/api/v1/prompts/reply/ledger?group_by=version").json()["rows"][0]
    assert (row["cache_hit_ratio"], row["cache_write_ratio"]) == ("0.6667", "0.3333")
    empty = reader.client.get("/api/v1/ledger?days=1").json()["totals"]
    assert (empty["input_tokens"], empty["cache_hit_ratio"], empty["cache_write_ratio"]) == (
        0,
        None,
        None,
    )


# --- the admin's ledger table ---------------------------------------------------------------------


@pytest.fixture
def admin_page(admin_client, settings, reply):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    url = reverse("admin:prompts_app_prompt_advice", args=[reply.pk])

    def get() -> str:
        response = admin_client.get(url)
        assert response.status_code == 200
        page = response.content.decode()
        start = page.index('id="ledger"')
        return page[start : page.index('id="what-if"')]

    return get


def _rows(section: str) -> dict[str, str]:
    """Each version's table row (from its first cell) in the ledger section."""
    body = section[section.index("<tbody>") : section.index("</tbody>")]
    return {
        row.split("</td>")[0].removeprefix("<td>").split(" ")[0]: row
        for row in (part.split("</tr>")[0] for part in body.split("<tr>")[1:])
    }


def test_the_ledger_table_shows_the_hit_ratio_and_marks_a_broken_prefix(admin_page, traffic):
    section = admin_page()

    assert "Cache hit ratio" in section and "of which cache writes" in section
    rows = _rows(section)
    assert list(rows) == ["v1", "v2", "v3", "v4", "v5"]
    for version, shown in {"v1": "90%", "v2": "85%", "v3": "60%", "v4": "—", "v5": "40%"}.items():
        assert f'<td class="pl-num">{shown}</td>' in rows[version], version
    assert "pl-cache-drop" not in rows["v1"] + rows["v2"] + rows["v4"]
    assert "cache hits −25 pts vs v2</span>" in rows["v3"]
    assert "cache hits −20 pts vs v3</span>" in rows["v5"]  # 20 points is enough
    assert "break the cached prefix" in rows["v3"]
    assert '<td class="pl-num">68.75%</td>' in section  # the total


def test_the_mark_uses_the_projects_cache_drop_threshold(admin_page, traffic, acme):
    AdvisorSettings.objects.create(project=acme, cache_drop_alert_points=Decimal("0.21"))

    rows = _rows(admin_page())
    assert "pl-cache-drop" in rows["v3"]  # 25 points
    assert "pl-cache-drop" not in rows["v5"]  # 20 points < 21
