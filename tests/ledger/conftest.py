"""Ledger test setup: a prompt with five versions, a model priced in three input
tiers (from a week before the events on), and usage events to post."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from prompts_app.models import ModelPrice, Prompt
from tests.factories import PromptFactory, make_version

# Event times relative to today: the ledger takes events from its window only.
TODAY = timezone.now().date()
RECENT = dt.datetime.combine(TODAY - dt.timedelta(days=9), dt.time(10), tzinfo=dt.UTC)
MODEL = "tiered-model"


def iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def event(n: int, **overrides) -> dict:
    """Usage event n: 20,000 input tokens of which 18,000 cache reads and 1,024
    cache writes, 300 output of which 100 reasoning."""
    base = {
        "event_id": f"evt-{n}",
        "prompt": "reply",
        "version": 1,
        "model": MODEL,
        "input_tokens": 20_000,
        "cached_input_tokens": 18_000,
        "cache_write_input_tokens": 1_024,
        "output_tokens": 300,
        "reasoning_tokens": 100,
        "latency_ms": 500,
        "timestamp": iso(RECENT),
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def post(client, events):
    return client.post("/api/v1/usage", {"events": events}, format="json")


@pytest.fixture
def reply(acme) -> Prompt:
    prompt = PromptFactory(project=acme, name="reply")
    for n in range(1, 6):
        make_version(prompt, f"v{n} {{{{ name }}}}")
    return prompt


@pytest.fixture
def tiered_price(acme) -> ModelPrice:
    """$3 input, $0.30 cache read, $3.75 cache write, $15 output per 1M tokens."""
    return ModelPrice.objects.create(
        project=acme,
        model=MODEL,
        effective_from=RECENT - dt.timedelta(days=7),
        input_per_1m=Decimal("3"),
        cached_input_per_1m=Decimal("0.30"),
        cache_write_per_1m=Decimal("3.75"),
        output_per_1m=Decimal("15"),
    )
