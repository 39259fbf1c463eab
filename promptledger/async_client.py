"""The asyncio client: ``AsyncPromptLedger``, with the same behaviour as PromptLedger."""

from __future__ import annotations

import asyncio
import logging
import os
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

__all__ = ["AsyncPromptLedger"]

Fallback = str | list[dict[str, str]]


class AsyncPromptLedger(BaseClient):
    """The asyncio twin of :class:`~promptledger.PromptLedger` (``httpx.AsyncClient``).

    Same cache semantics: hits are a dict lookup; after the TTL the cached prompt is
    returned at once and one asyncio task revalidates it; concurrent misses for one
    prompt share one request (a shared task per key, so cancelling one caller never
    cancels the fetch the others wait for). Use one instance per event loop.

    Usage reporting is the same thread-based batcher as the sync client (``log_usage``
    is a plain, non-blocking method), so events are still sent after the loop stops
    and flushed at interpreter exit. ``await client.flush()`` / ``await client.aclose()``
    wait for it without blocking the loop.

    ``transport``: an ``httpx.AsyncBaseTransport`` for prompt requests;
    ``usage_transport``: an ``httpx.BaseTransport`` for the usage thread.
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
        transport: httpx.AsyncBaseTransport | None = None,
        usage_transport: httpx.BaseTransport | None = None,
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
            usage_transport=usage_transport,
        )
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=self._headers,
            timeout=self._timeout,
            transport=transport,
        )
        self._inflight: dict[Key, asyncio.Task[Prompt]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ prompts

    async def get_prompt(
        self,
        name: str,
        *,
        label: str | None = None,
        version: int | None = None,
        fallback: Fallback | None = None,
    ) -> Prompt:
        """See :meth:`PromptLedger.get_prompt`."""
        entry = self._entries.get((name, label, version))
        if entry is not None and _monotonic() < entry.expires_at:
            return entry.prompt
        return await self._get_slow(name, label, version, fallback, entry)

    async def _get_slow(
        self,
        name: str,
        label: str | None,
        version: int | None,
        fallback: Fallback | None,
        entry: Entry | None,
    ) -> Prompt:
        key = self._key(name, label, version)
        if entry is not None:
            self._start_refresh(key)
            return entry.prompt
        known = self._known_failure(key, fallback)  # raises the recent error if no fallback
        if known is not None:
            return known
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._cold_fetch(key))
            self._inflight[key] = task

            def done(t: asyncio.Task[Prompt], key: Key = key) -> None:
                if self._inflight.get(key) is t:
                    del self._inflight[key]
                if not t.cancelled():
                    t.exception()  # retrieved: no "exception never retrieved" noise

            task.add_done_callback(done)
        try:
            return await asyncio.shield(task)
        except PromptLedgerError:
            if fallback is None:
                raise
            return self._fallback(key, fallback)

    async def refresh(
        self, name: str, *, label: str | None = None, version: int | None = None
    ) -> Prompt:
        """Revalidate now, whatever the TTL; returns the current prompt."""
        key = self._key(name, label, version)
        old = self._entries.get(key)
        status, payload, etag = await self._fetch(key, old.etag if old is not None else None)
        entry, payload = self._install(key, status, payload, etag, old)
        await self._store(key, payload, entry)
        return entry.prompt

    async def fetch_resolved(
        self, name: str, *, label: str | None = None, version: int | None = None
    ) -> dict[str, Any]:
        """The raw resolve payload from the server (no cache)."""
        key = self._key(name, label, version)
        _, payload, _ = await self._fetch(key, None)
        assert payload is not None
        return payload

    async def _fetch(
        self, key: Key, etag: str | None
    ) -> tuple[int, dict[str, Any] | None, str | None]:
        if self._closed:
            raise PromptLedgerError("This AsyncPromptLedger client is closed.")
        name, label, version = key
        headers = {"If-None-Match": etag} if etag else None
        try:
            response = await self._http.get(
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

    async def _store(self, key: Key, payload: dict[str, Any], entry: Entry) -> None:
        if self._disk is not None:
            await asyncio.to_thread(self._disk.store, key, payload, entry.etag, entry.fetched_at)

    async def _cold_fetch(self, key: Key) -> Prompt:
        if self._disk is not None:
            entry = await asyncio.to_thread(self._from_disk, key)
            if entry is not None:
                if _monotonic() >= entry.expires_at:
                    self._start_refresh(key)
                return entry.prompt
        try:
            status, payload, etag = await self._fetch(key, None)
        except PromptLedgerError as exc:
            self._record_failure(key, exc)
            raise
        entry, payload = self._install(key, status, payload, etag, None)
        await self._store(key, payload, entry)
        return entry.prompt

    def _start_refresh(self, key: Key) -> None:
        if key in self._refreshing or self._closed:
            return
        self._refreshing.add(key)
        task = asyncio.get_running_loop().create_task(self._refresh(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refresh(self, key: Key) -> None:
        try:
            old = self._entries.get(key)
            try:
                status, payload, etag = await self._fetch(
                    key, old.etag if old is not None else None
                )
                entry, payload = self._install(key, status, payload, etag, old)
            except Exception as exc:  # noqa: BLE001 - a failed refresh keeps the stale copy
                if old is not None:
                    self._keep_stale(key, old, exc)
                elif isinstance(exc, PromptLedgerError):
                    self._record_failure(key, exc)
                return
            await self._store(key, payload, entry)
        finally:
            self._refreshing.discard(key)

    # ------------------------------------------------------------------ versions

    async def create_version(
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
        """See :meth:`PromptLedger.create_version`."""
        body = {
            k: v
            for k, v in (
                ("template", template),
                ("messages", messages),
                ("variables", variables),
                ("model_config", model_config),
                ("example_set_version", example_set_version),
                ("message", message),
            )
            if v is not None
        }
        try:
            response = await self._http.post(versions_path(name), json=body)
        except httpx.HTTPError as exc:
            raise transport_error(exc, self.base_url) from exc
        raise_for_response(response)
        created: dict[str, Any] = response.json()
        return created

    # ------------------------------------------------------------------ usage / lifecycle

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait (without blocking the loop) until queued usage is sent or ``timeout``."""
        return await asyncio.to_thread(self._batcher.flush, timeout)

    async def aclose(self, timeout: float | None = 5.0) -> bool:
        """Flush usage, cancel background refreshes and close the connections."""
        if self._closed:
            return True
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        drained = await asyncio.to_thread(self._close_usage, timeout)
        await self._http.aclose()
        return drained

    async def __aenter__(self) -> AsyncPromptLedger:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<AsyncPromptLedger {self.base_url} ttl={self.cache_ttl:g}s>"
