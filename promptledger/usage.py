"""Usage reporting: events batched in memory and sent by one background thread.

* ``log_usage`` only validates the numbers and appends to a bounded buffer: it never
  does I/O and never blocks on the network.
* A daemon thread sends batches of up to ``batch_size`` events when that many are
  queued, when the oldest queued event is ``flush_interval`` seconds old, on
  ``flush()``, on ``close()`` and at interpreter exit (``atexit``).
* Every event carries a client-made id (uuid4 hex); a retry re-sends the same ids, so
  the server never counts an event twice.
* Connection errors, timeouts, 429 and 5xx are retried with exponential backoff and
  jitter (``Retry-After`` honoured). A batch still failing after ``max_retries``
  retries goes back to the front of the queue (same ids) and is tried again at the
  next interval; ``failed_batches`` counts those give-ups.
* Any other 4xx answer is final: the batch's events are counted as ``rejected`` and
  logged with the server's message, never retried.
* The buffer holds at most ``max_queue`` events; events that do not fit are dropped,
  counted (``dropped``) and reported with a ``logging`` warning.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from promptledger.errors import ServerUnavailable

logger = logging.getLogger("promptledger")

__all__ = ["UsageBatcher", "SendResult", "make_event", "openai_usage", "anthropic_usage"]

MAX_SERVER_BATCH = 1000  # the server's limit per POST /api/v1/usage
MAX_TOKENS = 10_000_000
_DROP_WARN_EVERY = 10.0  # seconds between two overflow warnings


class SendResult:
    """What one POST of a batch came to. ``retry`` True: transient failure."""

    __slots__ = ("ok", "retry", "body", "status_code", "message", "retry_after")

    def __init__(
        self,
        *,
        ok: bool,
        retry: bool = False,
        body: Any = None,
        status_code: int | None = None,
        message: str = "",
        retry_after: float | None = None,
    ) -> None:
        self.ok = ok
        self.retry = retry
        self.body = body
        self.status_code = status_code
        self.message = message
        self.retry_after = retry_after


def _utc_now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be a whole number, not {value!r}.")
    if not 0 <= value <= MAX_TOKENS:
        raise ValueError(f"{name} must be between 0 and {MAX_TOKENS:,}, not {value}.")
    return int(value)


def make_event(
    prompt: Any,
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
    timestamp: dt.datetime | str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """One usage event for ``POST /api/v1/usage``, validated here so that a bad value
    is a ValueError at the call site rather than a rejection later.

    ``prompt``: a :class:`~promptledger.Prompt` (its name and version are used; a
    fallback prompt is logged against the label or version it was asked for), or a
    prompt name with ``version=`` or ``label=``.

    ``input_tokens`` counts every input token; of them ``cached_input_tokens`` were
    cache reads and ``cache_write_input_tokens`` cache writes (the rest uncached).
    ``reasoning_tokens`` are part of ``output_tokens``. The two newer counts are sent
    only when not 0, so a server that predates them still takes the event.
    """
    if isinstance(prompt, str):
        name = prompt
        if version is None and not label:
            raise ValueError("Logging usage by prompt name needs version= or label=.")
    else:
        name = prompt.name
        if version is None and not label:
            version = prompt.version
            label = prompt.label
            if version is None:  # a fallback prompt: the version it was asked for, else a label
                version = getattr(prompt, "_requested_version", None)
                if version is None and not label:
                    label = "production"
    if not isinstance(model, str) or not model:
        raise ValueError("model must be a non-empty string (the model that was called).")
    input_tokens = _count("input_tokens", input_tokens)
    output_tokens = _count("output_tokens", output_tokens)
    cached_input_tokens = _count("cached_input_tokens", cached_input_tokens or 0)
    if cached_input_tokens > input_tokens:
        raise ValueError("cached_input_tokens cannot exceed input_tokens (input includes cached).")
    cache_write_input_tokens = _count("cache_write_input_tokens", cache_write_input_tokens or 0)
    if cached_input_tokens + cache_write_input_tokens > input_tokens:
        raise ValueError(
            "cached_input_tokens + cache_write_input_tokens cannot exceed input_tokens "
            "(input includes cache reads and writes)."
        )
    reasoning_tokens = _count("reasoning_tokens", reasoning_tokens or 0)
    if reasoning_tokens > output_tokens:
        raise ValueError(
            "reasoning_tokens cannot exceed output_tokens (output includes reasoning)."
        )
    if status not in ("ok", "error"):
        raise ValueError("status must be 'ok' or 'error'.")
    event: dict[str, Any] = {
        "event_id": event_id or uuid.uuid4().hex,
        "prompt": name,
        "model": model,
        "input_tokens": input_tokens,
        "cached_input_tokens": cached_input_tokens,
        "output_tokens": output_tokens,
        "status": status,
    }
    if cache_write_input_tokens:
        event["cache_write_input_tokens"] = cache_write_input_tokens
    if reasoning_tokens:
        event["reasoning_tokens"] = reasoning_tokens
    if version is not None:
        event["version"] = int(version)
    if label:
        event["label"] = label
    if latency_ms is not None:
        latency = round(float(latency_ms))
        if latency < 0:
            raise ValueError("latency_ms cannot be negative.")
        event["latency_ms"] = min(latency, 86_400_000)
    if timestamp is None:
        event["timestamp"] = _utc_now_iso()
    elif isinstance(timestamp, dt.datetime):
        if timestamp.tzinfo is None:
            raise ValueError("timestamp needs a time zone (use datetime.now(timezone.utc)).")
        event["timestamp"] = (
            timestamp.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        )
    else:
        event["timestamp"] = str(timestamp)
    return event


# --------------------------------------------------------------------------- response helpers


def _get(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def _tiers(
    model: Any, input_tokens: Any, read: Any, written: Any, output: Any, reasoning: Any
) -> dict[str, Any]:
    """The ledger's counts. A provider's breakdown that claims more than its total
    (reads + writes over input, reasoning over output) is capped at the total, reads
    first, so logging a real response never fails on the provider's rounding."""
    read = min(read or 0, input_tokens)
    return {
        "model": model,
        "input_tokens": input_tokens,
        "cached_input_tokens": read,
        "cache_write_input_tokens": min(written or 0, input_tokens - read),
        "output_tokens": output,
        "reasoning_tokens": min(reasoning or 0, output),
    }


