"""A short-lived, per-process cache of API-key lookups.

Authenticating every runtime fetch against the database cost more than the
fetch itself (see `manage.py bench`, resolve row). Keys are looked up by their
SHA-256 and kept for API_KEY_CACHE_SECONDS: a revocation takes effect at once
in the process that revoked the key and within that many seconds everywhere
else. Set it to 0 to look every request up in the database.
"""

from __future__ import annotations

import threading
import time

from django.conf import settings

from prompts_app.models import API_KEY_PREFIX, ApiKey

MAX_ENTRIES = 10_000
_entries: dict[str, tuple[float, ApiKey]] = {}
_lock = threading.Lock()


def lookup(raw_key: str) -> ApiKey | None:
    """The active key for a raw bearer token, from the cache when it is fresh."""
    if not raw_key.startswith(API_KEY_PREFIX):
        return None
    ttl = settings.API_KEY_CACHE_SECONDS
    hashed = ApiKey.hash_raw(raw_key)
    now = time.monotonic()
    if ttl > 0:
        found = _entries.get(hashed)
        if found is not None and found[0] > now:
            return found[1]
    api_key = ApiKey.objects.for_raw_key(raw_key)
    if api_key is not None and ttl > 0:
        with _lock:
            if len(_entries) >= MAX_ENTRIES:
                _entries.clear()
            _entries[hashed] = (now + ttl, api_key)
    return api_key


def forget(hashed_key: str) -> None:
    with _lock:
        _entries.pop(hashed_key, None)
