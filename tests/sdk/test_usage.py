"""Usage reporting: batching by size and by interval, retries that never double
count, flush at close, the bounded buffer, rejections, and many threads at once."""

from __future__ import annotations

import json
import logging
import threading
import time
from types import SimpleNamespace

import pytest

from prompts_app.services import library
from tests.sdk.conftest import ledger_totals, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def event_ids(seen) -> list[str]:
    return [e["event_id"] for e in json.loads(seen.body)["events"]]


def test_a_full_batch_is_sent_without_waiting_for_the_interval(
    make_client, reply, transport, server_url, sdk_key
):
    client = make_client(batch_size=5, flush_interval=60)
    prompt = client.get_prompt("reply", label="production")
    started = time.monotonic()
    for i in range(5):
        event_id = client.log_usage(
            prompt, model="gpt-4o-mini", input_tokens=100 + i, output_tokens=10
        )
        assert len(event_id) == 32
    wait_for(lambda: client.stats()["sent"] == 5)
    assert time.monotonic() - started < 60  # sent by size, not by the 60 s interval
    posts = transport.usage_posts()
    assert len(posts) == 1 and len(event_ids(posts[0])) == 5
    sent = json.loads(posts[0].body)["events"][0]
    assert sent["prompt"] == "reply" and sent["version"] == 1 and sent["label"] == "production"
    assert sent["timestamp"].endswith("Z")

    # fewer than a batch stays queued until the interval, or a flush
    for _ in range(3):
        client.log_usage(prompt, model="gpt-4o-mini", input_tokens=1, output_tokens=1)
    time.sleep(0.2)
    assert len(transport.usage_posts()) == 1
    assert client.stats()["queued"] == 3
    assert client.flush(timeout=10) is True
    assert client.stats()["queued"] == 0
    totals = ledger_totals(server_url, sdk_key, "reply")
    assert totals["calls"] == 8
    assert totals["input_tokens"] == sum(100 + i for i in range(5)) + 3
    assert totals["output_tokens"] == 53


def test_queued_events_are_sent_after_the_flush_interval(
    make_client, reply, transport, server_url, sdk_key
):
    client = make_client(batch_size=100, flush_interval=0.2)
    prompt = client.get_prompt("reply", label="production")
    for _ in range(3):
        client.log_usage(prompt, model="gpt-4o-mini", input_tokens=10, output_tokens=2)
    wait_for(lambda: client.stats()["sent"] == 3)
    assert len(transport.usage_posts()) == 1
    assert ledger_totals(server_url, sdk_key, "reply")["calls"] == 3


def test_a_retry_after_a_lost_answer_resends_the_same_ids_and_counts_once(
    make_client, reply, transport, server_url, sdk_key
):
    client = make_client(batch_size=100, flush_interval=60, backoff_base=0.01)
    prompt = client.get_prompt("reply", label="production")
    transport.fail_next_usage_posts(1)  # the server stores the batch, the client sees a 503
    for i in range(4):
        client.log_usage(
            prompt,
            model="gpt-4o-mini",
            input_tokens=1000,
            cached_input_tokens=400,
            output_tokens=200 + i,
            latency_ms=512.4,
        )
    assert client.flush(timeout=10) is True
    posts = transport.usage_posts()
    assert [p.status for p in posts] == [503, 200]
    assert event_ids(posts[0]) == event_ids(posts[1])
    stats = client.stats()
    assert stats["retries"] == 1
    assert (stats["sent"], stats["accepted"], stats["duplicates"]) == (4, 0, 4)
    totals = ledger_totals(server_url, sdk_key, "reply")
    assert totals["calls"] == 4
    assert totals["input_tokens"] == 4000
    assert totals["cached_input_tokens"] == 1600
    assert totals["output_tokens"] == 200 + 201 + 202 + 203


def test_connection_errors_are_retried_until_the_server_is_back(
    make_client, reply, transport, server_url, sdk_key
):
    client = make_client(batch_size=100, flush_interval=0.05, backoff_base=0.02, max_retries=2)
    prompt = client.get_prompt("reply", label="production")
    transport.set_down(True)
    for _ in range(6):
        client.log_usage(prompt, model="gpt-4o-mini", input_tokens=10, output_tokens=1)
    wait_for(lambda: client.stats()["failed_batches"] >= 1)  # gave up once, requeued
    assert client.stats()["queued"] == 6
    transport.set_down(False)
    assert client.flush(timeout=10)
    attempts = transport.usage_posts()
    assert len(attempts) >= 3 and attempts[-1].status == 200
    assert len({tuple(event_ids(p)) for p in attempts}) == 1  # every attempt: the same six ids
    assert ledger_totals(server_url, sdk_key, "reply")["calls"] == 6


