"""Row 5, eval overhead: per-case time of an eval run of the realistic chat prompt
against a local OpenAI-compatible provider that answers at once (the test suite's
FakeOpenAI, in this process), so what is measured is our own cost per case:

- in-process: ``eval_run_start`` (static checks: render + tokens of every case, also
  for the production version), ``eval_case_execute`` for every case (render, provider
  call, assertions, price, store), ``eval_run_finalize``;
- end to end through a real Celery worker (prefork, 2 processes): from the enqueue
  at commit to the run's final status.

Baseline: the provider round trip alone, a persistent httpx client POSTing the same
rendered messages (and reading the JSON), per case."""

from __future__ import annotations

import time

import httpx
from django.db import transaction

from prompts_app.bench import data
from prompts_app.bench.harness import Context, Metric, row
from prompts_app.models import EvalRun, Prompt, PromptVersion, Provider
from prompts_app.services import evals


def _fake_openai():
    try:
        from tests.fakes.openai_server import FakeOpenAI
    except ImportError as exc:
        raise RuntimeError(
            f"the eval row reuses tests/fakes/openai_server.py (run manage.py from the repository root): {exc}"
        ) from exc
    return FakeOpenAI().start()


def _cases(n: int) -> list[dict]:
    cases = []
    for i, example in enumerate(data.examples(n)):
        cases.append(
            {
                "name": f"case-{i + 1:03d}",
                "variables": {**example["input"], "tone": ("warm", "neutral", "formal")[i % 3]},
                "expected_output": example["output"],
                "assertions": [
                    {"type": "contains", "value": "echo"},
                    {"type": "regex", "pattern": r"NW-\d+"},
                    {"type": "max_tokens", "value": 400},
                ],
            }
        )
    return cases


def _new_run(version: PromptVersion) -> EvalRun:
    with transaction.atomic():  # enqueued at commit (the broker is Redis db 5)
        return evals.eval_run_create(
            version=version, trigger=EvalRun.TRIGGER_MANUAL, requested_by="bench"
        )


def _in_process(run: EvalRun) -> None:
    pending = evals.eval_run_start(run_id=run.pk)
    for case_name, repeat_index in pending:
        evals.eval_case_execute(run_id=run.pk, case_name=case_name, repeat_index=repeat_index)
    finished = evals.eval_run_finalize(run_id=run.pk)
    if finished is None or finished.status != EvalRun.PASSED:
        raise RuntimeError(
            f"the in-process eval run ended {getattr(finished, 'status', None)}: "
            f"{getattr(finished, 'error', '')}"
        )


@row("eval", order=50, needs=("db",), title="eval run per case against an instant local provider")
def eval_row(ctx: Context) -> list[Metric]:
    env = ctx.env
    project = env.base.project
    n, runs = ctx.pick(20, 8), 3
    fake = _fake_openai()
    try:
        provider, _ = Provider.objects.update_or_create(
            project=project,
            name="fake",
            defaults={"base_url": fake.base_url, "model": data.MODEL, "max_retries": 0},
        )
        prompt = Prompt.objects.get(project=project, name=env.base.chat_prompt)
        version = PromptVersion.objects.get(pk=env.base.chat_version_id)
        cases = _cases(n)
        evals.eval_suite_update(prompt=prompt, cases=cases, repeats=1, provider=provider.name)
        payloads = [
            {
                "model": data.MODEL,
                "messages": evals.as_messages(evals.render_case(version, c["variables"])),
                "temperature": 0.2,
                "max_tokens": 400,
            }
            for c in cases
        ]
        ctx.progress(
            f"  {n} cases per run, {runs} runs; provider {fake.base_url} (FakeOpenAI, in-process)"
        )
        _in_process(_new_run(version))  # warm-up: tokenizer, templates, connections
        ours, base = [], []
        with httpx.Client(timeout=30) as http:
            for _ in range(runs):
                run = _new_run(version)
                started = time.perf_counter()
                _in_process(run)
                ours.append((time.perf_counter() - started) / n * 1000)
                started = time.perf_counter()
                for payload in payloads:
                    answer = http.post(fake.base_url + "/chat/completions", json=payload)
                    answer.raise_for_status()
                    answer.json()
                base.append((time.perf_counter() - started) / n * 1000)
        ctx.progress(
            f"  in-process: {ours[-1]:.2f} ms per case; provider round trip {base[-1]:.2f} ms"
        )
        metrics = [
            Metric(
                "eval",
                f"per case, in-process ({n} cases)",
                "ms",
                ours,
                base,
                "provider round trip",
                notes="eval_run_start + eval_case_execute x N + eval_run_finalize, over N",
            ),
        ]

        # end to end through a Celery worker
        env.redis().delete("celery")  # messages of runs made so far, nobody else's
        e2e = []
        with env.celery_worker(concurrency=2):
            ctx.progress("  Celery worker ready")
            for index in range(runs + 1):
                started = time.perf_counter()
                run = _new_run(version)
                deadline = time.monotonic() + 120
                while True:
                    run.refresh_from_db(fields=["status", "error"])
                    if run.status in EvalRun.TERMINAL:
                        break
                    if time.monotonic() > deadline:
                        raise RuntimeError(
                            f"eval run {run.pk} did not finish through Celery within 120 s"
                        )
                    time.sleep(0.01)
                if run.status != EvalRun.PASSED:
                    raise RuntimeError(
                        f"eval run {run.pk} through Celery ended {run.status}: {run.error}"
                    )
                if index:  # the first is the warm-up
                    e2e.append((time.perf_counter() - started) / n * 1000)
        ctx.progress(f"  through Celery: {e2e[-1]:.2f} ms per case")
        metrics.append(
            Metric(
                "eval",
                f"per case, end to end via Celery ({n} cases, 2 worker processes)",
                "ms",
                e2e,
                base,
                "provider round trip",
                notes="enqueue at commit to final status, over N",
            )
        )
        return metrics
    finally:
        fake.stop()
