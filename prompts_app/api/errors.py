"""One exception handler, so every API error has the same JSON shape:
`{"error": {"code", "message", "field", "details"}}`."""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from promptledger.rendering import RenderError
from prompts_app.errors import DomainError

logger = logging.getLogger(__name__)


def error_response(
    status_code: int, code: str, message: str, field=None, details=None, headers=None
):
    body = {"error": {"code": code, "message": message, "field": field, "details": details or {}}}
    response = Response(body, status=status_code)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _first_validation_error(detail, path=""):
    if isinstance(detail, dict):
        for key, value in detail.items():
            field = f"{path}.{key}" if path else str(key)
            if key == "non_field_errors":
                field = path or None
            return _first_validation_error(value, field)
    if isinstance(detail, list) and detail:
        for index, value in enumerate(detail):
            if isinstance(value, (dict, list)):
                return _first_validation_error(value, f"{path}[{index}]")
        return path, str(detail[0])
    return path, str(detail)


def api_exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return error_response(exc.status, exc.code, exc.message, exc.field, exc.details)
    if isinstance(exc, RenderError):
        field = exc.details.get("where") if isinstance(exc.details, dict) else None
        return error_response(400, exc.code, exc.message, field, exc.details)
    if isinstance(exc, exceptions.ValidationError):
        field, message = _first_validation_error(exc.detail)
        message = f"{field}: {message}" if field else message
        return error_response(400, "invalid", message, field or None, {"errors": exc.detail})
    if isinstance(exc, exceptions.ParseError):
        return error_response(
            400, "malformed_json", f"The request body is not valid JSON: {exc.detail}"
        )
    if isinstance(exc, Http404):
        return error_response(404, "not_found", "Not found.")
    if isinstance(exc, (OperationalError, InterfaceError)):
        # The database is restarting or unreachable: nothing was stored, so retrying is safe.
        logger.warning("database unavailable in %s: %s", context.get("view"), exc)
        return error_response(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "database_unavailable",
            "The database is unavailable for a moment; nothing was stored. Retry shortly.",
            headers={"Retry-After": "1"},
        )
    response = exception_handler(exc, context)
    if response is not None:
        code = getattr(exc, "default_code", "error")
        detail = getattr(exc, "detail", str(exc))
        headers = {
            k: v for k, v in response.items() if k in ("WWW-Authenticate", "Retry-After", "Allow")
        }
        return error_response(response.status_code, str(code), str(detail), headers=headers)
    logger.exception("unhandled error in %s", context.get("view"))
    return error_response(
        status.HTTP_500_INTERNAL_SERVER_ERROR,
        "internal_error",
        "Something went wrong on our side; nothing was stored. Try again, and report it if it persists.",
    )
