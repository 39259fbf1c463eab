"""Usage ingestion and the ledger: exact costs, no double counting, no lost updates."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from prompts_app.models import ModelPrice, Prompt, UsageEvent, UsageRollup
from prompts_app.services import ledger
from tests.factories import PromptFactory, make_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def reply(acme):
    prompt = PromptFactory(project=acme, name="reply")
    make_version(prompt, "v1 {{ name }}")
    make_version(prompt, "v2 {{ name }}")
    return prompt


# Event times are relative to today: the ledger takes events from its window only
# (the last 400 days, up to 5 minutes ahead).
TODAY = timezone.now().date()
RECENT = dt.datetime.combine(TODAY - dt.timedelta(days=9), dt.time(10), tzinfo=dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def event(n: int, **overrides) -> dict:
    base = {
        "event_id": f"evt-{n}",
        "prompt": "reply",
        "version": 1,
        "model": "gpt-4o-mini",
        "input_tokens": 1000,
        "cached_input_tokens": 0,
        "output_tokens": 200,
        "latency_ms": 500,
        "status": "ok",
        "timestamp": iso(RECENT),
    }
    base.update(overrides)
    return base


def post(client, events):
    return client.post("/api/v1/usage", {"events": events}, format="json")


def test_cost_is_computed_at_ingestion_from_the_price_sheet(ingester, reply):
    # gpt-4o-mini: $0.15 input, $0.075 cached input, $0.60 output per 1M tokens.
    # 1000 input of which 400 cached, 200 output:
    # 600 × 0.15 + 400 × 0.075 + 200 × 0.60 = 90 + 30 + 120 = 240 per 1M = $0.00024
    response = post(ingester.client, [event(1, cached_input_tokens=400)])
    assert response.status_code == 200
    assert response.json() == {
        "accepted": 1,
        "duplicates": 0,
        "conflicts": [],
        "rejected": [],
        "unpriced": 0,
    }
    stored = UsageEvent.objects.get()
    assert stored.cost == Decimal("0.00024")
    assert stored.priced is True


def test_a_retried_batch_is_never_counted_twice(ingester, reply):
    batch = [event(i) for i in range(5)]
    assert post(ingester.client, batch).json()["accepted"] == 5
    again = post(ingester.client, batch + [event(5)]).json()
    assert again == {
        "accepted": 1,
        "duplicates": 5,
        "conflicts": [],
        "rejected": [],
        "unpriced": 0,
    }
    rollup = UsageRollup.objects.get()
    assert rollup.calls == 6
    # 6 × (1000 × 0.15 + 200 × 0.60) / 1M = 6 × 0.00027
    assert rollup.cost_pico == 6 * 270_000_000


def test_a_repeated_id_inside_one_batch_counts_once(ingester, reply):
    result = post(ingester.client, [event(1), event(1)]).json()
    assert (result["accepted"], result["duplicates"]) == (1, 1)


def test_good_events_are_stored_when_others_are_rejected(ingester, reply):
    result = post(
        ingester.client,
        [
            event(1),
            event(2, prompt="nope"),
            event(3, input_tokens=-5),
            event(4, timestamp="yesterday"),
            event(5, version=9),
            event(6, label="canary", version=None),
            "not an object",
            event(8, extra=1),
            event(9, cached_input_tokens=2000),
            event(10, timestamp="2099-01-01T00:00:00Z"),
            event(11, status="maybe"),
            event(12),
        ],
    ).json()
    assert result["accepted"] == 2
    rejected = {r["index"]: (r["field"], r["reason"]) for r in result["rejected"]}
    assert set(rejected) == {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
    assert rejected[1] == ("prompt", "No prompt named 'nope' in this project.")
    assert rejected[2][0] == "input_tokens"
    assert rejected[3][0] == "timestamp"
    assert rejected[4] == ("version", "Prompt 'reply' has no version 9.")
    assert rejected[5] == ("label", "Prompt 'reply' has no label 'canary'.")
    assert rejected[7][0] == "extra"
    assert rejected[8][0] == "cached_input_tokens"
    assert "future" in rejected[9][1]
    assert result["rejected"][0]["event_id"] == "evt-2"
    assert UsageEvent.objects.count() == 2


def test_label_is_resolved_to_the_version_it_points_at(ingester, reply):
    from prompts_app.services import library

    library.label_move(prompt=reply, label="production", version_number=2, actor="t")
    post(ingester.client, [event(1, version=None, label="production")])
    assert UsageEvent.objects.get().version_number == 2


def test_an_unknown_model_is_stored_and_flagged_unpriced(ingester, reply):
    result = post(ingester.client, [event(1, model="my-local-llama")]).json()
    assert result == {
        "accepted": 1,
        "duplicates": 0,
        "conflicts": [],
        "rejected": [],
        "unpriced": 1,
    }
    stored = UsageEvent.objects.get()
    assert stored.priced is False and stored.cost is None
    rollup = UsageRollup.objects.get()
    assert (rollup.calls, rollup.unpriced_calls, rollup.cost_pico) == (1, 1, 0)


def test_the_price_in_force_at_the_events_time_applies(ingester, reply, acme):
    # A price cut from a week ago, midnight: $0.10 input, $0.40 output.
    cut = dt.datetime.combine(TODAY - dt.timedelta(days=7), dt.time(), tzinfo=dt.UTC)
    ModelPrice.objects.create(
        project=acme,
        model="gpt-4o-mini",
        effective_from=cut,
        input_per_1m=Decimal("0.10"),
        cached_input_per_1m=Decimal("0.05"),
        output_per_1m=Decimal("0.40"),
    )
    post(
        ingester.client,
        [
            event(1, timestamp=iso(cut - dt.timedelta(seconds=1))),
            event(2, timestamp=iso(cut)),
        ],
    )
    costs = dict(UsageEvent.objects.values_list("event_id", "cost_pico"))
    # before: 1000 × 0.15 + 200 × 0.60 = 270 per 1M; after: 1000 × 0.10 + 200 × 0.40 = 180 per 1M
    assert costs == {"evt-1": 270_000_000, "evt-2": 180_000_000}


def test_batches_over_1000_events_are_refused_whole(ingester, reply):
    response = post(ingester.client, [event(i) for i in range(1001)])
    assert response.status_code == 400
    assert "1,000" in response.json()["error"]["message"]
    assert UsageEvent.objects.count() == 0


@pytest.mark.parametrize("body", [{"events": "x"}, {"evnts": []}, [1, 2]])
def test_malformed_batches_are_a_400(ingester, reply, body):
    response = ingester.client.post("/api/v1/usage", body, format="json")
    assert response.status_code == 400


def test_ingestion_needs_the_ingest_scope(reader, reply):
    assert post(reader.client, [event(1)]).status_code == 403


def test_an_outsider_cannot_log_usage_against_our_prompt(outsider, reply):
    result = post(outsider.client, [event(1)]).json()
    assert result["accepted"] == 0
    assert result["rejected"][0]["field"] == "prompt"


def test_ledger_by_day_version_and_model(ingester, reader, reply):
    today = timezone.now().date()
    stamp = lambda days_ago, hour=12: (  # noqa: E731
        dt.datetime.combine(
            today - dt.timedelta(days=days_ago), dt.time(hour), tzinfo=dt.UTC
        ).isoformat()
    )
    post(
        ingester.client,
        [
            # today at 00:00 UTC: never in the future, whatever the time of the run
            event(1, timestamp=stamp(0, hour=0)),
            event(2, timestamp=stamp(0, hour=0), version=2),
            event(3, timestamp=stamp(1), model="gpt-4o", input_tokens=2000, output_tokens=100),
            event(4, timestamp=stamp(1), status="error", output_tokens=0),
            event(5, timestamp=stamp(40)),  # outside a 30-day window
        ],
    )
    by_day = reader.client.get("/api/v1/prompts/reply/ledger?days=30&group_by=day").json()
    assert [(r["day"], r["calls"]) for r in by_day["rows"]] == [
        ((today - dt.timedelta(days=1)).isoformat(), 2),
        (today.isoformat(), 2),
    ]
    # gpt-4o-mini ok: $0.00027 each (×2); error call: 1000 × 0.15 / 1M = $0.00015;
    # gpt-4o: 2000 × 2.50 + 100 × 10.00 = 6000 per 1M = $0.006
    assert Decimal(by_day["totals"]["cost"]) == Decimal("0.00027") * 2 + Decimal(
        "0.00015"
    ) + Decimal("0.006")
    assert by_day["totals"]["calls"] == 4
    assert by_day["totals"]["error_calls"] == 1
    assert by_day["currency"] == "USD"
    by_version = reader.client.get("/api/v1/prompts/reply/ledger?group_by=version").json()
    assert [(r["version"], r["calls"]) for r in by_version["rows"]] == [(1, 3), (2, 1)]
    by_model = reader.client.get("/api/v1/prompts/reply/ledger?group_by=model").json()
    assert {r["model"]: r["input_tokens"] for r in by_model["rows"]} == {
        "gpt-4o": 2000,
        "gpt-4o-mini": 3000,
    }
    wide = reader.client.get("/api/v1/prompts/reply/ledger?days=60").json()
    assert wide["totals"]["calls"] == 5
    summary = reader.client.get("/api/v1/ledger?days=30").json()
    assert summary["rows"][0]["prompt"] == "reply" and summary["rows"][0]["calls"] == 4


@pytest.mark.parametrize("query", ["days=0", "days=abc", "days=1000", "group_by=week"])
def test_bad_ledger_queries_are_a_400(reader, reply, query):
    assert reader.client.get(f"/api/v1/prompts/reply/ledger?{query}").status_code == 400


@pytest.mark.django_db(transaction=True)
def test_concurrent_ingestion_loses_no_update_and_counts_each_event_once(acme):
    prompt = PromptFactory(project=acme, name="reply")
    make_version(prompt, "x")
    senders, per_sender = 6, 5
    barrier = threading.Barrier(senders)
    errors: list[BaseException] = []

    def send(sender: int) -> None:
        try:
            barrier.wait()
            for batch in range(per_sender):
                # Every sender also re-sends the batch of the sender before it: duplicates race too.
                own = [event(sender * 1000 + batch * 100 + i) for i in range(50)]
                other = [
                    event(((sender - 1) % senders) * 1000 + batch * 100 + i) for i in range(50)
                ]
                ledger.usage_ingest(project=acme, events=own + other)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(s,)) for s in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    distinct = senders * per_sender * 50
    assert UsageEvent.objects.count() == distinct
    rollup = UsageRollup.objects.get()
    assert rollup.calls == distinct
    assert rollup.input_tokens == distinct * 1000
    assert rollup.cost_pico == distinct * 270_000_000
    assert Prompt.objects.count() == 1


# --- the timestamp window and impossible dates -----------------------------------------


def rejections(result: dict) -> dict[int, tuple[str, str]]:
    return {r["index"]: (r["field"], r["reason"]) for r in result["rejected"]}


@pytest.mark.parametrize(
    "stamp",
    [
        "2025-02-30T10:00:00Z",  # no 30 February
        "2026-11-28T23:59:60Z",  # no leap seconds
        "2026-11-28T24:00:00Z",
        "2026-13-01T00:00:00Z",
    ],
)
def test_an_impossible_date_is_rejected_naming_the_field(ingester, reply, stamp):
    response = post(ingester.client, [event(1, timestamp=stamp), event(2)])
    assert response.status_code == 200
    result = response.json()
    assert result["accepted"] == 1
    field, reason = rejections(result)[0]
    assert field == "timestamp"
    assert stamp in reason and "not a real date-time" in reason
    assert list(UsageEvent.objects.values_list("event_id", flat=True)) == ["evt-2"]


def test_events_outside_the_ledger_window_are_rejected_with_the_reason(ingester, reply):
    now = timezone.now()
    earliest = dt.datetime.combine(TODAY - dt.timedelta(days=399), dt.time(), tzinfo=dt.UTC)
    result = post(
        ingester.client,
        [
            event(0, timestamp="1970-01-01T00:00:00Z"),
            event(1, timestamp="0001-01-01T00:00:00Z"),
            event(2, timestamp="0001-01-01T00:00:00+05:00"),  # before the calendar in UTC
            event(3, timestamp="9999-12-31T23:59:59-05:00"),  # after it
            event(4, timestamp=iso(earliest - dt.timedelta(seconds=1))),
            event(5, timestamp=iso(now + dt.timedelta(minutes=6))),
            event(6, timestamp=iso(earliest)),  # the first second the ledger shows
            event(7, timestamp=iso(now + dt.timedelta(minutes=4))),  # a client clock a bit fast
        ],
    ).json()
    rejected = rejections(result)
    assert set(rejected) == {0, 1, 2, 3, 4, 5}
    assert {field for field, _ in rejected.values()} == {"timestamp"}
    for index in (0, 1, 2, 4):
        reason = rejected[index][1]
        assert "older than the ledger keeps" in reason
        assert f"from {earliest.date().isoformat()} on" in reason and "400 days" in reason
    for index in (3, 5):
        assert "in the future" in rejected[index][1] and "5 minutes" in rejected[index][1]
    assert result["accepted"] == 2
    assert sorted(UsageEvent.objects.values_list("event_id", flat=True)) == ["evt-6", "evt-7"]


def test_the_oldest_accepted_event_shows_in_the_ledgers_longest_view(ingester, reader, reply):
    from prompts_app.services.ledger import MAX_LEDGER_DAYS

    assert MAX_LEDGER_DAYS == 400
    earliest = dt.datetime.combine(
        TODAY - dt.timedelta(days=MAX_LEDGER_DAYS - 1), dt.time(), tzinfo=dt.UTC
    )
    assert post(ingester.client, [event(1, timestamp=iso(earliest))]).json()["accepted"] == 1
    view = reader.client.get(f"/api/v1/prompts/reply/ledger?days={MAX_LEDGER_DAYS}").json()
    assert view["totals"]["calls"] == 1
    too_long = reader.client.get(f"/api/v1/prompts/reply/ledger?days={MAX_LEDGER_DAYS + 1}")
    assert too_long.status_code == 400


def test_the_window_comes_from_settings(ingester, reply, settings):
    settings.USAGE_MAX_AGE_DAYS = 30
    settings.USAGE_MAX_FUTURE_SECONDS = 0
    now = timezone.now()
    result = post(
        ingester.client,
        [
            event(1, timestamp=iso(now - dt.timedelta(days=31))),
            event(2, timestamp=iso(now + dt.timedelta(seconds=30))),
            event(3, timestamp=iso(now - dt.timedelta(days=29))),
        ],
    ).json()
    rejected = rejections(result)
    assert set(rejected) == {0, 1}
    assert "the last 30 days" in rejected[0][1]
    assert "more than 0 minutes" in rejected[1][1]
    # A setting beyond the ledger's longest view is held to it: no event is stored
    # that no view can show.
    settings.USAGE_MAX_AGE_DAYS = 10_000
    old = post(ingester.client, [event(4, timestamp=iso(now - dt.timedelta(days=401)))]).json()
    assert rejections(old)[0][0] == "timestamp"


# --- re-sent event ids: duplicates and conflicts ------------------------------------------


def stored(event_id: str) -> dict:
    return UsageEvent.objects.values(
        "model", "input_tokens", "output_tokens", "occurred_at", "cost_pico", "version_number"
    ).get(event_id=event_id)


def test_an_id_resent_with_different_data_is_a_conflict_and_the_first_stands(ingester, reply):
    post(ingester.client, [event(1), event(2)])
    first, rollup_before = stored("evt-1"), UsageRollup.objects.values().get()
    response = post(
        ingester.client,
        [
            event(2),  # the same again: a plain duplicate
            event(1, input_tokens=5000, model="gpt-4o"),
            event(3),
        ],
    )
    assert response.status_code == 200
    result = response.json()
    assert (result["accepted"], result["duplicates"]) == (1, 1)
    assert result["rejected"] == []
    [conflict] = result["conflicts"]
    assert (conflict["index"], conflict["event_id"]) == (1, "evt-1")
    assert conflict["fields"] == ["model", "input_tokens"]
    assert "already stored with different model, input_tokens" in conflict["reason"]
    assert stored("evt-1") == first
    rollup = UsageRollup.objects.values().get()
    assert rollup["calls"] == rollup_before["calls"] + 1  # evt-3 only
    assert rollup["input_tokens"] == rollup_before["input_tokens"] + 1000


def test_a_changed_timestamp_or_version_is_a_conflict(ingester, reply):
    post(ingester.client, [event(1), event(2)])
    result = post(
        ingester.client,
        [event(1, timestamp=iso(RECENT + dt.timedelta(seconds=1))), event(2, version=2)],
    ).json()
    assert [(c["index"], c["fields"]) for c in result["conflicts"]] == [
        (0, ["timestamp"]),
        (1, ["version"]),
    ]
    assert result["duplicates"] == 0


def test_a_resend_the_server_filled_in_differently_is_still_a_duplicate(ingester, reply):
    from prompts_app.services import library

    # No timestamp (the server's clock fills it in) and a label that moves in between:
    # the client sent the same bytes twice, so the second is a duplicate.
    library.label_move(prompt=reply, label="production", version_number=1, actor="t")
    same = event(1, timestamp=None, version=None, label="production")
    same.pop("timestamp")
    assert post(ingester.client, [same]).json()["accepted"] == 1
    library.label_move(prompt=reply, label="production", version_number=2, actor="t")
    again = post(ingester.client, [same]).json()
    assert (again["accepted"], again["duplicates"], again["conflicts"]) == (0, 1, [])
    assert UsageEvent.objects.get().version_number == 1


def test_a_conflict_inside_one_batch_keeps_the_first(ingester, reply):
    result = post(
        ingester.client, [event(1), event(1), event(1, output_tokens=999), event(2)]
    ).json()
    assert (result["accepted"], result["duplicates"]) == (2, 1)
    [conflict] = result["conflicts"]
    assert (conflict["index"], conflict["event_id"], conflict["fields"]) == (
        2,
        "evt-1",
        ["output_tokens"],
    )
    assert "earlier in this batch" in conflict["reason"]
    assert stored("evt-1")["output_tokens"] == 200


# --- text no field can hold -------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("model", "gpt\u0000"),
        ("event_id", "e\u0000-1"),
        ("prompt", "reply\u0000"),
        ("label", "prod\ud800"),
    ],
)
def test_nul_and_lone_surrogates_in_an_event_are_a_400_naming_the_field(
    ingester, reply, key, value
):
    import json

    body = json.dumps({"events": [event(1), event(2, **{key: value})]})
    response = ingester.client.generic(
        "POST", "/api/v1/usage", body, content_type="application/json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == f"events[1].{key}"
    assert error["code"] == ("nul_character" if "\u0000" in value else "invalid_unicode")
    assert UsageEvent.objects.count() == 0


def test_a_batch_over_the_body_limit_is_a_413_naming_the_limit(ingester, reply, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100_000
    response = post(ingester.client, [event(i, model="m" * 150) for i in range(1000)])
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "request_too_large"
    assert "100,000 bytes" in error["message"] and "split" in error["message"]
    assert UsageEvent.objects.count() == 0