def openai_usage(response: Any) -> dict[str, Any]:
    """``model``, ``input_tokens``, ``cached_input_tokens``, ``cache_write_input_tokens``,
    ``output_tokens`` and ``reasoning_tokens`` from an OpenAI-style response, the
    client library's object or its dict (``model_dump()``, or the JSON):

    * Chat Completions: ``usage.prompt_tokens`` (every input token),
      ``usage.prompt_tokens_details.cached_tokens`` (cache reads) and
      ``.cache_write_tokens`` (cache writes), ``usage.completion_tokens``,
      ``usage.completion_tokens_details.reasoning_tokens``;
    * the Responses API: ``usage.input_tokens``, ``usage.input_tokens_details.cached_tokens``
      and ``.cache_write_tokens``, ``usage.output_tokens``,
      ``usage.output_tokens_details.reasoning_tokens``.

    OpenAI's input count includes cached and written tokens, as the ledger's does.
    Details a response leaves out count as 0. Writes are one tier: the retention
    split (``cache_write_tokens_details.ttl_30m_tokens`` / ``ttl_12h_tokens``) is not
    carried, and all writes are priced at the price sheet's cache-write price.
    """
    usage = _get(response, "usage")
    if usage is None:
        raise ValueError(
            "The response has no 'usage' (streaming? pass stream_options={'include_usage': True})."
        )
    prompt_tokens = _get(usage, "prompt_tokens")
    if prompt_tokens is not None:
        output = _get(usage, "completion_tokens")
        details = _get(usage, "prompt_tokens_details")
        reasoning = _get(_get(usage, "completion_tokens_details"), "reasoning_tokens")
    else:
        prompt_tokens = _get(usage, "input_tokens")
        output = _get(usage, "output_tokens")
        details = _get(usage, "input_tokens_details")
        reasoning = _get(_get(usage, "output_tokens_details"), "reasoning_tokens")
    if prompt_tokens is None or output is None:
        raise ValueError("The response's usage has no prompt/completion token counts.")
    return _tiers(
        _get(response, "model"),
        prompt_tokens,
        _get(details, "cached_tokens"),
        _get(details, "cache_write_tokens"),
        output,
        reasoning,
    )


