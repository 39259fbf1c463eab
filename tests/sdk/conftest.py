"""SDK test setup: a live server over real HTTP, a key with every scope, and httpx
transports that count requests and can play a dead or failing server."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import httpx
import pytest

from prompts_app.models import Prompt
from prompts_app.services import library
from tests.factories import PromptFactory, make_version

V1 = "Hello {{ name }}, this is v1."
V2 = "Hello {{ name }}, this is v2."


@dataclass
class Seen:
    method: str
    path: str
    status: int | None  # None: the transport raised
    if_none_match: str | None
    body: bytes = b""


@dataclass
class _Switches:
    down: bool = False  # every request raises ConnectError
    fail_usage_after_send: int = 0  # next N usage POSTs reach the server, then answer 503
    seen: list[Seen] = field(default_factory=list)


class _Recorder:
    def __init__(self) -> None:
        self.switches = _Switches()
        self.lock = threading.Lock()

    @property
    def seen(self) -> list[Seen]:
        with self.lock:
            return list(self.switches.seen)

    def set_down(self, down: bool) -> None:
        self.switches.down = down

    def fail_next_usage_posts(self, n: int) -> None:
        self.switches.fail_usage_after_send = n

    def resolves(self) -> list[Seen]:
        return [s for s in self.seen if s.path.endswith("/resolve")]

    def usage_posts(self) -> list[Seen]:
        return [s for s in self.seen if s.path.endswith("/usage")]

    def _before(self, request: httpx.Request) -> None:
        if self.switches.down:
            with self.lock:
                self.switches.seen.append(
                    Seen(
                        request.method,
                        request.url.path,
                        None,
                        request.headers.get("If-None-Match"),
                        request.content,
                    )
                )
            raise httpx.ConnectError("test: server is down", request=request)

    def _after(self, request: httpx.Request, response: httpx.Response) -> httpx.Response:
        status = response.status_code
        fail = False
        with self.lock:
            if request.url.path.endswith("/usage") and self.switches.fail_usage_after_send > 0:
                self.switches.fail_usage_after_send -= 1
                fail = True
                status = 503
            self.switches.seen.append(
                Seen(
                    request.method,
                    request.url.path,
                    status,
                    request.headers.get("If-None-Match"),
                    request.content,
                )
            )
        if fail:  # the server stored the batch; the client only sees a 503
            return httpx.Response(
                503, json={"error": {"code": "unavailable", "message": "test 503"}}
            )
        return response


class CountingTransport(_Recorder, httpx.BaseTransport):
    def __init__(self) -> None:
        super().__init__()
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self._before(request)
        response = self.inner.handle_request(request)
        response.read()  # the whole answer, so a replaced one still frees its connection
        response.close()
        return self._after(request, response)

    def close(self) -> None:
        self.inner.close()


class AsyncCountingTransport(_Recorder, httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        super().__init__()
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._before(request)
        response = await self.inner.handle_async_request(request)
        await response.aread()
        await response.aclose()
        return self._after(request, response)

    async def aclose(self) -> None:
        await self.inner.aclose()


def wait_for(condition, timeout: float = 10.0, interval: float = 0.01):
    """Poll until condition() is truthy; return its value (fail after timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


@pytest.fixture
def sdk_key(acme) -> str:
    _, raw = library.api_key_create(project=acme, scopes=["read", "write", "ingest"], name="sdk")
    return raw


@pytest.fixture
def server_url(live_server) -> str:
    return live_server.url


@pytest.fixture
def reply(acme) -> Prompt:
    """A text prompt 'reply' with v1 and v2; production -> v1."""
    prompt = PromptFactory(project=acme, name="reply")
    make_version(prompt, V1, model_config={"model": "gpt-4o-mini", "temperature": 0.2})
    make_version(prompt, V2, model_config={"model": "gpt-4o-mini", "temperature": 0.2})
    library.label_move(prompt=prompt, label="production", version_number=1, actor="test")
    return prompt


@pytest.fixture
def transport() -> CountingTransport:
    return CountingTransport()


@pytest.fixture
def make_client(server_url, sdk_key, transport):
    """PromptLedger clients on the live server, closed at teardown."""
    from promptledger import PromptLedger

    made = []

    def make(**kwargs):
        kwargs.setdefault("base_url", server_url)
        kwargs.setdefault("api_key", sdk_key)
        kwargs.setdefault("transport", transport)
        client = PromptLedger(**kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close(timeout=2)


def api(server_url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=server_url, headers={"Authorization": f"Bearer {key}"}, timeout=10)


def ledger_totals(server_url: str, key: str, name: str) -> dict:
    with api(server_url, key) as http:
        response = http.get(f"/api/v1/prompts/{name}/ledger", params={"days": 2})
        assert response.status_code == 200, response.text
        return response.json()["totals"]
