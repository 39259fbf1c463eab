"""Row 1, runtime fetch: ``GET /api/v1/prompts/{name}/resolve?label=production`` under
load on loopback (wrk), requests/s and p50/p99 latency, against the bare DRF view of
``prompts_app.api.bench_views`` answering the same JSON body (and ETag) from memory on
the same gunicorn. Then the 304 path: the same requests with ``If-None-Match``.

A third endpoint, the bare view behind the API's authentication (``bare-auth``), is
measured as a breakdown: bare → +auth → the real endpoint (+ resolve cache)."""

from __future__ import annotations

import httpx

from prompts_app.bench import load
from prompts_app.bench.harness import Context, Metric, ratio_at_least, row

TARGET = ratio_at_least(0.8)


def urls(ctx: Context, name: str, label: str = "production") -> dict[str, str]:
    base, project = ctx.env.server_url, ctx.env.base.project.name
    return {
        "ours": f"{base}/api/v1/prompts/{name}/resolve?label={label}",
        "bare": f"{base}/bench/bare/{project}/{name}/resolve?label={label}",
        "bare_auth": f"{base}/bench/bare-auth/{project}/{name}/resolve?label={label}",
    }


def check_same_answer(ctx: Context, endpoints: dict[str, str], auth: dict[str, str]) -> str:
    """The bare endpoints must answer byte for byte what the real one answers; returns the ETag."""
    answers = {key: httpx.get(url, headers=auth, timeout=10) for key, url in endpoints.items()}
    ours = answers["ours"]
    if ours.status_code != 200:
        raise RuntimeError(f"resolve answered {ours.status_code}: {ours.text[:300]}")
    for key, answer in answers.items():
        if answer.content != ours.content or answer.headers.get("ETag") != ours.headers.get("ETag"):
            raise RuntimeError(
                f"the {key} endpoint does not answer the same body and ETag as resolve"
            )
    for key, url in endpoints.items():
        again = httpx.get(url, headers={**auth, "If-None-Match": ours.headers["ETag"]}, timeout=10)
        if again.status_code != 304:
            raise RuntimeError(f"{key} answered {again.status_code} to If-None-Match, not 304")
    return ours.headers["ETag"]


@row(
    "resolve",
    order=10,
    needs=("server",),
    title="GET resolve (wrk) vs a bare DRF view answering from memory",
)
def resolve_row(ctx: Context) -> list[Metric]:
    env = ctx.env
    auth = {"Authorization": f"Bearer {env.base.raw_key}"}
    endpoints = urls(ctx, env.base.chat_prompt)
    etag = check_same_answer(ctx, endpoints, auth)
    seconds, runs = ctx.pick(2, 1), ctx.pick(5, 3)
    connections = 4
    ctx.progress(
        f"  load generator: {load.tool_name()}, {connections} connections, {seconds} s per run, {runs} runs"
    )
    for url in endpoints.values():  # warm-up: worker imports, connections, the resolve cache
        for _ in range(20):
            httpx.get(url, headers=auth, timeout=10).raise_for_status()
    figures: dict[tuple[str, str], list[load.LoadResult]] = {}
    order = list(endpoints)
    for index in range(runs):
        for path in ("200", "304"):
            rotated = order[index % len(order) :] + order[: index % len(order)]
            for key in rotated:
                headers = dict(auth)
                if path == "304":
                    headers["If-None-Match"] = etag
                result = load.run(
                    endpoints[key], seconds=seconds, connections=connections, headers=headers
                )
                if result.errors:
                    raise RuntimeError(
                        f"{key} {path}: {result.errors} errors out of {result.requests} requests"
                    )
                figures.setdefault((key, path), []).append(result)
                ctx.progress(
                    f"  run {index + 1}/{runs} {path} {key:9s}: {result.rps:8.0f} req/s  "
                    f"p50 {result.p50_ms:.2f} ms  p99 {result.p99_ms:.2f} ms"
                )
    metrics = []
    for path, label in (("200", "200 (body)"), ("304", "304 (If-None-Match)")):
        ours, bare, auth_only = (
            figures[("ours", path)],
            figures[("bare", path)],
            figures[("bare_auth", path)],
        )
        metrics += [
            Metric(
                "resolve",
                f"{label} throughput",
                "req/s",
                [r.rps for r in ours],
                [r.rps for r in bare],
                "bare DRF view",
                TARGET,
            ),
            Metric(
                "resolve",
                f"{label} p50 latency",
                "ms",
                [r.p50_ms for r in ours],
                [r.p50_ms for r in bare],
                "bare DRF view",
            ),
            Metric(
                "resolve",
                f"{label} p99 latency",
                "ms",
                [r.p99_ms for r in ours],
                [r.p99_ms for r in bare],
                "bare DRF view",
            ),
            Metric(
                "resolve",
                f"{label} throughput, bare + API-key auth",
                "req/s",
                [r.rps for r in auth_only],
                [r.rps for r in bare],
                "bare DRF view",
                notes="breakdown: the bare view behind the API's authentication and scope check",
            ),
        ]
    return metrics