def test_close_flushes_what_is_queued(make_client, reply, server_url, sdk_key):
    client = make_client(batch_size=100, flush_interval=60)
    prompt = client.get_prompt("reply", label="production")
    for _ in range(7):
        client.log_usage(prompt, model="gpt-4o-mini", input_tokens=3, output_tokens=1)
    assert client.close(timeout=10) is True
    assert client.stats()["sent"] == 7
    assert ledger_totals(server_url, sdk_key, "reply")["calls"] == 7


def test_the_buffer_is_bounded_and_overflow_is_counted_and_logged(
    make_client, reply, transport, caplog
):
    client = make_client(batch_size=100, flush_interval=60, max_queue=10)
    prompt = client.get_prompt("reply", label="production")
    transport.set_down(True)
    with caplog.at_level(logging.WARNING, logger="promptledger"):
        for _ in range(15):
            client.log_usage(prompt, model="gpt-4o-mini", input_tokens=1, output_tokens=1)
    stats = client.stats()
    assert stats["queued"] == 10
    assert stats["dropped"] == 5
    assert any("usage buffer full" in r.getMessage() for r in caplog.records)
    # closing with the server still down: what is left is counted as dropped too
    assert client.close(timeout=0.2) is False
    wait_for(lambda: client.stats()["dropped"] == 15)
    assert client.stats()["queued"] == 0


def test_events_the_server_refuses_are_counted_as_rejected_not_retried(
    make_client, acme, reply, transport, caplog
):
    client = make_client(batch_size=100, flush_interval=60, backoff_base=0.01)
    prompt = client.get_prompt("reply", label="production")
    client.log_usage(prompt, model="gpt-4o-mini", input_tokens=1, output_tokens=1)
    client.log_usage("ghost", version=1, model="gpt-4o-mini", input_tokens=1, output_tokens=1)
    with caplog.at_level(logging.WARNING, logger="promptledger"):
        assert client.flush(timeout=10)
    stats = client.stats()
    assert (stats["accepted"], stats["rejected"]) == (1, 1)
    assert any("No prompt named 'ghost'" in r.getMessage() for r in caplog.records)

    # a key without the ingest scope: a 403 for the whole batch, final
    _, read_only = library.api_key_create(project=acme, scopes=["read"], name="ro")
    refused = make_client(api_key=read_only, batch_size=100, flush_interval=60)
    for _ in range(3):
        refused.log_usage(prompt, model="gpt-4o-mini", input_tokens=1, output_tokens=1)
    with caplog.at_level(logging.ERROR, logger="promptledger"):
        assert refused.flush(timeout=10)
    stats = refused.stats()
    assert (stats["rejected"], stats["retries"], stats["sent"]) == (3, 0, 0)
    assert any("ingest" in r.getMessage() for r in caplog.records)


def test_bad_numbers_are_refused_at_the_call(make_client, reply):
    client = make_client()
    prompt = client.get_prompt("reply")
    with pytest.raises(ValueError):
        client.log_usage(prompt, model="m", input_tokens=-1, output_tokens=0)
    with pytest.raises(ValueError):
        client.log_usage(prompt, model="m", input_tokens=1, cached_input_tokens=2, output_tokens=0)
    with pytest.raises(ValueError):
        client.log_usage(prompt, model="m", input_tokens=1, output_tokens=0, status="maybe")
    with pytest.raises(ValueError):
        client.log_usage("reply", model="m", input_tokens=1, output_tokens=0)  # no version/label
    assert client.stats()["queued"] == 0


