"""Row 6, growth: do the runtime paths stay flat as the database grows?

- resolve with 10, 1,000, 10,000 and 100,000 prompts (copies of the realistic prompt,
  each with a version and a production label, bulk-created with SQL): the hot path
  (wrk, resolve cache warm) and the cold path (a cache miss: the prompt's cache
  generation is bumped with ``prompts_app.cache.invalidate_prompt`` before each timed
  request, on a prompt picked at random among all of them, so the database is read);
- the 30-day ledger of one busy prompt (``GET /api/v1/prompts/{name}/ledger`` and
  ``prompt_ledger`` in-process) with 10,000 usage events (over the first 10
  prompts) and then 10,000,000 (half more on those, half over the other 10,000
  prompts: about 1.7 million rollup rows), over 90 days and 2 models, generated with
  SQL together with the matching daily rollups (computed from the events with GROUP
  BY), since the ledger reads rollups;
- the daily advisor pass (``advice.advice_pass_all``) over the first prompts and over
  10,000 prompts (all with usage), per prompt. When the whole pass would not fit the
  run's time budget, ``advice_evaluate`` (what the pass does per prompt) is timed on
  random samples instead and the pass projected; the table says which.

Every figure at a size is compared with the same figure at the smallest size
(target for resolve and the ledger: within 2x)."""

from __future__ import annotations

import random
import statistics
import time

import httpx

from prompts_app.bench import data, load
from prompts_app.bench.harness import Context, Metric, ratio_at_most, row
from prompts_app.infra import cache as resolve_cache
from prompts_app.models import Prompt
from prompts_app.selectors.ledger import prompt_ledger
from prompts_app.services import advice

FLAT = ratio_at_most(2.0)


def _hot(ctx: Context, urls: dict[str, str], auth: dict) -> dict[str, list[float]]:
    """wrk on the real endpoint and on the bare one, alternately: per run, p50 of each."""
    runs, seconds = ctx.pick(3, 2), ctx.pick(2, 1)
    for url in urls.values():
        load.run(url, seconds=1, connections=4, headers=auth)
    out: dict[str, list[float]] = {"ours": [], "bare": []}
    for _ in range(runs):
        for key in ("ours", "bare"):
            result = load.run(urls[key], seconds=seconds, connections=4, headers=auth)
            if result.errors:
                raise RuntimeError(
                    f"resolve under load: {result.errors} errors of {result.requests}"
                )
            out[key].append(result.p50_ms)
    return out


def _timed_get(http: httpx.Client, path: str, params: dict | None = None) -> float:
    started = time.perf_counter()
    answer = http.get(path, params=params)
    elapsed = (time.perf_counter() - started) * 1000
    if answer.status_code != 200:
        raise RuntimeError(f"GET {path} answered {answer.status_code}: {answer.text[:200]}")
    return elapsed


def _cold(
    ctx: Context, http: httpx.Client, project, names: list[str], bare: str, rng: random.Random
) -> dict[str, list[float]]:
    """Per run, the median ms of a resolve that misses the cache (a random prompt, its
    cache generation bumped first), and of the bare endpoint, requests interleaved."""
    runs, n = ctx.pick(3, 2), ctx.pick(60, 20)
    out: dict[str, list[float]] = {"ours": [], "bare": []}
    for _ in range(runs):
        ours, control = [], []
        for _ in range(n):
            name = rng.choice(names)
            resolve_cache.invalidate_prompt(Prompt(project_id=project.pk, name=name))
            ours.append(
                _timed_get(http, f"/api/v1/prompts/{name}/resolve", {"label": "production"})
            )
            control.append(_timed_get(http, bare))
        out["ours"].append(statistics.median(ours))
        out["bare"].append(statistics.median(control))
    return out


