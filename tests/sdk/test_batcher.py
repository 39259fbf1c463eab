"""The usage batcher on its own (no server): retries, requeueing and bounds."""

from __future__ import annotations

import threading
import time

from promptledger.usage import SendResult, UsageBatcher, make_event, openai_usage


def events(n: int) -> list[dict]:
    return [
        make_event("p", version=1, model="m", input_tokens=1, output_tokens=1) for _ in range(n)
    ]


def test_a_batch_that_exhausts_its_retries_is_requeued_and_does_not_spin():
    calls: list[list[str]] = []
    up = threading.Event()

    def send(batch):
        calls.append([e["event_id"] for e in batch])
        if up.is_set():
            return SendResult(
                ok=True, body={"accepted": len(batch), "duplicates": 0, "rejected": []}
            )
        return SendResult(ok=False, retry=True, status_code=503, message="down")

    batcher = UsageBatcher(send, batch_size=5, flush_interval=0.1, max_retries=0, backoff_base=0.01)
    for event in events(5):  # a full batch: sent at once, fails, requeued
        batcher.add(event)
    time.sleep(0.5)
    assert 1 <= len(calls) <= 10  # one attempt per pause, not a busy loop
    assert batcher.stats()["failed_batches"] == len(calls)
    assert batcher.stats()["queued"] == 5
    up.set()
    assert batcher.flush(timeout=5)
    assert len({tuple(ids) for ids in calls}) == 1  # always the same ids
    assert batcher.stats()["sent"] == 5
    batcher.close()


def test_a_final_refusal_is_not_retried():
    calls = []

    def send(batch):
        calls.append(batch)
        return SendResult(ok=False, retry=False, status_code=400, message="bad")

    batcher = UsageBatcher(send, batch_size=10, flush_interval=60)
    for event in events(3):
        batcher.add(event)
    assert batcher.flush(timeout=5)
    assert len(calls) == 1
    assert batcher.stats()["rejected"] == 3
    batcher.close()


def test_an_event_added_after_close_is_dropped_and_counted():
    batcher = UsageBatcher(lambda batch: SendResult(ok=True), batch_size=10, flush_interval=60)
    batcher.close()
    assert batcher.add(events(1)[0]) is False
    assert batcher.stats()["dropped"] == 1


def test_openai_responses_api_shape_is_read_too():
    numbers = openai_usage(
        {
            "model": "gpt-4.1",
            "usage": {
                "input_tokens": 900,
                "output_tokens": 40,
                "input_tokens_details": {"cached_tokens": 256},
            },
        }
    )
    assert numbers == {
        "model": "gpt-4.1",
        "input_tokens": 900,
        "cached_input_tokens": 256,
        "cache_write_input_tokens": 0,
        "output_tokens": 40,
        "reasoning_tokens": 0,
    }
