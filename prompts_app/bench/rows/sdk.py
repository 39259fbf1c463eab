"""Row 3, SDK (``promptledger.client.PromptLedger``) against the live gunicorn:

- ``get_prompt`` cache hit, ns per call, against a plain dict lookup (target: ≤ 1 µs);
- cold fetch (cache cleared, so one HTTP request), ms, against the same request made
  with a bare ``httpx.Client`` (plus ``.json()``);
- ``log_usage`` on the caller's thread, µs, against the least any implementation does:
  build the event dict (uuid4 id, ISO timestamp) and append it to a deque. The
  batcher's sender thread runs meanwhile (posting to the live server), as in real use.
"""

from __future__ import annotations

import collections
import datetime as dt
import time
import uuid

import httpx

from prompts_app.bench.harness import Context, Metric, row, value_at_most


def _client_class():
    try:
        from promptledger.client import PromptLedger
    except ImportError as exc:
        raise RuntimeError(
            f"promptledger.client is not importable yet ({exc}): the SDK row needs it"
        ) from exc
    return PromptLedger


def _loop_ns(fn, n: int) -> float:
    started = time.perf_counter_ns()
    for _ in range(n):
        fn()
    return (time.perf_counter_ns() - started) / n


@row("sdk", order=30, needs=("server",), title="SDK: get_prompt hit, cold fetch, log_usage")
def sdk_row(ctx: Context) -> list[Metric]:
    client_class = _client_class()
    env = ctx.env
    name = env.base.chat_prompt
    client = client_class(
        base_url=env.server_url, api_key=env.base.raw_key, cache_ttl=3600, max_queue=1_000_000
    )
    try:
        return _measure(ctx, client, name)
    finally:
        client.close(timeout=30)


def _measure(ctx: Context, client, name: str) -> list[Metric]:
    env = ctx.env
    runs = ctx.pick(5, 3)
    metrics = []

    # -- cache hit
    prompt = client.get_prompt(name, label="production")
    get_prompt = client.get_prompt
    key = (name, "production", None)
    plain = {key: prompt}
    lookup = plain.get
    n = ctx.pick(300_000, 50_000)
    hit, base = [], []
    for _ in range(runs):
        hit.append(_loop_ns(lambda: get_prompt(name, label="production"), n))
        base.append(_loop_ns(lambda: lookup(key), n))
    ctx.progress(f"  get_prompt hit: {runs} runs x {n:,} calls")
    metrics.append(
        Metric(
            "sdk",
            "get_prompt cache hit",
            "ns",
            hit,
            base,
            "plain dict lookup",
            value_at_most(1000, "ns"),
            notes="both loops include the same lambda-call overhead",
        )
    )

    # -- cold fetch
    http = httpx.Client(
        base_url=env.server_url, headers={"Authorization": f"Bearer {env.base.raw_key}"}
    )
    path = f"/api/v1/prompts/{name}/resolve"
    n = ctx.pick(40, 15)
    cold, raw = [], []
    try:
        for _ in range(3):  # warm-up
            client.clear_cache()
            client.get_prompt(name, label="production")
            http.get(path, params={"label": "production"}).json()
        for _ in range(runs):
            total = 0.0
            for _ in range(n):
                client.clear_cache()
                started = time.perf_counter()
                client.get_prompt(name, label="production")
                total += time.perf_counter() - started
            cold.append(total / n * 1000)
            total = 0.0
            for _ in range(n):
                started = time.perf_counter()
                answer = http.get(path, params={"label": "production"})
                answer.raise_for_status()
                answer.json()
                total += time.perf_counter() - started
            raw.append(total / n * 1000)
    finally:
        http.close()
    ctx.progress(f"  cold fetch: {runs} runs x {n} fetches")
    metrics.append(
        Metric(
            "sdk",
            "get_prompt cold fetch (one HTTP request)",
            "ms",
            cold,
            raw,
            "bare httpx GET + json()",
        )
    )

    # -- log_usage
    prompt = client.get_prompt(name, label="production")
    n = ctx.pick(5000, 2000)
    queue: collections.deque = collections.deque()

    def bare_event() -> None:
        queue.append(
            {
                "event_id": uuid.uuid4().hex,
                "prompt": name,
                "version": 1,
                "model": "gpt-4o-mini",
                "input_tokens": 812,
                "cached_input_tokens": 0,
                "output_tokens": 164,
                "latency_ms": 420,
                "status": "ok",
                "timestamp": dt.datetime.now(dt.UTC)
                .isoformat(timespec="milliseconds")
                .replace("+00:00", "Z"),
            }
        )

    def log() -> None:
        client.log_usage(
            prompt, model="gpt-4o-mini", input_tokens=812, output_tokens=164, latency_ms=420
        )

    ours, base = [], []
    for _ in range(runs):
        ours.append(_loop_ns(log, n) / 1000)
        client.flush(timeout=120)
        base.append(_loop_ns(bare_event, n) / 1000)
        queue.clear()
    stats = client.stats()
    ctx.progress(
        f"  log_usage: {runs} runs x {n:,} events; sent {stats.get('sent')}, rejected {stats.get('rejected')}, "
        f"dropped {stats.get('dropped')}"
    )
    if stats.get("rejected") or stats.get("dropped"):
        raise RuntimeError(f"the SDK's usage events were not all accepted: {stats}")
    metrics.append(
        Metric(
            "sdk",
            "log_usage on the caller's thread",
            "us",
            ours,
            base,
            "dict + uuid4 + deque.append",
            extra={"client_stats": stats},
        )
    )
    return metrics