def _ledger(ctx: Context, http: httpx.Client, prompt: Prompt, bare: str) -> dict[str, list[float]]:
    """Per run, the median ms of the 30-day ledger through the API (interleaved with the
    bare endpoint) and of ``prompt_ledger`` in-process."""
    runs, n = ctx.pick(3, 2), ctx.pick(30, 10)
    path = f"/api/v1/prompts/{prompt.name}/ledger"
    _timed_get(http, path, {"days": 30})
    out: dict[str, list[float]] = {"api": [], "bare": [], "selector": []}
    for _ in range(runs):
        api, control, local = [], [], []
        for _ in range(n):
            api.append(_timed_get(http, path, {"days": 30}))
            control.append(_timed_get(http, bare))
        for _ in range(n):
            started = time.perf_counter()
            prompt_ledger(prompt=prompt, days=30)
            local.append((time.perf_counter() - started) * 1000)
        out["api"].append(statistics.median(api))
        out["bare"].append(statistics.median(control))
        out["selector"].append(statistics.median(local))
    return out


def _advice_pass(runs: int) -> tuple[list[float], float, int]:
    """advice_pass_all, ``runs`` times: (ms per prompt per run, seconds of the last pass, prompts)."""
    per_prompt, seconds, prompts = [], 0.0, 0
    for _ in range(runs):
        started = time.perf_counter()
        report = advice.advice_pass_all()
        seconds = time.perf_counter() - started
        prompts = report["prompts"]
        per_prompt.append(seconds / max(1, prompts) * 1000)
    return per_prompt, seconds, prompts


def _advice_sample(project, sample: int, runs: int, rng: random.Random) -> list[float]:
    """What advice_pass_all does per prompt (``advice_evaluate`` on a prompt loaded with
    its project), timed on ``runs`` random samples of the prompts: ms per prompt per run."""
    ids = list(Prompt.objects.filter(latest_version_number__gt=0).values_list("pk", flat=True))
    out = []
    for _ in range(runs):
        chosen = rng.sample(ids, min(sample, len(ids)))
        started = time.perf_counter()
        for prompt in Prompt.objects.filter(pk__in=chosen).select_related("project").iterator():
            advice.advice_evaluate(prompt=prompt)
        out.append((time.perf_counter() - started) / len(chosen) * 1000)
    return out


def normalized(ours: list[float], bare: list[float]) -> list[float]:
    return [o / b for o, b in zip(ours, bare)]


