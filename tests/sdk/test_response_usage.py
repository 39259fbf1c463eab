"""Reading the three input tiers (uncached, cache reads, cache writes) and the
reasoning tokens from provider responses: the objects of the installed openai and
anthropic libraries (built from realistic JSON, no network), their model_dump()
and plain JSON dicts.

Django-free, so it also runs against the SDK's wheel in a bare virtualenv
(tests/sdk/test_wheel.py), where the provider libraries are not installed: the
tests that build real objects skip there (`pytest.importorskip`), the dict ones run.
"""

from __future__ import annotations

import copy
import json

import pytest

from promptledger.usage import anthropic_usage, make_event, openai_usage

# A Chat Completions answer of a reasoning model with a warm cache: 20,000 prompt
# tokens of which 18,000 were read from the cache and 1,024 written to it.
CHAT_COMPLETION = {
    "id": "chatcmpl-CZr8Kq3nVb7Ue1xXo2TtYp9sLmNa4",
    "object": "chat.completion",
    "created": 1764460800,
    "model": "gpt-5-mini-2025-08-07",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Your refund for order NW-48213 was issued on 26 November.",
                "refusal": None,
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 20000,
        "completion_tokens": 300,
        "total_tokens": 20300,
        "prompt_tokens_details": {
            "cached_tokens": 18000,
            "cache_write_tokens": 1024,
            "audio_tokens": 0,
        },
        "completion_tokens_details": {
            "reasoning_tokens": 128,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
    "service_tier": "default",
    "system_fingerprint": None,
}

# The same call through the Responses API.
RESPONSE = {
    "id": "resp_68d1c0b7e2a48190a3f2c1d5e6f70819",
    "object": "response",
    "created_at": 1764460800,
    "status": "completed",
    "error": None,
    "incomplete_details": None,
    "instructions": None,
    "max_output_tokens": None,
    "model": "gpt-5-mini-2025-08-07",
    "output": [
        {
            "id": "rs_68d1c0b8a1f08190b7c6d5e4f3a2b1c0",
            "type": "reasoning",
            "summary": [],
        },
        {
            "id": "msg_68d1c0b9c3d48190a0b1c2d3e4f5a6b7",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [
                {
                    "type": "output_text",
                    "text": "Your refund for order NW-48213 was issued on 26 November.",
                    "annotations": [],
                }
            ],
        },
    ],
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "reasoning": {"effort": "medium", "summary": None},
    "store": True,
    "temperature": 1.0,
    "text": {"format": {"type": "text"}},
    "tool_choice": "auto",
    "tools": [],
    "top_p": 1.0,
    "truncation": "disabled",
    "usage": {
        "input_tokens": 20000,
        "input_tokens_details": {
            "cached_tokens": 18000,
            "cache_write_tokens": 1024,
            "cache_write_tokens_details": {"ttl_30m_tokens": 1024, "ttl_12h_tokens": 0},
        },
        "output_tokens": 300,
        "output_tokens_details": {"reasoning_tokens": 128},
        "total_tokens": 20300,
    },
    "user": None,
    "metadata": {},
}

# A Messages answer with extended thinking: Anthropic's input_tokens (1,200) leaves
# out the 18,000 read from the cache and the 2,048 written to it.
MESSAGE = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [
        {"type": "thinking", "thinking": "The order shipped late...", "signature": "EqQBCgIYAhIM"},
        {"type": "text", "text": "Your refund for order NW-48213 was issued on 26 November."},
    ],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 1200,
        "cache_creation_input_tokens": 2048,
        "cache_read_input_tokens": 18000,
        "cache_creation": {"ephemeral_5m_input_tokens": 2048, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 512,
        "output_tokens_details": {"thinking_tokens": 200},
        "service_tier": "standard",
    },
}

OPENAI_NUMBERS = {
    "model": "gpt-5-mini-2025-08-07",
    "input_tokens": 20000,
    "cached_input_tokens": 18000,
    "cache_write_input_tokens": 1024,
    "output_tokens": 300,
    "reasoning_tokens": 128,
}
ANTHROPIC_NUMBERS = {
    "model": "claude-sonnet-4-5-20250929",
    "input_tokens": 1200 + 18000 + 2048,
    "cached_input_tokens": 18000,
    "cache_write_input_tokens": 2048,
    "output_tokens": 512,
    "reasoning_tokens": 200,
}


def _json(payload: dict) -> dict:
    """The payload as it comes off the wire (json.loads of the body)."""
    return json.loads(json.dumps(payload))


# --- real objects of the installed client libraries ---------------------------------------------


def test_a_real_openai_chat_completion_gives_every_tier():
    openai = pytest.importorskip("openai")
    completion = openai.types.chat.ChatCompletion.model_validate(CHAT_COMPLETION)
    assert completion.usage.prompt_tokens_details.cache_write_tokens == 1024  # the real field

    assert openai_usage(completion) == OPENAI_NUMBERS
    assert openai_usage(completion.model_dump()) == OPENAI_NUMBERS
    assert openai_usage(json.loads(completion.model_dump_json())) == OPENAI_NUMBERS


