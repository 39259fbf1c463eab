"""Shared test setup: named actors, including an outsider who must see nothing.

- acme: the project under test, with a reader (read), a writer (read, write)
  and an ingester (ingest) key;
- globex: the outsider, with its own all-scopes key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

from prompts_app.models import Project
from prompts_app.services import library


def pytest_configure(config):
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        pytest.exit(
            "The test suite runs against PostgreSQL: run it with scripts/test "
            "(or set DATABASE_URL=postgres://postgres@127.0.0.1:5432/promptledger).",
            returncode=2,
        )


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield


@dataclass
class Actor:
    project: Project
    raw_key: str
    client: APIClient


def _actor(project: Project, scopes: list[str], name: str) -> Actor:
    _, raw = library.api_key_create(project=project, scopes=scopes, name=name)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return Actor(project=project, raw_key=raw, client=client)


@pytest.fixture
def acme(db) -> Project:
    project, _ = library.project_get_or_create(name="acme")
    return project


@pytest.fixture
def writer(acme) -> Actor:
    return _actor(acme, ["read", "write"], "writer")


@pytest.fixture
def reader(acme) -> Actor:
    return _actor(acme, ["read"], "reader")


@pytest.fixture
def ingester(acme) -> Actor:
    return _actor(acme, ["ingest"], "ingester")


@pytest.fixture
def outsider(db) -> Actor:
    project, _ = library.project_get_or_create(name="globex")
    return _actor(project, ["read", "write", "ingest"], "outsider")


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()


@pytest.fixture(scope="module")
def celery_worker(django_db_setup, django_db_blocker):
    """A real Celery worker for one test module, on the test database and the Redis
    broker. Module-scoped: a worker left running would race later modules' table
    flushes with the eval runs their new versions enqueue."""
    import redis

    from tests.processes import CeleryWorker

    broker = settings.CELERY_BROKER_URL
    if not broker.startswith("redis://"):
        pytest.exit(
            "Worker tests need CELERY_BROKER_URL=redis://…: run them with scripts/test.",
            returncode=2,
        )
    redis.Redis.from_url(broker).flushdb()  # no stale messages from an earlier run
    worker = CeleryWorker().start()
    yield worker
    worker.stop()


@pytest.fixture
def fake_openai():
    from tests.fakes.openai_server import FakeOpenAI

    server = FakeOpenAI().start()
    yield server
    server.stop()


# Per-request INFO lines from httpx drown the output of the fault and SDK tests.
logging.getLogger("httpx").setLevel(logging.WARNING)
