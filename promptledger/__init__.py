"""PromptLedger SDK: a Django-free client and the one prompt renderer shared with the server.

    from promptledger import PromptLedger

    client = PromptLedger()  # PROMPTLEDGER_URL, PROMPTLEDGER_API_KEY
    prompt = client.get_prompt("support-reply", label="production")
    messages = prompt.render(customer_name="Ada", order_id="A-1", issue="...", tone="warm")
    client.log_usage(prompt, model="gpt-4o-mini", input_tokens=812, output_tokens=164)

The server imports :mod:`promptledger.rendering` only; the client modules (httpx) are
imported lazily here, so ``import promptledger.rendering`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "APIError",
    "AsyncPromptLedger",
    "AuthenticationError",
    "InvalidRequest",
    "Prompt",
    "PromptLedger",
    "PromptLedgerError",
    "PromptNotFound",
    "RenderError",
    "ServerUnavailable",
    "__version__",
]

_LAZY = {
    "PromptLedger": "promptledger.client",
    "AsyncPromptLedger": "promptledger.async_client",
    "Prompt": "promptledger.prompt",
    "APIError": "promptledger.errors",
    "AuthenticationError": "promptledger.errors",
    "InvalidRequest": "promptledger.errors",
    "PromptLedgerError": "promptledger.errors",
    "PromptNotFound": "promptledger.errors",
    "RenderError": "promptledger.errors",
    "ServerUnavailable": "promptledger.errors",
}

if TYPE_CHECKING:
    from promptledger.async_client import AsyncPromptLedger
    from promptledger.client import PromptLedger
    from promptledger.errors import (
        APIError,
        AuthenticationError,
        InvalidRequest,
        PromptLedgerError,
        PromptNotFound,
        RenderError,
        ServerUnavailable,
    )
    from promptledger.prompt import Prompt


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'promptledger' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