def anthropic_usage(response: Any) -> dict[str, Any]:
    """The same from an Anthropic Messages response (the ``anthropic`` library's
    ``Message`` or its dict).

    Anthropic's ``usage.input_tokens`` excludes cache reads and cache writes; the
    ledger's input count includes them, so input = ``input_tokens`` +
    ``cache_read_input_tokens`` + ``cache_creation_input_tokens``, cached =
    ``cache_read_input_tokens`` and writes = ``cache_creation_input_tokens`` (or, when
    only the breakdown is given, ``cache_creation.ephemeral_5m_input_tokens`` +
    ``ephemeral_1h_input_tokens``). Reasoning = ``usage.output_tokens_details.thinking_tokens``.

    Limitation: the ledger has one cache-write tier, so 1-hour writes are counted as
    writes and priced at the price sheet's default (5-minute) cache-write price,
    which is lower than the 1-hour price; a call with 1-hour writes is costed low.
    """
    usage = _get(response, "usage")
    if usage is None:
        raise ValueError("The response has no 'usage'.")
    fresh = _get(usage, "input_tokens")
    output = _get(usage, "output_tokens")
    if fresh is None or output is None:
        raise ValueError("The response's usage has no input/output token counts.")
    read = _get(usage, "cache_read_input_tokens") or 0
    written = _get(usage, "cache_creation_input_tokens")
    if written is None:
        by_ttl = _get(usage, "cache_creation")
        written = (_get(by_ttl, "ephemeral_5m_input_tokens") or 0) + (
            _get(by_ttl, "ephemeral_1h_input_tokens") or 0
        )
    return _tiers(
        _get(response, "model"),
        fresh + read + written,
        read,
        written,
        output,
        _get(_get(usage, "output_tokens_details"), "thinking_tokens"),
    )


# --------------------------------------------------------------------------- the batcher


