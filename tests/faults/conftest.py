"""A private stack per fault test: its own PostgreSQL cluster, Redis, gunicorn
and Celery workers, which the test stops, restarts and kills. Nothing here
touches the suite's test database or the machine's shared services."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
import pytest

from tests.processes import ROOT, CeleryWorker, PostgresServer, RedisServer, WebServer


class Stack:
    def __init__(self) -> None:
        self.pg = PostgresServer().start()
        self.pg.create_database()
        self.redis = RedisServer().start()
        self.env = {
            "DATABASE_URL": self.pg.url,
            "REDIS_URL": f"{self.redis.url}/0",
            "CELERY_BROKER_URL": f"{self.redis.url}/1",
            "PROVIDER_BACKOFF_SECONDS": "0.05",
            "AUTH_FAILURES_PER_MINUTE": "100000",
            "DEBUG": "false",
        }
        self.manage("migrate", "--verbosity", "0")
        self.api_key = self.manage(
            "create_api_key", "--project", "fault", "--scopes", "read,write,ingest"
        ).strip()
        self.web: WebServer | None = None
        self.workers: list[CeleryWorker] = []

    def manage(self, *args: str, timeout: float = 180) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
            )
        return result.stdout

    def python(self, code: str) -> object:
        """Run Django code against this stack's database; returns what it prints as JSON."""
        return json.loads(self.manage("shell", "-c", code).strip().splitlines()[-1])

    def start_web(self, workers: int = 2, port: int | None = None) -> WebServer:
        self.web = WebServer(env=self.env, workers=workers, port=port).start()
        return self.web

    def start_worker(self, concurrency: int = 2) -> CeleryWorker:
        worker = CeleryWorker(concurrency=concurrency, extra_env=self.env).start()
        self.workers.append(worker)
        return worker

    def client(self, timeout: float = 10.0) -> httpx.Client:
        return httpx.Client(
            base_url=self.web.url,
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=timeout,
        )

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        if self.web:
            self.web.stop()
        self.redis.stop()
        self.pg.destroy()


@pytest.fixture
def stack():
    built = Stack()
    yield built
    built.close()


def wait_until(predicate, timeout: float = 60.0, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
