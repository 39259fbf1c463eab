"""What the benchmark runs on, all of it its own: a scratch PostgreSQL database
(``promptledger_bench``, dropped at the end), Redis db 5 (cache and Celery broker,
flushed at the start and the end), gunicorn with a fixed number of workers on a free
port of 127.0.0.1, and, for the eval row, a Celery worker.

The command runs in two processes. The one you start (the *parent*) works out where
PostgreSQL and Redis are, then re-runs the command as a *child* whose environment
points DATABASE_URL, REDIS_URL and CELERY_BROKER_URL at the scratch database and
Redis db 5, so no code the benchmark calls in-process can reach anyone's data. The
child starts what the rows need and stops all of it in ``close()``, on errors and on
Ctrl-C too.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from django.conf import settings

BENCH_DB_NAME = "promptledger_bench"
BENCH_REDIS_DB = 5
GUNICORN_WORKERS = 2
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts" / "bench"
DEFAULT_JSON = ARTIFACTS / "bench.json"


class BenchError(RuntimeError):
    """Something the benchmark needs is missing or broken; the message says what to do.
    Fatal: the run stops (a row's own failure only fails that row)."""

    fatal = True


# --------------------------------------------------------------------------- where things are


@dataclass(frozen=True)
class Targets:
    """The PostgreSQL server and Redis the benchmark uses (not their databases)."""

    pg_host: str
    pg_port: int
    pg_user: str
    pg_password: str
    redis_host: str
    redis_port: int
    redis_password: str = ""

    @classmethod
    def from_settings(
        cls, postgres_url: str | None = None, redis_url: str | None = None
    ) -> Targets:
        """The configured PostgreSQL server when the project runs on one (else
        postgres@127.0.0.1:5432), and the configured Redis host (else 127.0.0.1:6379)."""
        if postgres_url:
            parts = urlsplit(postgres_url)
            pg = (
                parts.hostname or "127.0.0.1",
                parts.port or 5432,
                parts.username or "postgres",
                parts.password or "",
            )
        else:
            db = settings.DATABASES["default"]
            if "postgresql" in db["ENGINE"]:
                pg = (
                    db.get("HOST") or "127.0.0.1",
                    int(db.get("PORT") or 5432),
                    db.get("USER") or "postgres",
                    db.get("PASSWORD") or "",
                )
            else:
                pg = ("127.0.0.1", 5432, "postgres", "")
        redis_url = redis_url or getattr(settings, "REDIS_URL", "") or "redis://127.0.0.1:6379/0"
        parts = urlsplit(redis_url)
        return cls(*pg, parts.hostname or "127.0.0.1", parts.port or 6379, parts.password or "")

    def _pg_url(self, name: str) -> str:
        auth = quote(self.pg_user, safe="")
        if self.pg_password:
            auth += ":" + quote(self.pg_password, safe="")
        return f"postgres://{auth}@{self.pg_host}:{self.pg_port}/{name}"

    @property
    def database_url(self) -> str:
        return self._pg_url(BENCH_DB_NAME)

    @property
    def redis_url(self) -> str:
        auth = f":{quote(self.redis_password, safe='')}@" if self.redis_password else ""
        return f"redis://{auth}{self.redis_host}:{self.redis_port}/{BENCH_REDIS_DB}"

    def child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "DATABASE_URL": self.database_url,
                "REDIS_URL": self.redis_url,
                "CELERY_BROKER_URL": self.redis_url,
                "CACHE_KEY_PREFIX": "plbench",
                "BENCHMARK_ENDPOINTS": "true",
                "DEBUG": "false",
                "LOG_LEVEL": "WARNING",
                "DB_CONN_MAX_AGE": "600",
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop_process_group(process: subprocess.Popen | None, timeout: float = 15.0) -> None:
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


# --------------------------------------------------------------------------- the child's environment


class Environment:
    """Started lazily by ``ensure(needs)``; stopped by ``close()``."""

    def __init__(self, targets: Targets, progress, *, keep_db: bool = False) -> None:
        self.targets = targets
        self.progress = progress
        self.keep_db = keep_db
        self.base: Any = None  # data.Base, once the database is seeded
        self.server_url: str | None = None
        self._gunicorn: subprocess.Popen | None = None
        self._gunicorn_log = None
        self._db_created = False
        self._redis_used = False
        self._lock_file = None
        self.meta: dict = {
            "database": f"{targets.pg_host}:{targets.pg_port}/{BENCH_DB_NAME}",
            "redis": f"{targets.redis_host}:{targets.redis_port}/{BENCH_REDIS_DB}",
            "gunicorn_workers": GUNICORN_WORKERS,
        }

    # -- what rows need

    def ensure(self, needs: tuple[str, ...]) -> None:
        if ("db" in needs or "server" in needs) and self.base is None:
            self._start_db()
        if "server" in needs and self._gunicorn is None:
            self._start_gunicorn()

    # -- database and redis

    def _admin_connection(self):
        import psycopg

        return psycopg.connect(
            host=self.targets.pg_host,
            port=self.targets.pg_port,
            user=self.targets.pg_user,
            password=self.targets.pg_password or None,
            dbname="postgres",
            autocommit=True,
            connect_timeout=5,
        )

    def redis(self):
        import redis

        return redis.Redis.from_url(self.targets.redis_url)

    def _take_lock(self) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(ARTIFACTS / ".lock", "w")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BenchError(
                f"Another `manage.py bench` is running (it holds {ARTIFACTS / '.lock'}): "
                f"they would share the database {BENCH_DB_NAME}. Wait for it to finish."
            ) from None

    def _start_db(self) -> None:
        from django.core.management import call_command
        from django.db import connection

        from prompts_app.bench import data

        if connection.settings_dict["NAME"] != BENCH_DB_NAME:
            raise BenchError(
                f"refusing to run: the database is {connection.settings_dict['NAME']!r}, "
                f"not the scratch {BENCH_DB_NAME!r}"
            )
        self._take_lock()
        self.progress(
            f"creating the scratch database {BENCH_DB_NAME} on {self.targets.pg_host}:{self.targets.pg_port}"
        )
        try:
            with self._admin_connection() as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB_NAME}" WITH (FORCE)')
                admin.execute(f'CREATE DATABASE "{BENCH_DB_NAME}"')
        except Exception as exc:
            raise BenchError(
                f"Cannot create the scratch database on {self.targets.pg_host}:{self.targets.pg_port} "
                f"as {self.targets.pg_user}: {exc}. Start PostgreSQL (scripts/services-up) or pass --postgres."
            ) from exc
        self._db_created = True
        try:
            self.redis().flushdb()
        except Exception as exc:
            raise BenchError(
                f"Cannot reach Redis at {self.targets.redis_url}: {exc}. Start it (scripts/services-up)."
            ) from exc
        self._redis_used = True
        started = time.monotonic()
        call_command("migrate", verbosity=0, interactive=False)
        self.progress(f"migrated in {time.monotonic() - started:.1f} s; seeding the base data")
        self.base = data.seed_base()
        self.progress(
            f"project '{self.base.project.name}', prompt '{self.base.chat_prompt}' at production"
        )

    # -- gunicorn

    def _start_gunicorn(self) -> None:
        import httpx

        port = free_port()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        log_path = ARTIFACTS / "gunicorn.log"
        self._gunicorn_log = log_path.open("w")
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--workers",
            str(GUNICORN_WORKERS),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--timeout",
            "120",
        ]
        self.progress(
            f"starting gunicorn --workers {GUNICORN_WORKERS} --bind 127.0.0.1:{port} (log {log_path})"
        )
        self._gunicorn = subprocess.Popen(
            cmd,
            cwd=settings.BASE_DIR,
            env=os.environ.copy(),
            stdout=self._gunicorn_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            if self._gunicorn.poll() is not None:
                raise BenchError(
                    f"gunicorn exited with {self._gunicorn.returncode}; see {log_path}"
                )
            try:
                answer = httpx.get(f"{url}/bench/ping", timeout=2)
                if answer.status_code == 200:
                    break
                if answer.status_code == 404:
                    raise BenchError(
                        "gunicorn answers but /bench/ping is missing: is BENCHMARK_ENDPOINTS "
                        "wired in config/urls.py (prompts_app.api.bench_views)?"
                    )
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"gunicorn did not answer within 60 s; see {log_path}")
            time.sleep(0.2)
        # every worker must have booted before anything is measured
        pids = set()
        for _ in range(200):
            pids.add(httpx.get(f"{url}/bench/ping", timeout=5).json()["pid"])
            if len(pids) >= GUNICORN_WORKERS:
                break
        self.server_url = url
        self.meta["gunicorn"] = " ".join(cmd[2:])
        self.progress(f"gunicorn ready at {url} (workers seen: {len(pids)})")

    # -- celery

    @contextlib.contextmanager
    def celery_worker(self, concurrency: int = 2):
        """A Celery worker on the scratch database and Redis db 5, for the block."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        log_path = ARTIFACTS / "celery.log"
        log = log_path.open("w")
        name = f"bench-{uuid.uuid4().hex[:8]}@%h"
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=prefork",
                f"--concurrency={concurrency}",
                "--loglevel=INFO",
                "-n",
                name,
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=settings.BASE_DIR,
            env=os.environ.copy(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while "ready." not in log_path.read_text():
                if process.poll() is not None:
                    raise BenchError(f"the Celery worker exited; see {log_path}")
                if time.monotonic() > deadline:
                    raise BenchError(f"the Celery worker did not start within 60 s; see {log_path}")
                time.sleep(0.2)
            yield process
        finally:
            _stop_process_group(process)
            log.close()

    # -- the end

    def close(self) -> None:
        if self._gunicorn is not None:
            started = time.monotonic()
            _stop_process_group(self._gunicorn)
            self.progress(f"stopped gunicorn ({time.monotonic() - started:.1f} s)")
        self._gunicorn = None
        if self._gunicorn_log is not None:
            self._gunicorn_log.close()
        if self._db_created:
            from django.db import connections

            connections.close_all()
            if self.keep_db:
                self.progress(f"kept the scratch database {BENCH_DB_NAME} (--keep-db)")
            else:
                try:
                    with self._admin_connection() as admin:
                        admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB_NAME}" WITH (FORCE)')
                    self.progress(f"dropped the scratch database {BENCH_DB_NAME}")
                except Exception as exc:  # noqa: BLE001
                    self.progress(f"could not drop {BENCH_DB_NAME}: {exc}")
        if self._redis_used and not self.keep_db:
            with contextlib.suppress(Exception):
                self.redis().flushdb()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
