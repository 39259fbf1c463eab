"""The fault suite: the parts around PromptLedger fail, it keeps answering and
loses nothing. Run alone with `pytest -m faults`."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.faults.conftest import wait_until

pytestmark = [pytest.mark.faults, pytest.mark.slow]


def make_prompt(client, name="greet", template="Hello {{ name }}"):
    assert client.post("/api/v1/prompts/", json={"name": name, "protect_production": False}).status_code == 201
    assert (
        client.post(f"/api/v1/prompts/{name}/versions/", json={"template": template}).status_code
        == 201
    )
    assert (
        client.put(f"/api/v1/prompts/{name}/labels/production", json={"version": 1}).status_code
        == 200
    )


class Hammer:
    """Calls `request()` in a loop on a thread and counts what came back."""

    def __init__(self, request) -> None:
        self.request = request
        self.statuses: Counter = Counter()
        self.bodies: list = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                response = self.request()
                self.statuses[response.status_code] += 1
                if response.status_code == 200:
                    self.bodies.append(response.json())
            except Exception as exc:  # noqa: BLE001 - counted, reported by the test
                self.statuses[type(exc).__name__] += 1
            time.sleep(0.005)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=30)


def test_redis_down_resolve_answers_from_the_database_and_recovers(stack):
    stack.start_web()
    client = stack.client()
    make_prompt(client)
    with Hammer(lambda: client.get("/api/v1/prompts/greet/resolve?label=production")) as hammer:
        time.sleep(1.0)
        served_before = sum(hammer.statuses.values())
        stack.redis.stop()
        time.sleep(3.0)
        served_during = sum(hammer.statuses.values()) - served_before
        stack.redis.start()
        time.sleep(1.5)
    print(f"\nresolves: {dict(hammer.statuses)}; during the Redis outage: {served_during}")
    assert set(hammer.statuses) == {200}, hammer.statuses
    assert served_during > 10
    assert {body["version"] for body in hammer.bodies} == {1}
    # Recovered: the cache works again and a label move is seen at once.
    client.post("/api/v1/prompts/greet/versions/", json={"template": "Hi {{ name }}"})
    client.put("/api/v1/prompts/greet/labels/production", json={"version": 2})
    assert client.get("/api/v1/prompts/greet/resolve?label=production").json()["version"] == 2


def test_broker_down_versions_are_stored_and_their_runs_enqueued_once_it_is_back(stack):
    stack.start_web()
    worker = stack.start_worker()
    client = stack.client(timeout=30)
    make_prompt(client)
    stack.redis.stop()
    created = [
        client.post(
            "/api/v1/prompts/greet/versions/", json={"template": f"v{n} {{{{ name }}}}"}
        ).status_code
        for n in range(5)
    ]
    assert created == [201] * 5
    stack.redis.start()
    # kombu 5.7's Redis transport can die on a lost broker connection ("Unrecoverable
    # error: 'NoneType' object has no attribute 'hostname'") when a message was in
    # flight; production runs workers under a supervisor that restarts them, as here.
    if worker.process.poll() is not None:
        print("\nthe worker exited during the broker outage; restarted as a supervisor would")
        stack.start_worker()
    report = stack.python(
        "import datetime, json; from prompts_app.services import evals; "
        "print(json.dumps(evals.eval_runs_sweep(unsent_after=datetime.timedelta(0))))"
    )
    print(f"\nsweeper after the broker came back: {report}")
    assert report["enqueued"] == 5

    def runs():
        return client.get("/api/v1/prompts/greet/evals/?limit=100").json()["results"]

    wait_until(
        # the prompt has no eval suite: each run finishes as "no_cases" (nothing graded)
        lambda: all(r["status"] == "no_cases" for r in runs()) and len(runs()) == 6,
        what="all runs finished",
    )
    per_version = Counter(r["version"] for r in runs() if r["trigger"] == "auto")
    assert per_version == {n: 1 for n in range(1, 7)}


def test_worker_killed_mid_run_the_run_completes_on_another_worker_without_duplicates(stack):
    fake = FakeOpenAI().start()
    try:
        fake.slow_seconds = 3.0
        stack.start_web()
        first = stack.start_worker(concurrency=2)
        client = stack.client()
        make_prompt(client, template="{{ name }}")
        stack.python(
            "import json; from prompts_app.models import Project, Provider; "
            f"Provider.objects.create(project=Project.objects.get(name='fault'), name='local', "
            f"base_url='{fake.base_url}', model='gpt-4o-mini', timeout_seconds=10, max_retries=0); print(1)"
        )
        cases = [{"name": f"case-{n}", "variables": {"name": f"n{n}"}} for n in range(4)]
        assert (
            client.put(
                "/api/v1/prompts/greet/eval-suite", json={"provider": "local", "cases": cases}
            ).status_code
            == 200
        )
        run = client.post("/api/v1/prompts/greet/evals/", json={"version": 1}).json()
        wait_until(lambda: len(fake.requests) >= 1, what="the provider to be called")
        first.kill()
        fake.slow_seconds = 0.05
        stack.start_worker(concurrency=2)
        report = stack.python(
            "import datetime, json; from prompts_app.services import evals; "
            "print(json.dumps(evals.eval_runs_sweep(stale_after=datetime.timedelta(0))))"
        )
        print(f"\nsweeper after the kill: {report}; provider calls so far: {len(fake.requests)}")
        done = wait_until(
            lambda: (
                (r := client.get(f"/api/v1/evals/{run['id']}/").json())["status"]
                in ("passed", "failed", "error")
                and r
            ),
            what="the run to finish",
        )
        assert done["status"] == "passed"
        keys = [(r["case_name"], r["repeat_index"]) for r in done["results"]]
        assert sorted(keys) == [(f"case-{n}", 0) for n in range(4)]
    finally:
        fake.stop()


def test_postgres_restart_during_ingestion_the_sdk_retries_and_totals_are_exact(stack):
    from promptledger import PromptLedger

    stack.start_web()
    client = stack.client()
    make_prompt(client)
    sdk = PromptLedger(
        base_url=stack.web.url, api_key=stack.api_key, flush_interval=0.2, batch_size=50
    )
    prompt = sdk.get_prompt("greet", label="production")
    sent = 0
    raw_statuses: Counter = Counter()
    deadline = time.monotonic() + 6
    restarts = 0
    while time.monotonic() < deadline:
        for _ in range(20):
            sdk.log_usage(
                prompt, model="gpt-4o-mini", input_tokens=100, output_tokens=10, latency_ms=50
            )
            sent += 1
        # A raw client too, to see what a caller without the SDK gets.
        try:
            raw_statuses[client.post("/api/v1/usage", json={"events": []}).status_code] += 1
        except Exception as exc:  # noqa: BLE001
            raw_statuses[type(exc).__name__] += 1
        if restarts < 2 and time.monotonic() > deadline - 5 + 2 * restarts:
            stack.pg.restart()
            restarts += 1
        time.sleep(0.05)
    assert sdk.flush(timeout=60)
    stats = sdk.stats()
    sdk.close()
    totals = client.get("/api/v1/prompts/greet/ledger?days=2").json()["totals"]
    print(
        f"\nsent {sent} events across {restarts} PostgreSQL restarts; SDK stats {stats}; raw statuses {dict(raw_statuses)}"
    )
    assert restarts == 2
    assert totals["calls"] == sent
    assert totals["input_tokens"] == sent * 100
    assert 500 not in raw_statuses


def test_webhook_receiver_down_alerts_are_delivered_once_when_it_is_back(stack):
    stack.start_web()
    stack.start_worker()
    receiver = WebhookReceiver()
    url, port = receiver.url, receiver.port
    receiver.stop()
    client = stack.client()
    make_prompt(client)
    stack.python(
        "import json; from django.db import transaction; from prompts_app.services import alerts; "
        "from prompts_app.models import Project, Prompt, Webhook; "
        "project = Project.objects.get(name='fault'); "
        f"Webhook.objects.create(project=project, url='{url}'); "
        "prompt = Prompt.objects.get(name='greet'); "
        "[transaction.atomic()(alerts.alert_create)(prompt=prompt, kind=k, advice={'verdict': v, 'figures': {}, 'reasons': []}) "
        " for k, v in (('fine_tune_pays_off', 'fine_tune'), ('fine_tune_no_longer_pays_off', 'keep_prompting'))]; print(1)"
    )
    delivery_state = (
        "import json; from prompts_app.models import WebhookDelivery; "
        "print(json.dumps(list(WebhookDelivery.objects.order_by('pk').values_list('status', 'attempts'))))"
    )
    wait_until(
        lambda: all(a >= 1 for _, a in stack.python(delivery_state)), what="a first, failed attempt"
    )
    assert {s for s, _ in stack.python(delivery_state)} == {"pending"}
    back = WebhookReceiver(port=port)
    try:
        sweep = (
            "import datetime, json; from django.utils import timezone; from prompts_app.services import alerts; "
            "print(alerts.deliveries_sweep(now=timezone.now() + datetime.timedelta(hours=2)))"
        )
        assert stack.python(sweep) == 2
        wait_until(
            lambda: {s for s, _ in stack.python(delivery_state)} == {"delivered"}, what="delivery"
        )
        stack.python(sweep)  # a later sweep sends nothing again
        time.sleep(1)
        print(f"\ndeliveries: {stack.python(delivery_state)}; received {len(back.received)}")
        assert sorted(b["kind"] for b in back.received) == [
            "fine_tune_no_longer_pays_off",
            "fine_tune_pays_off",
        ]
    finally:
        back.stop()


def test_sdk_server_down_serves_the_last_good_prompt_and_buffers_usage(stack, tmp_path):
    from promptledger import PromptLedger

    web = stack.start_web()
    client = stack.client()
    make_prompt(client)
    sdk = PromptLedger(
        base_url=web.url,
        api_key=stack.api_key,
        cache_ttl=0.2,
        flush_interval=0.2,
        cache_dir=str(tmp_path),
    )
    good = sdk.get_prompt("greet", label="production")
    port = web.port
    web.stop()
    served = []
    for _ in range(20):
        prompt = sdk.get_prompt("greet", label="production")
        served.append(prompt.render(name="Ada"))
        sdk.log_usage(prompt, model="gpt-4o-mini", input_tokens=10, output_tokens=5)
        time.sleep(0.05)
    assert served == [good.render(name="Ada")] * 20
    assert sdk.stats()["queued"] > 0
    stack.start_web(port=port)
    assert sdk.flush(timeout=60)
    totals = stack.client().get("/api/v1/prompts/greet/ledger?days=2").json()["totals"]
    print(f"\nserved {len(served)} renders while the server was down; stats {sdk.stats()}")
    sdk.close()
    assert totals["calls"] == 20
