"""What the sync and async clients share: configuration, the cache dict, the usage
batcher and the usage helpers. Only the HTTP calls differ between the two."""

from __future__ import annotations

import atexit
import datetime as dt
import hashlib
import logging
import os
import threading
import time
import weakref
from typing import Any
from urllib.parse import quote

import httpx

from promptledger import __version__
from promptledger._cache import DiskCache, Entry, Key, age_to_deadline
from promptledger.errors import PromptLedgerError, ServerUnavailable, error_from_response
from promptledger.prompt import Prompt
from promptledger.usage import (
    SendResult,
    UsageBatcher,
    anthropic_usage,
    make_event,
    openai_usage,
)

logger = logging.getLogger("promptledger")

ENV_URL = "PROMPTLEDGER_URL"
ENV_API_KEY = "PROMPTLEDGER_API_KEY"
DEFAULT_TTL = 60.0
DEFAULT_TIMEOUT = httpx.Timeout(5.0, connect=2.0)
ERROR_RETRY_SECONDS = 5.0  # after a failed refresh, try again after min(ttl, this)
USER_AGENT = f"promptledger-python/{__version__}"

_monotonic = time.monotonic

# Every batcher that may hold unsent events, closed (flushed) at interpreter exit.
_LIVE_BATCHERS: weakref.WeakSet[UsageBatcher] = weakref.WeakSet()
_EXIT_TIMEOUTS: weakref.WeakKeyDictionary[UsageBatcher, float] = weakref.WeakKeyDictionary()


@atexit.register
def _flush_at_exit() -> None:  # pragma: no cover - runs at interpreter exit
    for batcher in list(_LIVE_BATCHERS):
        try:
            batcher.close(timeout=_EXIT_TIMEOUTS.get(batcher, 5.0))
        except Exception:  # noqa: BLE001
            logger.exception("promptledger: flushing usage at exit failed")


