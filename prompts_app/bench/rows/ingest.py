"""Row 4, usage ingestion: events/s through ``POST /api/v1/usage`` in batches of 500
from several concurrent senders (threads, one httpx client each), against a raw bulk
insert of the same rows into the same PostgreSQL: psycopg ``executemany`` of
``INSERT … ON CONFLICT DO NOTHING`` (the server's dedupe semantics) into the usage
table of a scratch project, 500 rows per transaction, with as many concurrent
connections as senders. ``COPY`` (no dedupe possible) is shown as a second baseline.

The events: the two seeded prompts × 2 models, timestamps within the last hour, so
every batch adds to the same few daily rollup rows, as a busy prompt does."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import httpx

from prompts_app.bench.harness import Context, Metric, ratio_at_least, row
from prompts_app.models import Prompt, UsageEvent
from prompts_app.services import library
from prompts_app.services.ledger import EVENT_COLUMNS

TARGET = ratio_at_least(0.5)
BATCH = 500
MODELS = ("gpt-4o-mini", "gpt-4o")
PRICES = {
    "gpt-4o-mini": (150_000, 75_000, 600_000),
    "gpt-4o": (2_500_000, 1_250_000, 10_000_000),
}  # pico/token


def make_events(tag: str, count: int, prompts: list[str], now: dt.datetime) -> list[dict]:
    events = []
    for i in range(count):
        events.append(
            {
                "event_id": f"{tag}-{i}",
                "prompt": prompts[i % len(prompts)],
                "version": 1,
                "model": MODELS[(i // 2) % 2],
                "input_tokens": 600 + (i * 7919) % 900,
                "cached_input_tokens": 512 if i % 3 == 0 else 0,
                "output_tokens": 80 + (i * 104729) % 300,
                "latency_ms": 200 + (i * 31) % 1800,
                "status": "error" if i % 50 == 0 else "ok",
                "timestamp": (now - dt.timedelta(seconds=(i * 7) % 3600))
                .isoformat()
                .replace("+00:00", "Z"),
            }
        )
    return events


def _threads(jobs: list) -> float:
    """Run the jobs on one thread each, all released at once; the wall time in seconds."""
    errors: list[BaseException] = []
    gate = threading.Barrier(len(jobs) + 1)

    def wrap(job):
        try:
            gate.wait()
            job()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    gate.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return elapsed


def _post_batches(url: str, key: str, bodies: list[bytes]) -> None:
    with httpx.Client(
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"}, timeout=120
    ) as http:
        for body in bodies:
            answer = http.post(url, content=body)
            if answer.status_code != 200:
                raise RuntimeError(
                    f"POST /api/v1/usage answered {answer.status_code}: {answer.text[:300]}"
                )
            result = answer.json()
            if result["accepted"] != BATCH:
                raise RuntimeError(
                    f"POST /api/v1/usage accepted {result['accepted']} of {BATCH}: {result}"
                )


# The same columns, in the same order, as the ledger's own insert.
COLUMNS = EVENT_COLUMNS


def raw_rows(events: list[dict], project_id: int, prompt_ids: dict[str, int]) -> list[tuple]:
    """The rows the server stores for these events (cost in picodollars as it computes it)."""
    rows = []
    now = dt.datetime.now(dt.UTC)
    for e in events:
        inp, cached, out = PRICES[e["model"]]
        cost = (
            (e["input_tokens"] - e["cached_input_tokens"]) * inp
            + e["cached_input_tokens"] * cached
            + e["output_tokens"] * out
        )
        rows.append(
            (
                project_id,
                e["event_id"],
                prompt_ids[e["prompt"]],
                e["version"],
                "",
                e["model"],
                e["input_tokens"],
                e["cached_input_tokens"],
                0,  # cache_write_input_tokens
                e["output_tokens"],
                0,  # reasoning_tokens
                e["latency_ms"],
                e["status"],
                dt.datetime.fromisoformat(e["timestamp"]),
                cost,
                True,
                now,
            )
        )
    return rows


def _pg_connect():
    import psycopg
    from django.db import connection

    s = connection.settings_dict
    return psycopg.connect(
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
        user=s["USER"],
        password=s["PASSWORD"] or None,
        dbname=s["NAME"],
    )


def _insert_executemany(batches: list[list[tuple]]) -> None:
    table = UsageEvent._meta.db_table
    sql = (
        f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))}) "
        "ON CONFLICT (project_id, event_id) DO NOTHING"
    )
    with _pg_connect() as conn:
        for rows in batches:
            with conn.transaction(), conn.cursor() as cursor:
                cursor.executemany(sql, rows)


def _insert_copy(batches: list[list[tuple]]) -> None:
    table = UsageEvent._meta.db_table
    with _pg_connect() as conn:
        for rows in batches:
            with (
                conn.transaction(),
                conn.cursor() as cursor,
                cursor.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN") as copy,
            ):
                for r in rows:
                    copy.write_row(r)


@row(
    "ingest",
    order=40,
    needs=("server",),
    title="POST /api/v1/usage (batches of 500) vs raw bulk insert",
)
def ingest_row(ctx: Context) -> list[Metric]:
    env = ctx.env
    base = env.base
    senders, per_sender, runs = 4, ctx.pick(8, 2), 3
    prompts = [base.chat_prompt, base.text_prompt]
    scratch, _ = library.project_get_or_create(name="bench-raw")
    scratch_ids = {}
    for name in prompts:
        prompt = Prompt.objects.filter(
            project=scratch, name=name
        ).first() or library.prompt_create(project=scratch, name=name)
        scratch_ids[name] = prompt.pk
    url = f"{env.server_url}/api/v1/usage"
    per_run = senders * per_sender * BATCH
    ctx.progress(
        f"  {senders} senders x {per_sender} batches x {BATCH} events = {per_run:,} events per run, {runs} runs"
    )
    # warm-up: both workers, their connections and price lookups
    _threads(
        [
            lambda s=s: _post_batches(
                url,
                base.raw_key,
                [
                    json.dumps(
                        {
                            "events": make_events(
                                f"warm-{s}", BATCH, prompts, dt.datetime.now(dt.UTC)
                            )
                        }
                    ).encode()
                ],
            )
            for s in range(senders)
        ]
    )
    ours, raw, copy = [], [], []
    for index in range(runs):
        now = dt.datetime.now(dt.UTC)
        plans = []
        for s in range(senders):
            events = make_events(f"r{index}-s{s}", per_sender * BATCH, prompts, now)
            plans.append([events[b * BATCH : (b + 1) * BATCH] for b in range(per_sender)])
        bodies = [[json.dumps({"events": batch}).encode() for batch in plan] for plan in plans]
        seconds = _threads([lambda b=b: _post_batches(url, base.raw_key, b) for b in bodies])
        ours.append(per_run / seconds)
        rows = [[raw_rows(batch, scratch.pk, scratch_ids) for batch in plan] for plan in plans]
        seconds = _threads([lambda r=r: _insert_executemany(r) for r in rows])
        raw.append(per_run / seconds)
        copy_rows = [
            [[(r[0], "c" + r[1], *r[2:]) for r in batch] for batch in plan] for plan in rows
        ]
        seconds = _threads([lambda r=r: _insert_copy(r) for r in copy_rows])
        copy.append(per_run / seconds)
        ctx.progress(
            f"  run {index + 1}/{runs}: API {ours[-1]:,.0f} events/s, executemany {raw[-1]:,.0f}/s, "
            f"COPY {copy[-1]:,.0f}/s"
        )
    return [
        Metric(
            "ingest",
            f"events/s, {senders} senders, batches of {BATCH}",
            "ev/s",
            ours,
            raw,
            "raw executemany INSERT",
            TARGET,
        ),
        Metric(
            "ingest",
            f"events/s, {senders} senders, batches of {BATCH}",
            "ev/s",
            ours,
            copy,
            "raw COPY",
            notes="COPY cannot skip duplicates; shown for scale",
        ),
    ]
