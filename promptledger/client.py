"""The synchronous client: ``PromptLedger``."""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import Future
from typing import Any

import httpx

from promptledger._base import (
    BaseClient,
    _monotonic,
    raise_for_response,
    resolve_path,
    transport_error,
    versions_path,
)
from promptledger._cache import Entry, Key, selector
from promptledger.errors import PromptLedgerError
from promptledger.prompt import Prompt

logger = logging.getLogger("promptledger")

__all__ = ["PromptLedger"]

Fallback = str | list[dict[str, str]]


class PromptLedger(BaseClient):
    """Fetch prompts (cached, stale-while-revalidate) and report token usage.

    >>> client = PromptLedger(base_url="http://127.0.0.1:8000", api_key="pl_...")
    >>> prompt = client.get_prompt("support-reply", label="production")
    >>> messages = prompt.render(customer_name="Ada", order_id="A-1", issue="...", tone="warm")

    ``base_url`` and ``api_key`` default to the ``PROMPTLEDGER_URL`` and
    ``PROMPTLEDGER_API_KEY`` environment variables.

    Caching: a prompt is served from memory for ``cache_ttl`` seconds (default 60).
    After that the cached copy is still returned at once while one background request
    revalidates it (``If-None-Match``; a 304 costs the server almost nothing). If the
    server is down or slow, the last good copy keeps being served. ``cache_dir`` adds a
    disk cache so a restarted process starts warm. Thread-safe; concurrent misses for
    the same prompt make one request.

    Usage: :meth:`log_usage` queues an event and returns at once; a background thread
    sends batches (``batch_size``, ``flush_interval``), retries transient failures
    with the same event ids, and holds at most ``max_queue`` events. Call
    :meth:`close` (or use ``with PromptLedger(...) as client:``) to flush; pending
    events are also flushed at interpreter exit.

    ``transport``: an ``httpx.BaseTransport`` for every request (tests, proxies,
    custom TLS).
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        cache_ttl: float = 60.0,
        cache_dir: str | os.PathLike[str] | None = None,
        timeout: float | httpx.Timeout | None = None,
        batch_size: int = 100,
        flush_interval: float = 2.0,
        max_queue: int = 10_000,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        exit_flush_timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(
            base_url,
            api_key,
            cache_ttl=cache_ttl,
            cache_dir=cache_dir,
            timeout=timeout,
            batch_size=batch_size,
            flush_interval=flush_interval,
            max_queue=max_queue,
            max_retries=max_retries,
            backoff_base=backoff_base,
            exit_flush_timeout=exit_flush_timeout,
        )
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=self._headers,
            timeout=self._timeout,
            transport=transport,
        )
        self._inflight: dict[Key, Future[Prompt]] = {}

    # ------------------------------------------------------------------ prompts

    def get_prompt(
        self,
        name: str,
        *,
        label: str | None = None,
        version: int | None = None,
        fallback: Fallback | None = None,
    ) -> Prompt:
        """The prompt for ``label`` (default: ``production``, else the latest version)
        or ``version``. ``fallback``: a template (str, text) or message list (chat)
        returned as a Prompt with ``is_fallback=True`` when the prompt cannot be
        fetched and nothing is cached. Raises PromptNotFound, AuthenticationError,
        ServerUnavailable (all PromptLedgerError) when it cannot answer."""
        # The hit path: a dict lookup and a clock comparison, no lock.
        entry = self._entries.get((name, label, version))
        if entry is not None and _monotonic() < entry.expires_at:
            return entry.prompt
        return self._get_slow(name, label, version, fallback, entry)

    def _get_slow(
        self,
        name: str,
        label: str | None,
        version: int | None,
        fallback: Fallback | None,
        entry: Entry | None,
    ) -> Prompt:
        key = self._key(name, label, version)
        if entry is not None:  # stale: serve it, revalidate in the background
            self._start_refresh(key)
            return entry.prompt
        return self._load(key, fallback)

    def refresh(self, name: str, *, label: str | None = None, version: int | None = None) -> Prompt:
        """Revalidate now (blocking), whatever the TTL; returns the current prompt."""
        key = self._key(name, label, version)
        old = self._entries.get(key)
        status, payload, etag = self._fetch(key, old.etag if old is not None else None)
        entry, payload = self._install(key, status, payload, etag, old)
        if self._disk is not None:
            self._disk.store(key, payload, entry.etag, entry.fetched_at)
        return entry.prompt

    def fetch_resolved(
        self, name: str, *, label: str | None = None, version: int | None = None
    ) -> dict[str, Any]:
        """The raw resolve payload from the server (no cache)."""
        key = self._key(name, label, version)
        _, payload, _ = self._fetch(key, None)
        assert payload is not None
        return payload

    def _fetch(self, key: Key, etag: str | None) -> tuple[int, dict[str, Any] | None, str | None]:
        if self._closed:
            raise PromptLedgerError("This PromptLedger client is closed.")
        name, label, version = key
        headers = {"If-None-Match": etag} if etag else None
        try:
            response = self._http.get(
                resolve_path(name), params=selector(label, version), headers=headers
            )
        except httpx.HTTPError as exc:
            raise transport_error(exc, self.base_url) from exc
        if response.status_code == 304 and etag:
            return 304, None, response.headers.get("ETag") or etag
        raise_for_response(response)
        try:
            payload = response.json()
        except ValueError as exc:
            raise PromptLedgerError(
                f"The server sent a resolve answer that is not JSON: {exc}"
            ) from exc
        return 200, payload, response.headers.get("ETag")

    def _load(self, key: Key, fallback: Fallback | None) -> Prompt:
        """A miss: one thread fetches (disk, then network), the others wait for it."""
        known = self._known_failure(key, fallback)  # raises the recent error if no fallback
        if known is not None:
            return known
        future: Future[Prompt] | None = None
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                leader = False
            else:
                future = self._inflight.get(key)
                leader = future is None
                if future is None:
                    future = self._inflight[key] = Future()
        if entry is not None:  # filled while we were getting the lock
            if _monotonic() >= entry.expires_at:
                self._start_refresh(key)
            return entry.prompt
        assert future is not None
        if leader:
            try:
                prompt = self._cold_fetch(key)
            except BaseException as exc:
                self._finish(key, future, error=exc)
                if fallback is not None and isinstance(exc, PromptLedgerError):
                    return self._fallback(key, fallback)
                raise
            self._finish(key, future, result=prompt)
            return prompt
        try:
            return future.result()
        except PromptLedgerError:
            if fallback is None:
                raise
            return self._fallback(key, fallback)

    def _finish(
        self,
        key: Key,
        future: Future[Prompt],
        *,
        result: Prompt | None = None,
        error: BaseException | None = None,
    ) -> None:
        with self._lock:
            self._inflight.pop(key, None)
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def _cold_fetch(self, key: Key) -> Prompt:
        entry = self._from_disk(key)
        if entry is not None:
            if _monotonic() >= entry.expires_at:
                self._start_refresh(key)
            return entry.prompt
        try:
            status, payload, etag = self._fetch(key, None)
        except PromptLedgerError as exc:
            self._record_failure(key, exc)
            raise
        entry, payload = self._install(key, status, payload, etag, None)
        if self._disk is not None:
            self._disk.store(key, payload, entry.etag, entry.fetched_at)
        return entry.prompt

    def _start_refresh(self, key: Key) -> None:
        with self._lock:
            if key in self._refreshing or self._closed:
                return
            self._refreshing.add(key)
        thread = threading.Thread(
            target=self._refresh, args=(key,), name="promptledger-refresh", daemon=True
        )
        try:
            thread.start()
        except RuntimeError:  # interpreter shutting down
            with self._lock:
                self._refreshing.discard(key)

    def _refresh(self, key: Key) -> None:
        try:
            old = self._entries.get(key)
            try:
                status, payload, etag = self._fetch(key, old.etag if old is not None else None)
                entry, payload = self._install(key, status, payload, etag, old)
            except Exception as exc:  # noqa: BLE001 - a failed refresh keeps the stale copy
                if old is not None:
                    self._keep_stale(key, old, exc)
                elif isinstance(exc, PromptLedgerError):
                    self._record_failure(key, exc)
                return
            if self._disk is not None:
                self._disk.store(key, payload, entry.etag, entry.fetched_at)
        finally:
            with self._lock:
                self._refreshing.discard(key)

    # ------------------------------------------------------------------ versions

    def create_version(
        self,
        name: str,
        *,
        template: str | None = None,
        messages: list[dict[str, str]] | None = None,
        variables: dict[str, Any] | None = None,
        model_config: dict[str, Any] | None = None,
        example_set_version: dict[str, Any] | None = None,
        message: str | None = None,
    ) -> dict[str, Any]:
        """Create version n+1 of a prompt (needs the ``write`` scope); returns the
        server's version JSON. Raises InvalidRequest with the server's message."""
        body: dict[str, Any] = {}
        for field, value in (
            ("template", template),
            ("messages", messages),
            ("variables", variables),
            ("model_config", model_config),
            ("example_set_version", example_set_version),
            ("message", message),
        ):
            if value is not None:
                body[field] = value
        return self.create_version_raw(name, body)

    def create_version_raw(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a version body as is (the keys of ``POST .../versions/``)."""
        try:
            response = self._http.post(versions_path(name), json=body)
        except httpx.HTTPError as exc:
            raise transport_error(exc, self.base_url) from exc
        raise_for_response(response)
        created: dict[str, Any] = response.json()
        return created

    # ------------------------------------------------------------------ usage / lifecycle

    def _usage_http(self) -> httpx.Client:
        return self._http

    def flush(self, timeout: float | None = None) -> bool:
        """Block until every queued usage event is sent (or ``timeout`` seconds pass).
        True when nothing is left to send."""
        return self._batcher.flush(timeout)

    def close(self, timeout: float | None = 5.0) -> bool:
        """Flush usage (up to ``timeout`` seconds), stop the sender thread and close the
        HTTP connections. True when every event was sent. Idempotent."""
        if self._closed:
            return True
        self._closed = True
        drained = self._close_usage(timeout)
        self._http.close()
        return drained

    def __enter__(self) -> PromptLedger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<PromptLedger {self.base_url} ttl={self.cache_ttl:g}s>"
