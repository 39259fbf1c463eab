"""One domain error type: every API error has the same JSON shape.

Services and selectors raise these; the API's exception handler turns them
into `{"error": {"code", "message", "field", "details"}}` with the status.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code
        self.details = details or {}


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class ImmutableRecord(DomainError):
    status = 409
    code = "immutable"
