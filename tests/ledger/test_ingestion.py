"""Usage ingestion and the ledger: exact costs, no double counting, no lost updates."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from prompts_app import ledger
from prompts_app.models import ModelPrice, Prompt, UsageEvent, UsageRollup
from tests.factories import PromptFactory, make_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def reply(acme):
    prompt = PromptFactory(project=acme, name="reply")
    make_version(prompt, "v1 {{ name }}")
    make_version(prompt, "v2 {{ name }}")
    return prompt


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
        "timestamp": "2026-11-20T10:00:00Z",
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
    assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": [], "unpriced": 0}
    stored = UsageEvent.objects.get()
    assert stored.cost == Decimal("0.00024")
    assert stored.priced is True


def test_a_retried_batch_is_never_counted_twice(ingester, reply):
    batch = [event(i) for i in range(5)]
    assert post(ingester.client, batch).json()["accepted"] == 5
    again = post(ingester.client, batch + [event(5)]).json()
    assert again == {"accepted": 1, "duplicates": 5, "rejected": [], "unpriced": 0}
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
    from prompts_app import services

    services.label_move(prompt=reply, label="production", version_number=2, actor="t")
    post(ingester.client, [event(1, version=None, label="production")])
    assert UsageEvent.objects.get().version_number == 2


def test_an_unknown_model_is_stored_and_flagged_unpriced(ingester, reply):
    result = post(ingester.client, [event(1, model="my-local-llama")]).json()
    assert result == {"accepted": 1, "duplicates": 0, "rejected": [], "unpriced": 1}
    stored = UsageEvent.objects.get()
    assert stored.priced is False and stored.cost is None
    rollup = UsageRollup.objects.get()
    assert (rollup.calls, rollup.unpriced_calls, rollup.cost_pico) == (1, 1, 0)


def test_the_price_in_force_at_the_events_time_applies(ingester, reply, acme):
    # A price cut from 2026-11-15: $0.10 input, $0.40 output.
    ModelPrice.objects.create(
        project=acme,
        model="gpt-4o-mini",
        effective_from=dt.datetime(2026, 11, 15, tzinfo=dt.UTC),
        input_per_1m=Decimal("0.10"),
        cached_input_per_1m=Decimal("0.05"),
        output_per_1m=Decimal("0.40"),
    )
    post(
        ingester.client,
        [event(1, timestamp="2026-11-14T23:59:59Z"), event(2, timestamp="2026-11-15T00:00:00Z")],
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
            event(1, timestamp=stamp(0)),
            event(2, timestamp=stamp(0), version=2),
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
