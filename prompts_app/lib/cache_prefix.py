"""How much of a rendered prompt is the same on every call, as a leading run.

Providers cache prompt *prefixes* (OpenAI from 1,024 tokens; Anthropic up to a
breakpoint), so only static text that comes before the first variable can be
served from the cache. We find that point by rendering, not by reading the
template: render once with sample variables, then once per variable with only
that variable's value changed. The earliest place where an output differs is
where the cacheable prefix ends, and the variable that moved it is the one that
breaks the prefix. Loops, conditionals, macros and few-shot examples are all
accounted for because the real renderer runs them.

Pure: no ORM, no I/O. Token counts use the same tokenizer as the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from promptledger import rendering
from prompts_app.lib.tokens import (
    TOKENS_PER_MESSAGE,
    TOKENS_REPLY_PRIMING,
    count_message_tokens,
    count_rendered_tokens,
    count_text_tokens,
)

# Prepended to strings (and used for numbers/booleans) so the changed output
# differs exactly where the value is printed.
_MARK = "\u2042"


@dataclass(frozen=True)
class CachePrefix:
    """`prefix_tokens` of `total_tokens` rendered tokens lead every call unchanged;
    `breaking_variable` is the variable whose value first cuts that run (None:
    no variable changes the output before its end)."""

    prefix_tokens: int
    total_tokens: int
    breaking_variable: str | None

    def as_dict(self) -> dict:
        return {
            "prefix_tokens": self.prefix_tokens,
            "total_tokens": self.total_tokens,
            "breaking_variable": self.breaking_variable,
        }


def _perturbed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return _MARK + value
    if isinstance(value, list):
        return [_perturbed(item) for item in value] or [_MARK]
    if isinstance(value, dict):
        return {key: _perturbed(item) for key, item in value.items()}
    return value


def _first_difference(a: str | list[dict], b: str | list[dict]) -> tuple[int, int] | None:
    """(message index, character index) where two renders first differ; None if equal.
    A text render is one message at index 0."""
    left = [{"role": "", "content": a}] if isinstance(a, str) else a
    right = [{"role": "", "content": b}] if isinstance(b, str) else b
    for index, (one, other) in enumerate(zip(left, right)):
        if one["role"] != other["role"]:
            return index, 0
        if one["content"] != other["content"]:
            limit = min(len(one["content"]), len(other["content"]))
            char = next(
                (i for i in range(limit) if one["content"][i] != other["content"][i]), limit
            )
            return index, char
    if len(left) != len(right):
        return min(len(left), len(right)), 0
    return None


def _prefix_tokens(rendered: str | list[dict], cut: tuple[int, int] | None) -> int:
    if cut is None:
        return count_rendered_tokens(rendered)
    index, char = cut
    if isinstance(rendered, str):
        return count_text_tokens(rendered[:char])
    whole = rendered[:index]
    # whole leading messages, without the reply priming that only ends a request
    tokens = count_message_tokens(whole) - TOKENS_REPLY_PRIMING if whole else 0
    if index < len(rendered):
        partial = rendered[index]
        tokens += TOKENS_PER_MESSAGE + count_text_tokens(partial["role"])
        tokens += count_text_tokens(partial["content"][:char])
    return tokens


def cache_prefix(
    kind: str,
    body: Any,
    variables: dict,
    *,
    examples: Any = None,
    options: Any = None,
) -> CachePrefix:
    """The static leading run of this prompt rendered with `variables`.

    Raises `rendering.RenderError` if the sample variables do not render."""
    base = rendering.render(kind, body, variables, examples=examples, options=options)
    earliest: tuple[int, int] | None = None
    breaking: str | None = None
    for name in sorted(variables):
        changed = {**variables, name: _perturbed(variables[name])}
        try:
            other = rendering.render(kind, body, changed, examples=examples, options=options)
        except rendering.RenderError:
            continue  # the changed value no longer fits the template: no evidence either way
        cut = _first_difference(base, other)
        if cut is not None and (earliest is None or cut < earliest):
            earliest, breaking = cut, name
    return CachePrefix(
        prefix_tokens=_prefix_tokens(base, earliest),
        total_tokens=count_rendered_tokens(base),
        breaking_variable=breaking,
    )