def test_a_real_openai_responses_api_response_gives_every_tier():
    openai = pytest.importorskip("openai")
    response = openai.types.responses.Response.model_validate(RESPONSE)
    assert response.usage.input_tokens_details.cache_write_tokens == 1024

    assert openai_usage(response) == OPENAI_NUMBERS
    assert openai_usage(response.model_dump()) == OPENAI_NUMBERS


def test_a_real_anthropic_message_counts_cache_reads_and_writes_as_input():
    anthropic = pytest.importorskip("anthropic")
    message = anthropic.types.Message.model_validate(MESSAGE)
    assert message.usage.cache_creation.ephemeral_5m_input_tokens == 2048

    assert anthropic_usage(message) == ANTHROPIC_NUMBERS
    assert anthropic_usage(message.model_dump()) == ANTHROPIC_NUMBERS


def test_an_openai_answer_without_cache_details_reads_as_all_uncached():
    openai = pytest.importorskip("openai")
    payload = copy.deepcopy(CHAT_COMPLETION)
    payload["usage"] = {"prompt_tokens": 812, "completion_tokens": 164, "total_tokens": 976}
    completion = openai.types.chat.ChatCompletion.model_validate(payload)
    assert completion.usage.prompt_tokens_details is None

    assert openai_usage(completion) == {
        "model": "gpt-5-mini-2025-08-07",
        "input_tokens": 812,
        "cached_input_tokens": 0,
        "cache_write_input_tokens": 0,
        "output_tokens": 164,
        "reasoning_tokens": 0,
    }


def test_an_anthropic_message_without_cache_use_has_no_cached_or_written_tokens():
    anthropic = pytest.importorskip("anthropic")
    payload = copy.deepcopy(MESSAGE)
    payload["usage"] = {"input_tokens": 30, "output_tokens": 7}
    message = anthropic.types.Message.model_validate(payload)

    assert anthropic_usage(message) == {
        "model": "claude-sonnet-4-5-20250929",
        "input_tokens": 30,
        "cached_input_tokens": 0,
        "cache_write_input_tokens": 0,
        "output_tokens": 7,
        "reasoning_tokens": 0,
    }


# --- JSON dicts (no provider library needed) -------------------------------------------------------


def test_json_bodies_of_both_providers_are_read_the_same_way():
    assert openai_usage(_json(CHAT_COMPLETION)) == OPENAI_NUMBERS
    assert openai_usage(_json(RESPONSE)) == OPENAI_NUMBERS
    assert anthropic_usage(_json(MESSAGE)) == ANTHROPIC_NUMBERS


def test_one_hour_anthropic_writes_count_as_writes():
    payload = _json(MESSAGE)
    payload["usage"]["cache_creation"] = {
        "ephemeral_5m_input_tokens": 1024,
        "ephemeral_1h_input_tokens": 1024,
    }
    assert anthropic_usage(payload)["cache_write_input_tokens"] == 2048
    # Only the breakdown given: its two TTLs summed.
    del payload["usage"]["cache_creation_input_tokens"]
    numbers = anthropic_usage(payload)
    assert (numbers["input_tokens"], numbers["cache_write_input_tokens"]) == (21248, 2048)


def test_a_breakdown_larger_than_its_total_is_capped_not_refused():
    payload = _json(CHAT_COMPLETION)
    payload["usage"]["prompt_tokens_details"]["cache_write_tokens"] = (
        5000  # 18,000 + 5,000 > 20,000
    )
    payload["usage"]["completion_tokens_details"]["reasoning_tokens"] = 400  # > 300 output
    numbers = openai_usage(payload)
    assert (numbers["cached_input_tokens"], numbers["cache_write_input_tokens"]) == (18000, 2000)
    assert numbers["reasoning_tokens"] == 300


# --- the event sent to the server ----------------------------------------------------------------


def test_the_event_carries_writes_and_reasoning_only_when_there_are_some():
    event = make_event(
        "reply",
        version=1,
        model="m",
        input_tokens=20000,
        cached_input_tokens=18000,
        cache_write_input_tokens=1024,
        output_tokens=300,
        reasoning_tokens=128,
    )
    assert (event["cache_write_input_tokens"], event["reasoning_tokens"]) == (1024, 128)
    # An event without them is what an older server expects (it refuses unknown keys).
    plain = make_event("reply", version=1, model="m", input_tokens=10, output_tokens=1)
    assert "cache_write_input_tokens" not in plain and "reasoning_tokens" not in plain


@pytest.mark.parametrize(
    ("numbers", "message"),
    [
        (
            {"cached_input_tokens": 600, "cache_write_input_tokens": 500},
            "cannot exceed input_tokens",
        ),
        ({"cache_write_input_tokens": -1}, "cache_write_input_tokens must be between"),
        ({"cache_write_input_tokens": 1.5}, "cache_write_input_tokens must be a whole number"),
        ({"reasoning_tokens": 201}, "reasoning_tokens cannot exceed output_tokens"),
    ],
)
def test_impossible_tiers_are_a_value_error_at_the_call(numbers, message):
    with pytest.raises(ValueError, match=message):
        make_event("reply", version=1, model="m", input_tokens=1000, output_tokens=200, **numbers)