@row(
    "growth", order=60, needs=("server",), title="resolve, ledger and advisor as the database grows"
)
def growth_row(ctx: Context) -> list[Metric]:
    env = ctx.env
    base = env.base
    project = base.project
    auth = {"Authorization": f"Bearer {base.raw_key}"}
    name = base.chat_prompt
    bare_path = f"/bench/bare/{project.name}/{name}/resolve?label=production"
    urls = {
        "ours": f"{env.server_url}/api/v1/prompts/{name}/resolve?label=production",
        "bare": f"{env.server_url}{bare_path}",
    }
    prompt_sizes = ctx.pick([10, 1_000, 10_000, 100_000], [10, 1_000, 10_000])
    usage_sizes = ctx.pick([10_000, 10_000_000], [10_000, 300_000])
    advice_prompts = ctx.pick(10_000, 1_000)
    advice_budget = ctx.pick(60.0, 10.0)  # seconds the advisor may take at advice_prompts
    rng = random.Random(5)
    hot: dict[int, dict] = {}
    cold: dict[int, dict] = {}
    ledger: dict[int, dict] = {}
    advisor: dict[int, dict] = {}
    prompt = Prompt.objects.get(project=project, name=name)
    usage_ids: list[int] = []
    with httpx.Client(base_url=env.server_url, headers=auth, timeout=60) as http:
        for size in sorted(set(prompt_sizes) | {advice_prompts}):
            started = time.monotonic()
            added = data.grow_prompts(base, size)
            total = data.prompt_count()
            ctx.progress(
                f"  {total:,} prompts in the database (+{added:,} in {time.monotonic() - started:.1f} s)"
            )
            names = list(
                Prompt.objects.filter(project=project, latest_version_number__gt=0).values_list(
                    "name", flat=True
                )
            )
            if size == prompt_sizes[0]:
                usage_ids = data.usage_prompt_ids(base, 10)
                info = data.generate_usage(
                    base, events=usage_sizes[0], hot_ids=usage_ids, progress=ctx.progress
                )
                ctx.progress(
                    f"  {usage_sizes[0]:,} usage events over {len(usage_ids)} prompts, "
                    f"{info['rollup_rows']:,} rollup rows ({info['seconds']['total']} s)"
                )
                ledger[usage_sizes[0]] = _ledger(ctx, http, prompt, bare_path)
                ctx.progress(
                    f"  ledger @{usage_sizes[0]:,} events: API {ledger[usage_sizes[0]]['api'][-1]:.2f} ms"
                )
                per_prompt, seconds, count = _advice_pass(3)
                advisor[size] = {
                    "per_prompt": per_prompt,
                    "seconds": seconds,
                    "prompts": count,
                    "mode": "pass",
                }
                ctx.progress(
                    f"  advisor pass over {count} prompts: {statistics.median(per_prompt):.2f} ms per prompt"
                )
            if size in prompt_sizes:
                hot[size] = _hot(ctx, urls, auth)
                cold[size] = _cold(ctx, http, project, names, bare_path, rng)
                ctx.progress(
                    f"  resolve @{total:,} prompts: hot p50 {statistics.median(hot[size]['ours']):.2f} ms "
                    f"(bare {statistics.median(hot[size]['bare']):.2f}), cold p50 "
                    f"{statistics.median(cold[size]['ours']):.2f} ms (bare {statistics.median(cold[size]['bare']):.2f})"
                )
            if size == advice_prompts:
                # the big usage load: half on the hot prompts, half over every other prompt
                tail = list(
                    Prompt.objects.filter(project=project, latest_version_number__gt=0)
                    .exclude(pk__in=usage_ids)
                    .values_list("pk", flat=True)
                )
                more = usage_sizes[1] - usage_sizes[0]
                started = time.monotonic()
                info = data.generate_usage(
                    base, events=more, hot_ids=usage_ids, tail_ids=tail, progress=ctx.progress
                )
                ctx.progress(
                    f"  {usage_sizes[1]:,} usage events (half over {len(tail):,} more prompts), "
                    f"{info['rollup_rows']:,} rollup rows ({time.monotonic() - started:.1f} s)"
                )
                ledger[usage_sizes[1]] = _ledger(ctx, http, prompt, bare_path)
                ctx.progress(
                    f"  ledger @{usage_sizes[1]:,} events: API {ledger[usage_sizes[1]]['api'][-1]:.2f} ms"
                )
                advisor[size] = _advisor_at_size(
                    ctx, project, advisor[prompt_sizes[0]], advice_budget, rng
                )
    return _metrics(prompt_sizes, usage_sizes, advice_prompts, hot, cold, ledger, advisor)