def test_concurrent_log_usage_from_many_threads_gives_exact_totals(
    make_client, reply, server_url, sdk_key
):
    client = make_client(batch_size=50, flush_interval=0.1)
    prompt = client.get_prompt("reply", label="production")
    barrier = threading.Barrier(16)

    def worker(n: int):
        barrier.wait()
        for i in range(100):
            client.log_usage(
                prompt,
                model="gpt-4o-mini",
                input_tokens=n * 1000 + i,
                output_tokens=n,
                status="error" if i % 10 == 0 else "ok",
            )

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert client.flush(timeout=30)
    stats = client.stats()
    assert (stats["sent"], stats["accepted"], stats["dropped"], stats["rejected"]) == (
        1600,
        1600,
        0,
        0,
    )
    totals = ledger_totals(server_url, sdk_key, "reply")
    assert totals["calls"] == 1600
    assert totals["error_calls"] == 160
    assert totals["input_tokens"] == sum(n * 1000 + i for n in range(16) for i in range(100))
    assert totals["output_tokens"] == sum(n * 100 for n in range(16))


def test_openai_and_anthropic_responses_are_read_for_their_usage(
    make_client, reply, transport, server_url, sdk_key
):
    client = make_client(batch_size=100, flush_interval=60)
    prompt = client.get_prompt("reply", label="production")
    openai_object = SimpleNamespace(
        model="gpt-4o-mini-2024-07-18",
        usage=SimpleNamespace(
            prompt_tokens=1200,
            completion_tokens=80,
            prompt_tokens_details=SimpleNamespace(cached_tokens=1024),
        ),
    )
    openai_dict = {"model": "gpt-4o-mini", "usage": {"prompt_tokens": 50, "completion_tokens": 5}}
    anthropic = {
        "model": "claude-sonnet-4",
        "usage": {
            "input_tokens": 30,
            "output_tokens": 7,
            "cache_read_input_tokens": 500,
            "cache_creation_input_tokens": 20,
        },
    }
    client.log_openai_response(prompt, openai_object, latency_ms=840)
    client.log_openai_response(prompt, openai_dict)
    client.log_anthropic_response(prompt, anthropic, latency_ms=300)
    with pytest.raises(ValueError):
        client.log_openai_response(prompt, {"model": "x"})  # no usage (a stream without it)
    assert client.flush(timeout=10)
    events = json.loads(transport.usage_posts()[0].body)["events"]
    assert [
        (e["model"], e["input_tokens"], e["cached_input_tokens"], e["output_tokens"])
        for e in events
    ] == [
        ("gpt-4o-mini-2024-07-18", 1200, 1024, 80),
        ("gpt-4o-mini", 50, 0, 5),
        ("claude-sonnet-4", 550, 500, 7),
    ]
    assert events[0]["latency_ms"] == 840
    totals = ledger_totals(server_url, sdk_key, "reply")
    assert (
        totals["calls"],
        totals["input_tokens"],
        totals["cached_input_tokens"],
        totals["output_tokens"],
    ) == (
        3,
        1800,
        1524,
        92,
    )


def test_usage_of_a_fallback_prompt_is_logged_against_the_label_asked_for(
    make_client, reply, transport, server_url, sdk_key
):
    client = make_client(batch_size=100, flush_interval=60)
    transport.set_down(True)
    prompt = client.get_prompt("reply", label="production", fallback="Hi {{ name }}")
    assert prompt.is_fallback
    client.log_usage(prompt, model="gpt-4o-mini", input_tokens=10, output_tokens=1)
    transport.set_down(False)
    assert client.flush(timeout=10)
    event = json.loads(transport.usage_posts()[-1].body)["events"][0]
    assert event["label"] == "production" and "version" not in event
    assert client.stats()["accepted"] == 1


def test_queued_events_are_flushed_at_interpreter_exit(reply, server_url, sdk_key):
    import os
    import subprocess
    import sys

    from django.conf import settings

    script = (
        "from promptledger import PromptLedger\n"
        "client = PromptLedger(flush_interval=3600)\n"
        "prompt = client.get_prompt('reply', label='production')\n"
        "for _ in range(5):\n"
        "    client.log_usage(prompt, model='gpt-4o-mini', input_tokens=7, output_tokens=3)\n"
        "print(client.stats()['queued'])\n"  # no close(), no flush(): atexit sends them
    )
    env = {**os.environ, "PROMPTLEDGER_URL": server_url, "PROMPTLEDGER_API_KEY": sdk_key}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "5"
    totals = ledger_totals(server_url, sdk_key, "reply")
    assert (totals["calls"], totals["input_tokens"], totals["output_tokens"]) == (5, 35, 15)
