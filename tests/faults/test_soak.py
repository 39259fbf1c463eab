"""A bounded soak: concurrent resolves, renders, version creations and usage
batches against gunicorn + a Celery worker for a few minutes (SOAK_SECONDS,
default 120), loopback only. Afterwards: version numbers gap-free, ledger
totals exact, no 5xx, and web and worker memory not still growing."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter

import pytest

from tests.faults.conftest import wait_until
from tests.processes import rss_kib

pytestmark = [pytest.mark.soak, pytest.mark.slow]


def test_soak(stack):
    seconds = float(os.environ.get("SOAK_SECONDS", "120"))
    web = stack.start_web(workers=2)
    worker = stack.start_worker(concurrency=2)
    setup = stack.client()
    assert setup.post("/api/v1/prompts/", json={"name": "soak", "protect_production": False}).status_code == 201
    assert (
        setup.post(
            "/api/v1/prompts/soak/versions/", json={"template": "Hi {{ name }} #0"}
        ).status_code
        == 201
    )
    setup.put("/api/v1/prompts/soak/labels/production", json={"version": 1})

    statuses: Counter = Counter()
    lock = threading.Lock()
    stop = threading.Event()
    sent_events = Counter()
    created = Counter()

    def record(kind: str, status) -> None:
        with lock:
            statuses[(kind, status)] += 1

    def resolver():
        client = stack.client()
        etag = None
        while not stop.is_set():
            headers = {"If-None-Match": etag} if etag else {}
            response = client.get("/api/v1/prompts/soak/resolve?label=production", headers=headers)
            record("resolve", response.status_code)
            etag = response.headers.get("ETag", etag)

    def renderer():
        client = stack.client()
        while not stop.is_set():
            response = client.post(
                "/api/v1/prompts/soak/render", json={"variables": {"name": "Ada"}}
            )
            record("render", response.status_code)

    def versioner():
        client = stack.client()
        n = 0
        while not stop.is_set():
            n += 1
            response = client.post(
                "/api/v1/prompts/soak/versions/", json={"template": f"Hi {{{{ name }}}} #{n}"}
            )
            record("version", response.status_code)
            if response.status_code == 201:
                with lock:
                    created["versions"] += 1
            time.sleep(0.2)

    def sender():
        client = stack.client(timeout=30)
        while not stop.is_set():
            batch = [
                {
                    "event_id": uuid.uuid4().hex,
                    "prompt": "soak",
                    "version": 1,
                    "model": "gpt-4o-mini",
                    "input_tokens": 100,
                    "output_tokens": 10,
                }
                for _ in range(200)
            ]
            response = client.post("/api/v1/usage", json={"events": batch})
            record("usage", response.status_code)
            if response.status_code == 200:
                with lock:
                    sent_events["calls"] += response.json()["accepted"]

    threads = [
        threading.Thread(target=f, daemon=True)
        for f in (resolver, resolver, renderer, versioner, sender, sender)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    samples = []
    while time.monotonic() - started < seconds:
        time.sleep(min(5.0, seconds / 12))
        samples.append(
            (time.monotonic() - started, rss_kib(web.pids()), rss_kib(worker.pids()))
        )
    stop.set()
    for thread in threads:
        thread.join(timeout=60)

    check = stack.client()
    versions = []
    url = "/api/v1/prompts/soak/versions/?limit=100"
    while url:
        page = check.get(url).json()
        versions += [v["number"] for v in page["results"]]
        url = page["next"]
    totals = check.get("/api/v1/prompts/soak/ledger?days=2").json()["totals"]
    wait_until(
        lambda: all(
            r["status"] in ("passed", "failed", "error", "rendered", "no_cases")
            for r in check.get("/api/v1/prompts/soak/evals/?limit=1000").json()["results"]
        ),
        timeout=180,
        what="eval runs to drain",
    )
    runs = check.get("/api/v1/prompts/soak/evals/?limit=1000").json()["results"]

    third = samples[len(samples) // 3]
    last = samples[-1]
    summary = {kind: sum(n for (k, _), n in statuses.items() if k == kind) for kind, _ in statuses}
    print(f"\nsoak {seconds:.0f} s: requests {summary}, statuses {dict(statuses)}")
    print(
        f"versions created {created['versions'] + 1}, usage events accepted {sent_events['calls']}"
    )
    print(
        f"RSS KiB web/worker at {third[0]:.0f} s: {third[1]}/{third[2]}; at {last[0]:.0f} s: {last[1]}/{last[2]}"
    )

    assert not [key for key in statuses if isinstance(key[1], int) and key[1] >= 500], statuses
    assert sorted(versions) == list(range(1, created["versions"] + 2))
    assert (
        totals["calls"] == sent_events["calls"]
        and totals["input_tokens"] == sent_events["calls"] * 100
    )
    assert len([r for r in runs if r["trigger"] == "auto"]) == len(versions)
    # Memory: after warm-up, neither the web nor the worker keeps growing.
    assert last[1] <= third[1] * 1.25 + 30_000
    assert last[2] <= third[2] * 1.25 + 30_000