def _advisor_at_size(ctx: Context, project, small: dict, budget: float, rng: random.Random) -> dict:
    """The real advice_pass_all when it fits the time budget, else advice_evaluate (what
    the pass does per prompt) timed on random samples of the prompts. The cost per prompt
    is first estimated from a calibration sample of 20 prompts."""
    count = Prompt.objects.filter(latest_version_number__gt=0).count()
    calibration = _advice_sample(project, 20, 1, rng)[0]
    per_prompt_guess = max(calibration, statistics.median(small["per_prompt"]))
    projected = per_prompt_guess / 1000 * count
    if projected <= budget:
        per_prompt, seconds, count = _advice_pass(3 if projected * 3 <= budget else 1)
        ctx.progress(
            f"  advisor pass over {count:,} prompts: {seconds:.1f} s, "
            f"{statistics.median(per_prompt):.2f} ms per prompt"
        )
        return {"per_prompt": per_prompt, "seconds": seconds, "prompts": count, "mode": "pass"}
    runs = 3
    sample = max(30, int(budget / runs / (per_prompt_guess / 1000)))
    ctx.progress(
        f"  advisor: a pass over {count:,} prompts would take ~{projected:.0f} s (> the {budget:.0f} s "
        f"budget): timing {runs} random samples of {sample} prompts instead"
    )
    per_prompt = _advice_sample(project, sample, runs, rng)
    seconds = statistics.median(per_prompt) / 1000 * count
    ctx.progress(
        f"  advisor: {statistics.median(per_prompt):.2f} ms per prompt, a pass over {count:,} prompts "
        f"~{seconds:.0f} s"
    )
    return {
        "per_prompt": per_prompt,
        "seconds": seconds,
        "prompts": count,
        "mode": "sampled",
        "sample": sample,
    }


def _metrics(prompt_sizes, usage_sizes, advice_prompts, hot, cold, ledger, advisor) -> list[Metric]:
    small = prompt_sizes[0]
    metrics = []
    for label, figures in (("hot (cache warm, wrk)", hot), ("cold (cache miss)", cold)):
        for size in prompt_sizes[1:]:
            ours, base = figures[size], figures[small]
            metrics.append(
                Metric(
                    "growth",
                    f"resolve {label} p50 / bare p50 @{size:,} prompts",
                    "x",
                    normalized(ours["ours"], ours["bare"]),
                    normalized(base["ours"], base["bare"]),
                    f"@{small} prompts",
                    FLAT,
                    notes=(
                        f"raw p50 {statistics.median(ours['ours']):.2f} ms vs {statistics.median(base['ours']):.2f} ms; "
                        "each figure divided by the bare endpoint's p50 measured alongside (load on the machine)"
                    ),
                    extra={"raw_ms": {"ours": ours, "baseline": base}},
                )
            )
    lo, hi = usage_sizes
    metrics.append(
        Metric(
            "growth",
            f"30-day ledger API p50 / bare p50 @{hi:,} events",
            "x",
            normalized(ledger[hi]["api"], ledger[hi]["bare"]),
            normalized(ledger[lo]["api"], ledger[lo]["bare"]),
            f"@{lo:,} events",
            FLAT,
            notes=f"raw p50 {statistics.median(ledger[hi]['api']):.2f} ms vs {statistics.median(ledger[lo]['api']):.2f} ms",
            extra={"raw_ms": {"ours": ledger[hi], "baseline": ledger[lo]}},
        )
    )
    metrics.append(
        Metric(
            "growth",
            f"30-day ledger selector p50 @{hi:,} events",
            "ms",
            ledger[hi]["selector"],
            ledger[lo]["selector"],
            f"@{lo:,} events",
            FLAT,
            notes="prompt_ledger in-process, raw (not load-normalized)",
        )
    )
    big, few = advisor[advice_prompts], advisor[small]
    how = (
        "whole pass"
        if big["mode"] == "pass"
        else f"projected from {len(big['per_prompt'])} timed random samples of {big['sample']} prompts"
    )
    metrics.append(
        Metric(
            "growth",
            f"advisor pass per prompt @{big['prompts']:,} prompts",
            "ms",
            big["per_prompt"],
            few["per_prompt"],
            f"pass over {few['prompts']} prompts",
            notes=f"{how}: {big['seconds']:.0f} s for {big['prompts']:,} prompts",
            extra={
                "pass_seconds": round(big["seconds"], 1),
                "mode": big["mode"],
                "prompts": big["prompts"],
            },
        )
    )
    metrics.append(
        Metric(
            "growth",
            f"advisor pass over {big['prompts']:,} prompts",
            "s",
            [big["seconds"]],
            notes=how,
            extra={"mode": big["mode"]},
        )
    )
    return metrics
