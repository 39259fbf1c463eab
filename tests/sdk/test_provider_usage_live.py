"""Real OpenAI and Anthropic response objects (the installed client libraries, no
network) logged through the SDK to a live server: the stored event has the three
input tiers and the reasoning tokens, and its cost is exact to the picodollar.

Needs the server's side (it reads the stored events), so the wheel test does not
copy it; the Django-free parsing tests are in test_response_usage.py."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from prompts_app.models import ModelPrice, UsageEvent
from tests.sdk.conftest import ledger_totals
from tests.sdk.test_response_usage import CHAT_COMPLETION, MESSAGE, RESPONSE

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")

pytestmark = pytest.mark.django_db(transaction=True)

# Hand-worked, per 1M tokens:
# OpenAI, gpt-5-mini at $1.25 input, $0.125 cache read, $1.5625 cache write, $10 output:
#   uncached 20,000 − 18,000 − 1,024 = 976 × 1.25 = 1,220
#   reads 18,000 × 0.125 = 2,250; writes 1,024 × 1.5625 = 1,600; output 300 × 10 = 3,000
#   = 8,070 per 1M = $0.00807 = 8,070,000,000 picodollars (reasoning is in the 300 output).
OPENAI_PICO = 8_070_000_000
# Anthropic, claude-sonnet-4-5 at $3 input, $0.30 cache read, $3.75 cache write, $15 output:
#   uncached 1,200 × 3 = 3,600; reads 18,000 × 0.30 = 5,400; writes 2,048 × 3.75 = 7,680;
#   output 512 × 15 = 7,680; = 24,360 per 1M = $0.02436 = 24,360,000,000 picodollars.
ANTHROPIC_PICO = 24_360_000_000


@pytest.fixture
def prices(acme):
    since = timezone.now() - dt.timedelta(days=1)
    for model, (inp, read, write, out) in {
        "gpt-5-mini-2025-08-07": ("1.25", "0.125", "1.5625", "10"),
        "claude-sonnet-4-5-20250929": ("3", "0.30", "3.75", "15"),
    }.items():
        ModelPrice.objects.filter(project=acme, model=model).delete()  # the test's prices only
        ModelPrice.objects.create(
            project=acme,
            model=model,
            effective_from=since,
            input_per_1m=Decimal(inp),
            cached_input_per_1m=Decimal(read),
            cache_write_per_1m=Decimal(write),
            output_per_1m=Decimal(out),
        )


def _tiers(event_id: str) -> tuple:
    event = UsageEvent.objects.get(event_id=event_id)
    return (
        event.model,
        event.input_tokens,
        event.cached_input_tokens,
        event.cache_write_input_tokens,
        event.output_tokens,
        event.reasoning_tokens,
        event.cost_pico,
    )


OPENAI_TIERS = ("gpt-5-mini-2025-08-07", 20000, 18000, 1024, 300, 128, OPENAI_PICO)
ANTHROPIC_TIERS = ("claude-sonnet-4-5-20250929", 21248, 18000, 2048, 512, 200, ANTHROPIC_PICO)


def test_openai_chat_and_responses_objects_are_stored_with_exact_three_tier_costs(
    make_client, reply, prices, server_url, sdk_key
):
    client = make_client(batch_size=100, flush_interval=60)
    prompt = client.get_prompt("reply", label="production")
    completion = openai.types.chat.ChatCompletion.model_validate(CHAT_COMPLETION)
    response = openai.types.responses.Response.model_validate(RESPONSE)

    ids = [
        client.log_openai_response(prompt, completion, latency_ms=840),
        client.log_openai_response(prompt, completion.model_dump()),
        client.log_openai_response(prompt, response),
        client.log_openai_response(prompt, response.model_dump()),
    ]
    assert client.flush(timeout=10)
    assert client.stats()["accepted"] == 4

    assert [_tiers(event_id) for event_id in ids] == [OPENAI_TIERS] * 4
    assert UsageEvent.objects.get(event_id=ids[0]).cost == Decimal("0.00807")
    totals = ledger_totals(server_url, sdk_key, "reply")
    assert (totals["cached_input_tokens"], totals["cache_write_input_tokens"]) == (72000, 4096)
    assert totals["cache_hit_ratio"] == "0.9000"  # 72,000 / 80,000
    assert Decimal(totals["cost"]) == Decimal("0.00807") * 4


def test_an_anthropic_message_object_is_stored_with_reads_and_writes_as_input(
    make_client, reply, prices
):
    client = make_client(batch_size=100, flush_interval=60)
    prompt = client.get_prompt("reply", label="production")
    message = anthropic.types.Message.model_validate(MESSAGE)

    ids = [
        client.log_anthropic_response(prompt, message, latency_ms=1200),
        client.log_anthropic_response(prompt, message.model_dump()),
    ]
    assert client.flush(timeout=10)

    assert [_tiers(event_id) for event_id in ids] == [ANTHROPIC_TIERS] * 2
    assert UsageEvent.objects.get(event_id=ids[0]).cost == Decimal("0.02436")