def _normalize_base_url(url: str) -> str:
    url = url.strip().rstrip("/")
    for suffix in ("/api/v1", "/api"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    if not url.startswith(("http://", "https://")):
        raise PromptLedgerError(f"base_url must start with http:// or https://, not {url!r}.")
    return url


def resolve_path(name: str) -> str:
    return f"/api/v1/prompts/{quote(name, safe='')}/resolve"


def versions_path(name: str) -> str:
    return f"/api/v1/prompts/{quote(name, safe='')}/versions/"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def raise_for_response(response: httpx.Response) -> None:
    """Raise the PromptLedgerError for an error answer (>= 400)."""
    if response.status_code >= 400:
        raise error_from_response(response.status_code, _json_or_none(response), response.text)


def transport_error(exc: Exception, base_url: str) -> ServerUnavailable:
    if isinstance(exc, httpx.TimeoutException):
        return ServerUnavailable(f"PromptLedger at {base_url} did not answer in time ({exc!r}).")
    return ServerUnavailable(f"Cannot reach PromptLedger at {base_url}: {exc}")


class BaseClient:
    """Configuration, the prompt cache and usage reporting (shared by both clients)."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        cache_ttl: float = DEFAULT_TTL,
        cache_dir: str | os.PathLike[str] | None = None,
        timeout: float | httpx.Timeout | None = None,
        batch_size: int = 100,
        flush_interval: float = 2.0,
        max_queue: int = 10_000,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        exit_flush_timeout: float = 5.0,
        usage_transport: httpx.BaseTransport | None = None,
    ) -> None:
        base_url = base_url or os.environ.get(ENV_URL)
        api_key = api_key or os.environ.get(ENV_API_KEY)
        if not base_url:
            raise PromptLedgerError(
                f"No server URL: pass base_url= or set {ENV_URL} (e.g. http://127.0.0.1:8000)."
            )
        if not api_key:
            raise PromptLedgerError(f"No API key: pass api_key= or set {ENV_API_KEY}.")
        if cache_ttl < 0:
            raise ValueError("cache_ttl cannot be negative.")
        self.base_url = _normalize_base_url(base_url)
        self._api_key = api_key
        self.cache_ttl = float(cache_ttl)
        self._timeout = timeout if timeout is not None else DEFAULT_TIMEOUT
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        }
        self._entries: dict[Key, Entry] = {}
        self._lock = threading.Lock()  # guards _refreshing / _inflight, never the hit path
        self._refreshing: set[Key] = set()
        # keys whose cold fetch failed: (monotonic time of the next try, the error)
        self._failures: dict[Key, tuple[float, PromptLedgerError]] = {}
        self._closed = False
        namespace = hashlib.sha256(f"{self.base_url}\n{api_key}".encode()).hexdigest()[:24]
        self._disk = DiskCache(cache_dir, namespace) if cache_dir is not None else None

        self._usage_transport = usage_transport
        self._usage_http_client: httpx.Client | None = None
        self._usage_http_lock = threading.Lock()
        self._batcher = UsageBatcher(
            self._send_usage,
            batch_size=batch_size,
            flush_interval=flush_interval,
            max_queue=max_queue,
            max_retries=max_retries,
            backoff_base=backoff_base,
        )
        _LIVE_BATCHERS.add(self._batcher)
        _EXIT_TIMEOUTS[self._batcher] = exit_flush_timeout

    # ------------------------------------------------------------------ cache helpers

    @staticmethod
    def _key(name: str, label: str | None, version: int | None) -> Key:
        if not isinstance(name, str) or not name:
            raise ValueError("The prompt name must be a non-empty string.")
        if label is not None and version is not None:
            raise ValueError("Give either label= or version=, not both.")
        if version is not None and (
            isinstance(version, bool) or not isinstance(version, int) or version < 1
        ):
            raise ValueError(f"version must be a positive int, not {version!r}.")
        if label is not None and (not isinstance(label, str) or not label):
            raise ValueError("label must be a non-empty string.")
        return (name, label, version)

    def _error_retry_delay(self) -> float:
        return max(0.05, min(self.cache_ttl, ERROR_RETRY_SECONDS))

    def _install(
        self,
        key: Key,
        status: int,
        payload: dict[str, Any] | None,
        etag: str | None,
        old: Entry | None,
    ) -> tuple[Entry, dict[str, Any]]:
        """Build and swap in the entry for a 200 or a 304; returns it with the payload
        to write to disk."""
        fetched_at = time.time()
        if status == 304 and old is not None:
            prompt = old.prompt
            payload = prompt._payload
            etag = etag or old.etag
        else:
            assert payload is not None
            prompt = Prompt.from_payload(payload)
        entry = Entry(prompt, etag, _monotonic() + self.cache_ttl, fetched_at)
        self._entries[key] = entry  # one atomic swap
        self._failures.pop(key, None)
        return entry, payload

    def _keep_stale(self, key: Key, old: Entry, exc: BaseException) -> None:
        """A refresh failed: keep serving ``old``; try again after a short delay."""
        logger.warning(
            "promptledger: refreshing prompt %r failed, serving the cached copy (%s): %s",
            key[0],
            "fallback" if old.prompt.is_fallback else f"v{old.prompt.version}",
            exc,
        )
        self._entries[key] = Entry(
            old.prompt, old.etag, _monotonic() + self._error_retry_delay(), old.fetched_at
        )

    def _from_disk(self, key: Key) -> Entry | None:
        if self._disk is None:
            return None
        found = self._disk.load(key)
        if found is None:
            return None
        payload, etag, fetched_at = found
        try:
            prompt = Prompt.from_payload(payload)
        except (ValueError, KeyError) as exc:
            logger.warning("promptledger: ignoring a bad cache file for %r: %s", key[0], exc)
            return None
        entry = Entry(prompt, etag, age_to_deadline(fetched_at, self.cache_ttl), fetched_at)
        self._entries[key] = entry
        return entry

    @staticmethod
    def _fallback(key: Key, fallback: Any) -> Prompt:
        name, label, version = key
        return Prompt.fallback(name, fallback, label=label, version=version)

    def _record_failure(self, key: Key, exc: PromptLedgerError) -> None:
        """A cold fetch failed: for a short pause, answer this key without a request
        (the fallback, or this error) while the server is retried in the background."""
        self._failures[key] = (_monotonic() + self._error_retry_delay(), exc)
        logger.warning(
            "promptledger: prompt %r could not be fetched (%s); callers get their fallback "
            "or this error, and the server is retried in the background",
            key[0],
            exc,
        )

    def _known_failure(self, key: Key, fallback: Any) -> Prompt | None:
        """None when no recent failure is recorded for ``key``; else the fallback
        Prompt, or the recorded error raised. Starts the background retry when due."""
        failure = self._failures.get(key)
        if failure is None:
            return None
        retry_at, exc = failure
        if _monotonic() >= retry_at:
            self._start_refresh(key)
        if fallback is not None:
            return self._fallback(key, fallback)
        raise exc.with_traceback(None)

    def _start_refresh(self, key: Key) -> None:
        raise NotImplementedError

    def clear_cache(self) -> None:
        """Forget every cached prompt and failure (the on-disk cache is left as it is)."""
        self._entries.clear()
        self._failures.clear()

    def cached_prompt(
        self, name: str, *, label: str | None = None, version: int | None = None
    ) -> Prompt | None:
        """The cached prompt for this key, fresh or stale, without any request."""
        entry = self._entries.get((name, label, version))
        return entry.prompt if entry is not None else None

    # ------------------------------------------------------------------ usage

    def _usage_http(self) -> httpx.Client:
        client = self._usage_http_client
        if client is None:
            with self._usage_http_lock:
                if self._usage_http_client is None:
                    self._usage_http_client = httpx.Client(
                        base_url=self.base_url,
                        headers=self._headers,
                        timeout=self._timeout,
                        transport=self._usage_transport,
                    )
                client = self._usage_http_client
        return client

    def _send_usage(self, batch: list[dict[str, Any]]) -> SendResult:
        try:
            response = self._usage_http().post("/api/v1/usage", json={"events": batch})
        except httpx.HTTPError as exc:
            return SendResult(
                ok=False, retry=True, message=str(transport_error(exc, self.base_url))
            )
        status = response.status_code
        if 200 <= status < 300:
            return SendResult(ok=True, body=_json_or_none(response), status_code=status)
        error = error_from_response(status, _json_or_none(response), response.text)
        retry = status in (408, 429) or status >= 500
        return SendResult(
            ok=False,
            retry=retry,
            status_code=status,
            message=error.message,
            retry_after=_retry_after(response),
        )

    def log_usage(
        self,
        prompt: Prompt | str,
        *,
        model: str,
        input_tokens: int,
        output_tokens: int,
        cached_input_tokens: int = 0,
        cache_write_input_tokens: int = 0,
        reasoning_tokens: int = 0,
        latency_ms: float | None = None,
        status: str = "ok",
        version: int | None = None,
        label: str | None = None,
        timestamp: dt.datetime | None = None,
    ) -> str:
        """Queue one usage event and return its event id at once (no I/O here).

        ``prompt`` is the Prompt you rendered (its name and version are recorded), or a
        prompt name with ``version=`` or ``label=``. ``input_tokens`` counts every input
        token: of them ``cached_input_tokens`` were cache reads and
        ``cache_write_input_tokens`` cache writes (each tier is priced with its own
        price). ``reasoning_tokens`` are part of ``output_tokens`` (billed as output).
        Raises ValueError for impossible numbers. The event is sent by a background
        thread; see :meth:`stats` and :meth:`flush`.
        """
        event = make_event(
            prompt,
            model=model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_input_tokens=cached_input_tokens,
            cache_write_input_tokens=cache_write_input_tokens,
            reasoning_tokens=reasoning_tokens,
            latency_ms=latency_ms,
            status=status,
            version=version,
            label=label,
            timestamp=timestamp,
        )
        self._batcher.add(event)
        event_id: str = event["event_id"]
        return event_id

    def log_openai_response(
        self,
        prompt: Prompt | str,
        response: Any,
        *,
        latency_ms: float | None = None,
        status: str = "ok",
        model: str | None = None,
        version: int | None = None,
        label: str | None = None,
    ) -> str:
        """Log the usage of an OpenAI(-compatible) response, object or dict: Chat
        Completions ``usage.prompt_tokens`` / ``completion_tokens`` with the cache
        reads and writes of ``prompt_tokens_details`` and the reasoning tokens of
        ``completion_tokens_details`` (or the Responses API's ``input_tokens`` /
        ``output_tokens`` and their details), and ``response.model``. See
        :func:`promptledger.usage.openai_usage`."""
        numbers = openai_usage(response)
        return self.log_usage(
            prompt,
            model=model or numbers["model"] or "",
            input_tokens=numbers["input_tokens"],
            output_tokens=numbers["output_tokens"],
            cached_input_tokens=numbers["cached_input_tokens"],
            cache_write_input_tokens=numbers["cache_write_input_tokens"],
            reasoning_tokens=numbers["reasoning_tokens"],
            latency_ms=latency_ms,
            status=status,
            version=version,
            label=label,
        )

    def log_anthropic_response(
        self,
        prompt: Prompt | str,
        response: Any,
        *,
        latency_ms: float | None = None,
        status: str = "ok",
        model: str | None = None,
        version: int | None = None,
        label: str | None = None,
    ) -> str:
        """Log the usage of an Anthropic Messages response, object or dict
        (``usage.input_tokens`` / ``output_tokens`` / ``cache_read_input_tokens`` /
        ``cache_creation_input_tokens``; cache reads and writes count as input, 1-hour
        writes at the default write price). See :func:`promptledger.usage.anthropic_usage`."""
        numbers = anthropic_usage(response)
        return self.log_usage(
            prompt,
            model=model or numbers["model"] or "",
            input_tokens=numbers["input_tokens"],
            output_tokens=numbers["output_tokens"],
            cached_input_tokens=numbers["cached_input_tokens"],
            cache_write_input_tokens=numbers["cache_write_input_tokens"],
            reasoning_tokens=numbers["reasoning_tokens"],
            latency_ms=latency_ms,
            status=status,
            version=version,
            label=label,
        )

    def stats(self) -> dict[str, int]:
        """Usage reporting counters: ``queued`` (not yet acknowledged), ``sent``
        (acknowledged: accepted + duplicates), ``dropped`` (buffer overflow, or still
        queued at close), ``failed_batches`` (batches that exhausted their retries and
        were requeued), ``rejected`` (events the server refused), plus ``accepted``,
        ``duplicates``, ``unpriced``, ``retries``; and ``cached_prompts``."""
        stats = self._batcher.stats()
        stats["cached_prompts"] = len(self._entries)
        return stats

    def _close_usage(self, timeout: float | None) -> bool:
        drained = self._batcher.close(timeout=timeout)
        _LIVE_BATCHERS.discard(self._batcher)
        with self._usage_http_lock:
            if self._usage_http_client is not None:
                self._usage_http_client.close()
                self._usage_http_client = None
        return drained
