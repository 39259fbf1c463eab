"""The resolve cache: one round trip per hit, invalidated the moment a label moves.

Each prompt has a generation token in the cache. A cached payload records the
generation it was built under and is served only while that generation is
current, so a reader that raced a writer can never re-install a stale payload.
The cache is an accelerator only: if it is unreachable, callers read the database.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)


def _generation_key(project_id: int, prompt_name: str) -> str:
    return f"resolve-gen:{project_id}:{prompt_name}"


def _payload_key(project_id: int, prompt_name: str, selector: str) -> str:
    return f"resolve:{project_id}:{prompt_name}:{selector}"


def get(project_id: int, prompt_name: str, selector: str) -> tuple[Any, str | None]:
    """(cached entry or None, current generation or None if the cache is down)."""
    gen_key = _generation_key(project_id, prompt_name)
    payload_key = _payload_key(project_id, prompt_name, selector)
    try:
        found = cache.get_many([gen_key, payload_key])
        generation = found.get(gen_key)
        if generation is None:
            cache.add(gen_key, uuid.uuid4().hex, timeout=None)
            generation = cache.get(gen_key)
    except Exception as exc:  # noqa: BLE001 - any cache failure means "read the database"
        logger.warning("resolve cache unavailable, reading the database: %s", exc)
        return None, None
    entry = found.get(payload_key)
    if entry is not None and entry.get("generation") == generation:
        return entry, generation
    return None, generation


def put(
    project_id: int, prompt_name: str, selector: str, generation: str | None, entry: dict
) -> None:
    if generation is None:
        return
    try:
        cache.set(
            _payload_key(project_id, prompt_name, selector),
            {**entry, "generation": generation},
            timeout=settings.RESOLVE_CACHE_SECONDS,
        )
    except Exception as exc:  # noqa: BLE001
        logger.warning("resolve cache unavailable, not caching: %s", exc)


def invalidate_prompt(prompt) -> None:
    """Start a new generation: every cached resolve of this prompt is stale from now on."""
    try:
        cache.set(_generation_key(prompt.project_id, prompt.name), uuid.uuid4().hex, timeout=None)
    except Exception as exc:  # noqa: BLE001
        # If the cache is down, so is every stale entry in it... unless it comes back
        # with its old data. Redis here keeps nothing on disk; the TTL bounds the rest.
        logger.error("could not invalidate the resolve cache for %s: %s", prompt, exc)
