"""Cache entries and the optional on-disk cache.

An entry is immutable: a refresh builds a new one and swaps it into the dict in a
single assignment, so a cache hit needs no lock (a dict lookup and one monotonic-time
comparison).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from promptledger.prompt import Prompt

logger = logging.getLogger("promptledger")

DISK_FORMAT = 1

Key = tuple[str, "str | None", "int | None"]  # (name, label, version)


class Entry:
    """A cached prompt. Never mutated after construction."""

    __slots__ = ("prompt", "etag", "expires_at", "fetched_at")

    def __init__(
        self, prompt: Prompt, etag: str | None, expires_at: float, fetched_at: float
    ) -> None:
        self.prompt = prompt
        self.etag = etag
        self.expires_at = expires_at  # time.monotonic() deadline
        self.fetched_at = fetched_at  # time.time() of the last 200/304, for the disk cache


def selector(label: str | None, version: int | None) -> dict[str, Any]:
    if version is not None:
        return {"version": version}
    if label is not None:
        return {"label": label}
    return {}


class DiskCache:
    """One JSON file per (server, key, prompt key): {format, key, payload, etag, fetched_at}.

    Written atomically (temp file in the same directory, then os.replace), so a reader —
    in this process or another one sharing the directory — never sees half a file.
    Every failure is logged and ignored: the disk cache is an accelerator only.
    """

    def __init__(self, directory: str | os.PathLike[str], namespace: str) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._namespace = namespace

    def _path(self, key: Key) -> Path:
        raw = json.dumps([self._namespace, *key], separators=(",", ":"))
        digest = hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in key[0])[:60]
        return self.directory / f"{safe}-{digest}.json"

    def load(self, key: Key) -> tuple[dict[str, Any], str | None, float] | None:
        path = self._path(key)
        try:
            with open(path, encoding="utf-8") as stream:
                data = json.load(stream)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            logger.warning("promptledger: ignoring unreadable cache file %s: %s", path, exc)
            return None
        if (
            not isinstance(data, dict)
            or data.get("format") != DISK_FORMAT
            or data.get("key") != list(key)
            or not isinstance(data.get("payload"), dict)
        ):
            return None
        fetched_at = data.get("fetched_at")
        if not isinstance(fetched_at, (int, float)):
            fetched_at = 0.0
        etag = data.get("etag") if isinstance(data.get("etag"), str) else None
        return data["payload"], etag, float(fetched_at)

    def store(self, key: Key, payload: dict[str, Any], etag: str | None, fetched_at: float) -> None:
        path = self._path(key)
        record = {
            "format": DISK_FORMAT,
            "key": list(key),
            "payload": payload,
            "etag": etag,
            "fetched_at": fetched_at,
        }
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=self.directory)
            with os.fdopen(fd, "w", encoding="utf-8") as stream:
                json.dump(record, stream, ensure_ascii=False, separators=(",", ":"))
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(tmp, path)
            tmp = None
        except OSError as exc:
            logger.warning("promptledger: could not write cache file %s: %s", path, exc)
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass


def age_to_deadline(fetched_at: float, ttl: float) -> float:
    """The monotonic deadline of an entry fetched at wall-clock ``fetched_at``."""
    age = max(0.0, time.time() - fetched_at)
    return time.monotonic() + ttl - age