class UsageBatcher:
    """A bounded queue of usage events and the thread that sends them.

    ``send(batch)`` does one POST and returns a :class:`SendResult`; the batcher owns
    batching, retries and bookkeeping. Thread-safe.
    """

    def __init__(
        self,
        send: Callable[[list[dict[str, Any]]], SendResult],
        *,
        batch_size: int = 100,
        flush_interval: float = 2.0,
        max_queue: int = 10_000,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        if not 1 <= batch_size <= MAX_SERVER_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_SERVER_BATCH}.")
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1.")
        self._send = send
        self.batch_size = batch_size
        self.flush_interval = float(flush_interval)
        self.max_queue = max_queue
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max

        self._cond = threading.Condition(threading.Lock())
        self._buffer: deque[dict[str, Any]] = deque()
        self._in_flight = 0
        self._due: float | None = None  # when the queued events must be sent by
        self._retry_at = 0.0  # no new round before this, after a batch exhausted its retries
        self._flush_waiters = 0
        self._closing = False
        self._finished = False
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()  # interrupts backoff sleeps on close

        self._sent = 0
        self._accepted = 0
        self._duplicates = 0
        self._unpriced = 0
        self._dropped = 0
        self._rejected = 0
        self._failed_batches = 0
        self._retries = 0
        self._dropped_unreported = 0
        self._last_drop_warning = 0.0

    # ------------------------------------------------------------------ producer side

    def add(self, event: dict[str, Any]) -> bool:
        """Queue one event; False (and counted as dropped) when the buffer is full."""
        with self._cond:
            if self._finished:
                self._dropped += 1
                self._warn_dropped_locked(1)
                return False
            if len(self._buffer) + self._in_flight >= self.max_queue:
                self._dropped += 1
                self._warn_dropped_locked(1)
                return False
            self._buffer.append(event)
            n = len(self._buffer)
            if n == 1:
                self._due = time.monotonic() + self.flush_interval
                self._ensure_thread_locked()
                self._cond.notify_all()
            elif n >= self.batch_size:
                self._cond.notify_all()
        return True

    def _warn_dropped_locked(self, n: int) -> None:
        self._dropped_unreported += n
        now = time.monotonic()
        if self._last_drop_warning and now - self._last_drop_warning < _DROP_WARN_EVERY:
            return
        self._last_drop_warning = now
        logger.warning(
            "promptledger: usage buffer full (%d events): dropped %d event(s) since the last "
            "warning, %d in all. The server may be down or too slow; raise max_queue or "
            "flush more often.",
            self.max_queue,
            self._dropped_unreported,
            self._dropped,
        )
        self._dropped_unreported = 0

    def _ensure_thread_locked(self) -> bool:
        """Start the sender thread if needed; False when no thread can be started
        (interpreter shutdown): then flush() sends from the calling thread."""
        if self._thread is not None and self._thread.is_alive():
            return True
        if self._closing:
            return False
        thread = threading.Thread(target=self._run, name="promptledger-usage", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # "can't create new thread at interpreter shutdown"
            self._thread = None
            return False
        self._thread = thread
        return True

    def stats(self) -> dict[str, int]:
        with self._cond:
            return {
                "queued": len(self._buffer) + self._in_flight,
                "sent": self._sent,
                "accepted": self._accepted,
                "duplicates": self._duplicates,
                "unpriced": self._unpriced,
                "dropped": self._dropped,
                "rejected": self._rejected,
                "failed_batches": self._failed_batches,
                "retries": self._retries,
            }

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued now; block until sent or ``timeout`` seconds pass.
        True when the queue is empty (nothing left to send)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            if not self._buffer and not self._in_flight:
                return True
            if not self._ensure_thread_locked():
                inline = True
            else:
                inline = False
        if inline:
            return self._drain_inline(deadline)
        with self._cond:
            self._flush_waiters += 1
            self._cond.notify_all()
            try:
                while self._buffer or self._in_flight:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    self._cond.wait(remaining)
                return True
            finally:
                self._flush_waiters -= 1

    def close(self, timeout: float | None = 5.0) -> bool:
        """Flush (up to ``timeout`` seconds) and stop the thread. Events still queued
        after that are counted as dropped and reported. True if everything was sent."""
        drained = self.flush(timeout)
        with self._cond:
            self._closing = True
            self._stop.set()
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0 if timeout is None else max(0.1, min(timeout, 2.0)))
        with self._cond:
            self._thread = None
            self._finished = True  # a batch still in flight is counted when it ends
            left = len(self._buffer)
            pending = left + self._in_flight
            if left:
                self._buffer.clear()
                self._dropped += left
            if pending:
                logger.warning(
                    "promptledger: %d usage event(s) could not be sent before close(); "
                    "they are dropped.",
                    pending,
                )
        return drained and not pending

    def _drain_inline(self, deadline: float | None) -> bool:
        """Send the queue from the calling thread (no sender thread available)."""
        while True:
            with self._cond:
                if not self._buffer:
                    return True
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                n = min(self.batch_size, len(self._buffer))
                batch = [self._buffer.popleft() for _ in range(n)]
                self._in_flight = n
            self._stop.set()  # no backoff sleeps here: one attempt per batch
            try:
                delivered = self._deliver(batch)
            except Exception:  # noqa: BLE001
                logger.exception("promptledger: unexpected error sending usage")
                delivered = False
            with self._cond:
                self._in_flight = 0
                if not delivered:
                    self._buffer.extendleft(reversed(batch))
                    return False

    # ------------------------------------------------------------------ consumer side

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closing and (not self._buffer or self._stop.is_set()):
                        return
                    if not self._buffer:
                        self._cond.wait()
                        continue
                    now = time.monotonic()
                    if now < self._retry_at and not self._closing:
                        # the last batch exhausted its retries: pause before the next round
                        self._cond.wait(self._retry_at - now)
                        continue
                    if (
                        len(self._buffer) >= self.batch_size
                        or self._flush_waiters
                        or self._closing
                        or now >= (self._due or 0)
                    ):
                        break
                    self._cond.wait((self._due or 0) - now)
                n = min(self.batch_size, len(self._buffer))
                batch = [self._buffer.popleft() for _ in range(n)]
                self._in_flight = n
            requeue = False
            try:
                requeue = not self._deliver(batch)
            except Exception:  # noqa: BLE001 - the sender thread must never die
                logger.exception("promptledger: unexpected error sending usage; will retry")
                requeue = True
            with self._cond:
                self._in_flight = 0
                if requeue and self._finished:  # closed meanwhile: nowhere to put it back
                    self._dropped += len(batch)
                    self._cond.notify_all()
                    return
                if requeue:
                    room = self.max_queue - len(self._buffer)
                    keep = batch[: max(room, 0)]
                    lost = len(batch) - len(keep)
                    self._buffer.extendleft(reversed(keep))
                    if lost:
                        self._dropped += lost
                        self._warn_dropped_locked(lost)
                    self._retry_at = time.monotonic() + max(self.flush_interval, self.backoff_base)
                else:
                    self._retry_at = 0.0
                if self._buffer:
                    self._due = min(
                        self._due or float("inf"), time.monotonic() + self.flush_interval
                    )
                else:
                    self._due = None
                self._cond.notify_all()

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        delay = float(min(self.backoff_max, self.backoff_base * (2**attempt)))
        delay = delay / 2 + random.uniform(0, delay / 2)  # "equal jitter"
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max))
        return delay

    def _deliver(self, batch: list[dict[str, Any]]) -> bool:
        """Send one batch with retries. True when the server gave a final answer
        (stored, duplicate or rejected); False to requeue it."""
        attempt = 0
        while True:
            try:
                result = self._send(batch)
            except ServerUnavailable as exc:
                result = SendResult(
                    ok=False, retry=True, message=str(exc), status_code=exc.status_code
                )
            if result.ok:
                self._record_success(batch, result.body)
                return True
            if not result.retry:
                with self._cond:
                    self._rejected += len(batch)
                logger.error(
                    "promptledger: the server refused a batch of %d usage event(s) (HTTP %s): %s",
                    len(batch),
                    result.status_code,
                    result.message,
                )
                return True
            if attempt >= self.max_retries or self._stop.is_set():
                with self._cond:
                    self._failed_batches += 1
                logger.warning(
                    "promptledger: sending %d usage event(s) failed %d time(s) (%s); they stay "
                    "queued and will be retried with the same event ids.",
                    len(batch),
                    attempt + 1,
                    result.message,
                )
                return False
            delay = self._backoff(attempt, result.retry_after)
            attempt += 1
            with self._cond:
                self._retries += 1
            logger.info(
                "promptledger: usage batch failed (%s); retry %d in %.2fs",
                result.message,
                attempt,
                delay,
            )
            if self._stop.wait(delay):
                # closing: one last immediate try, then give up to the requeue path
                attempt = self.max_retries

    def _record_success(self, batch: list[dict[str, Any]], body: Any) -> None:
        body = body if isinstance(body, dict) else {}
        accepted = int(body.get("accepted") or 0)
        duplicates = int(body.get("duplicates") or 0)
        unpriced = int(body.get("unpriced") or 0)
        rejected = body.get("rejected") or []
        with self._cond:
            self._accepted += accepted
            self._duplicates += duplicates
            self._sent += accepted + duplicates
            self._unpriced += unpriced
            self._rejected += len(rejected)
        if rejected:
            first = rejected[0] if isinstance(rejected[0], dict) else {}
            logger.warning(
                "promptledger: the server rejected %d of %d usage event(s); first: event %s: %s",
                len(rejected),
                len(batch),
                first.get("event_id"),
                first.get("reason"),
            )
