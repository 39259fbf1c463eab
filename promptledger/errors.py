"""Exceptions raised by the PromptLedger SDK.

Every error the client raises is a :class:`PromptLedgerError`, except rendering
failures, which are :class:`RenderError` (re-exported from
:mod:`promptledger.rendering`, the renderer shared with the server) so that a render
fails with the same code and message locally as on the server.
"""

from __future__ import annotations

from typing import Any

from promptledger.rendering import RenderError

__all__ = [
    "APIError",
    "AuthenticationError",
    "InvalidRequest",
    "PromptLedgerError",
    "PromptNotFound",
    "RenderError",
    "ServerUnavailable",
]


class PromptLedgerError(Exception):
    """Base class of every error raised by the client (configuration, HTTP, server)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ServerUnavailable(PromptLedgerError):
    """The server could not be reached, timed out, or answered 429 / 5xx."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class APIError(PromptLedgerError):
    """The server answered with an error (4xx). ``code``, ``message``, ``field`` and
    ``details`` are the server's ``{"error": {...}}`` body."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str = "error",
        field: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.field = field
        self.details: dict[str, Any] = dict(details or {})

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.status_code}, {self.code})"


class InvalidRequest(APIError):
    """400: the server refused the input (a validation error; ``field`` names the culprit)."""


class PromptNotFound(APIError):
    """404: no such prompt, label or version in the key's project."""


class AuthenticationError(APIError):
    """401 / 403: the API key is missing, unknown, revoked, or lacks the scope needed."""


def error_from_response(status_code: int, body: Any, fallback_text: str = "") -> PromptLedgerError:
    """The exception for an HTTP error answer (``body``: the decoded JSON or None)."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or fallback_text or f"HTTP {status_code}")
        code = str(error.get("code") or "error")
        field = error.get("field")
        details = error.get("details") if isinstance(error.get("details"), dict) else {}
    else:
        message = (fallback_text or f"HTTP {status_code}").strip()[:500] or f"HTTP {status_code}"
        code, field, details = "error", None, {}
    if status_code == 429 or status_code >= 500:
        return ServerUnavailable(f"{message} (HTTP {status_code})", status_code=status_code)
    cls: type[APIError]
    if status_code == 404:
        cls = PromptNotFound
    elif status_code in (401, 403):
        cls = AuthenticationError
    elif status_code == 400:
        cls = InvalidRequest
    else:
        cls = APIError
    return cls(message, status_code=status_code, code=code, field=field, details=details)
