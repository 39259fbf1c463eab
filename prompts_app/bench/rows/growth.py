"""Row 6, growth: do the runtime paths stay flat as the database grows?

- resolve with 10, 1,000, 10,000 and 100,000 prompts (copies of the realistic prompt,
  each with a version and a production label, bulk-created with SQL): the hot path
  (wrk, resolve cache warm) and the cold path (a cache miss: the prompt's cache
  generation is bumped with ``prompts_app.cache.invalidate_prompt`` before each timed
  request, on a prompt picked at random among all of them, so the database is read);
- the 30-day ledger of one prompt (``GET /api/v1/prompts/{name}/ledger`` and
  ``selectors.prompt_ledger`` in-process) with 10,000 and then 10,000,000 usage events,
  spread over 10 prompts, 2 models and 90 days, generated with SQL together with the
  matching daily rollups (computed from the events), since the ledger reads rollups;
- the daily advisor pass (``advice.advice_pass_all``) over the 10 usage prompts and
  over 10,000 prompts, per prompt.

Every figure at a size is compared with the same figure at the smallest size
(target for resolve and the ledger: within 2x)."""

from __future__ import annotations

import random
import statistics
import time

import httpx

from prompts_app import advice, selectors
from prompts_app import cache as resolve_cache
from prompts_app.bench import data, load
from prompts_app.bench.harness import Context, Metric, ratio_at_most, row
from prompts_app.models import Prompt

FLAT = ratio_at_most(2.0)


def _hot(ctx: Context, url: str, auth: dict) -> tuple[list[float], list[float]]:
    runs, seconds = ctx.pick(3, 2), ctx.pick(2, 1)
    load.run(url, seconds=1, connections=4, headers=auth)
    p50, rps = [], []
    for _ in range(runs):
        result = load.run(url, seconds=seconds, connections=4, headers=auth)
        if result.errors:
            raise RuntimeError(f"resolve under load: {result.errors} errors of {result.requests}")
        p50.append(result.p50_ms)
        rps.append(result.rps)
    return p50, rps


def _cold(ctx: Context, http: httpx.Client, project, names: list[str], rng: random.Random) -> list[float]:
    """Median ms of a resolve that misses the cache, per run."""
    runs, n = ctx.pick(3, 2), ctx.pick(60, 20)
    out = []
    for _ in range(runs):
        times = []
        for _ in range(n):
            name = rng.choice(names)
            resolve_cache.invalidate_prompt(Prompt(project_id=project.pk, name=name))
            started = time.perf_counter()
            answer = http.get(f"/api/v1/prompts/{name}/resolve", params={"label": "production"})
            times.append((time.perf_counter() - started) * 1000)
            if answer.status_code != 200:
                raise RuntimeError(f"resolve of {name} answered {answer.status_code}: {answer.text[:200]}")
        out.append(statistics.median(times))
    return out


def _ledger(ctx: Context, http: httpx.Client, prompt: Prompt) -> tuple[list[float], list[float]]:
    """Median ms of the 30-day ledger, through the API and in-process, per run."""
    runs, n = ctx.pick(3, 2), ctx.pick(30, 10)
    api, local = [], []
    http.get(f"/api/v1/prompts/{prompt.name}/ledger", params={"days": 30}).raise_for_status()
    for _ in range(runs):
        times = []
        for _ in range(n):
            started = time.perf_counter()
            answer = http.get(f"/api/v1/prompts/{prompt.name}/ledger", params={"days": 30})
            times.append((time.perf_counter() - started) * 1000)
            answer.raise_for_status()
        api.append(statistics.median(times))
        times = []
        for _ in range(n):
            started = time.perf_counter()
            selectors.prompt_ledger(prompt=prompt, days=30)
            times.append((time.perf_counter() - started) * 1000)
        local.append(statistics.median(times))
    return api, local


def _advice(ctx: Context, runs: int) -> tuple[list[float], float, int]:
    """(ms per prompt per run, seconds of the last pass, prompts per pass)."""
    per_prompt, seconds, prompts = [], 0.0, 0
    for _ in range(runs):
        started = time.perf_counter()
        report = advice.advice_pass_all()
        seconds = time.perf_counter() - started
        prompts = report["prompts"]
        per_prompt.append(seconds / max(1, prompts) * 1000)
    return per_prompt, seconds, prompts


@row("growth", needs=("server",), title="resolve, ledger and advisor as the database grows")
def growth_row(ctx: Context) -> list[Metric]:
    env = ctx.env
    base = env.base
    auth = {"Authorization": f"Bearer {base.raw_key}"}
    url = f"{env.server_url}/api/v1/prompts/{base.chat_prompt}/resolve?label=production"
    prompt_sizes = ctx.pick([10, 1_000, 10_000, 100_000], [10, 1_000, 10_000])
    usage_sizes = ctx.pick([10_000, 10_000_000], [10_000, 300_000])
    advice_prompts = ctx.pick(10_000, 1_000)
    rng = random.Random(5)
    hot: dict[int, tuple] = {}
    cold: dict[int, list] = {}
    ledger: dict[int, tuple] = {}
    advisor: dict[int, tuple] = {}
    prompt = Prompt.objects.get(project=base.project, name=base.chat_prompt)
    usage_ids: list[int] = []
    with httpx.Client(base_url=env.server_url, headers=auth, timeout=60) as http:
        for size in sorted(set(prompt_sizes) | {advice_prompts}):
            started = time.monotonic()
            added = data.grow_prompts(base, size)
            total = data.prompt_count()
            ctx.progress(f"  {total:,} prompts in the database (+{added:,} in {time.monotonic() - started:.1f} s)")
            names = list(Prompt.objects.filter(project=base.project, latest_version_number__gt=0)
                         .values_list("name", flat=True))
            if size == prompt_sizes[0]:
                usage_ids = data.usage_prompt_ids(base, 10)
                info = data.generate_usage(base, events=usage_sizes[0], prompt_ids=usage_ids, progress=ctx.progress)
                ctx.progress(f"  {usage_sizes[0]:,} usage events, {info['rollup_rows']:,} rollup rows ({info['seconds']['total']} s)")
                ledger[usage_sizes[0]] = _ledger(ctx, http, prompt)
                ctx.progress(f"  ledger @{usage_sizes[0]:,} events: API {ledger[usage_sizes[0]][0][-1]:.2f} ms")
                advisor[size] = (*_advice(ctx, 3),)
                ctx.progress(f"  advisor pass @{advisor[size][2]} prompts: {advisor[size][0][-1]:.2f} ms per prompt")
            if size in prompt_sizes:
                hot[size] = _hot(ctx, url, auth)
                cold[size] = _cold(ctx, http, base.project, names, rng)
                ctx.progress(f"  resolve @{size:,} prompts: hot p50 {statistics.median(hot[size][0]):.2f} ms, "
                             f"cold p50 {statistics.median(cold[size]):.2f} ms")
            if size == advice_prompts:
                advisor[size] = (*_advice(ctx, ctx.pick(1, 1)),)
                ctx.progress(f"  advisor pass @{advisor[size][2]:,} prompts: {advisor[size][1]:.1f} s, "
                             f"{advisor[size][0][-1]:.2f} ms per prompt")
        more = usage_sizes[1] - usage_sizes[0]
        started = time.monotonic()
        info = data.generate_usage(base, events=more, prompt_ids=usage_ids, progress=ctx.progress)
        ctx.progress(f"  {usage_sizes[1]:,} usage events, {info['rollup_rows']:,} rollup rows "
                     f"({time.monotonic() - started:.1f} s)")
        ledger[usage_sizes[1]] = _ledger(ctx, http, prompt)
        ctx.progress(f"  ledger @{usage_sizes[1]:,} events: API {ledger[usage_sizes[1]][0][-1]:.2f} ms")

    small = prompt_sizes[0]
    metrics = []
    for size in prompt_sizes[1:]:
        metrics.append(Metric("growth", f"resolve hot p50 @{size:,} prompts", "ms", hot[size][0], hot[small][0],
                              f"@{small} prompts", FLAT))
    for size in prompt_sizes[1:]:
        metrics.append(Metric("growth", f"resolve cold (cache miss) p50 @{size:,} prompts", "ms", cold[size],
                              cold[small], f"@{small} prompts", FLAT))
    lo, hi = usage_sizes
    metrics.append(Metric("growth", f"30-day ledger API p50 @{hi:,} events", "ms", ledger[hi][0], ledger[lo][0],
                          f"@{lo:,} events", FLAT))
    metrics.append(Metric("growth", f"30-day ledger selector p50 @{hi:,} events", "ms", ledger[hi][1],
                          ledger[lo][1], f"@{lo:,} events", FLAT))
    few = min(advisor)
    metrics.append(Metric("growth", f"advisor pass per prompt @{advisor[advice_prompts][2]:,} prompts", "ms",
                          advisor[advice_prompts][0], advisor[few][0], f"@{advisor[few][2]} prompts",
                          extra={"pass_seconds": round(advisor[advice_prompts][1], 1)},
                          notes=f"whole pass: {advisor[advice_prompts][1]:.1f} s"))
    return metrics
