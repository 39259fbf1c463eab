"""One exception handler, so every API error has the same JSON shape:
`{"error": {"code", "message", "field", "details"}}`."""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.db import DataError, InterfaceError, OperationalError
from django.http import Http404, HttpResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from promptledger.rendering import RenderError
from prompts_app.errors import DomainError

logger = logging.getLogger(__name__)


def error_response(
    status_code: int, code: str, message: str, field=None, details=None, headers=None
):
    response = Response(_body(code, message, field, details), status=status_code)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def is_api_path(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def _megabytes(size: int) -> str:
    return f"{size / 1_048_576:.1f}".rstrip("0").rstrip(".") + " MB"


def too_large_message(limit: int, size: int | None = None, *, form: bool = False) -> str:
    sent = f" This one is {size:,} bytes." if size else ""
    if form:
        return (
            f"The form is over the limit of {limit:,} bytes ({_megabytes(limit)}) a request may"
            f" have; nothing was saved.{sent} Shorten what you typed: a template may have"
            " 100,000 characters at most."
        )
    return (
        f"The request body is over the limit of {limit:,} bytes ({_megabytes(limit)});"
        f" nothing was stored.{sent} Send less: a shorter template, fewer examples, or a"
        " usage batch split in two."
    )


def too_large_body(limit: int, size: int | None = None) -> dict:
    details = {"limit_bytes": limit}
    if size:
        details["size_bytes"] = size
    return _body("request_too_large", too_large_message(limit, size), None, details)


def unsupported_media_type_message(content_type: str) -> str:
    sent = content_type.split(";")[0].strip()[:100]
    what = f'Content-Type "{sent}" is not supported' if sent else "No Content-Type was sent"
    return f'{what}: send the body as JSON with the header "Content-Type: application/json".'


def _body(code: str, message: str, field=None, details=None) -> dict:
    return {"error": {"code": code, "message": message, "field": field, "details": details or {}}}


def json_error(status_code: int, code: str, message: str, field=None, details=None):
    """An error in the API's shape outside DRF (middleware, Django's error handlers)."""
    return HttpResponse(
        json.dumps(_body(code, message, field, details), separators=(",", ":")),
        status=status_code,
        content_type="application/json",
    )


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
    if isinstance(exc, exceptions.UnsupportedMediaType):
        request = context.get("request")
        content_type = getattr(request, "content_type", "") or ""
        return error_response(
            415, "unsupported_media_type", unsupported_media_type_message(content_type)
        )
    if isinstance(exc, RequestDataTooBig):
        # A body with no Content-Length (chunked) that turned out too big while read.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body = too_large_body(limit)
        return error_response(413, **body["error"])
    if isinstance(exc, TooManyFieldsSent):
        return error_response(
            400,
            "too_many_fields",
            f"The request has more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS:,} parameters.",
        )
    if isinstance(exc, SuspiciousOperation):
        return error_response(400, "bad_request", "The request is malformed.")
    if isinstance(exc, DataError):
        # A value the input checks let through but the database refuses (out of
        # range, too long): the client's input, so a 400; logged to be checked earlier.
        logger.warning("database refused a value in %s", context.get("view"), exc_info=True)
        return error_response(
            400,
            "invalid",
            "A value in the request is out of the range that can be stored; nothing was "
            "stored. Check the numbers and the lengths of the texts sent.",
        )
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


# --- Django's error views: under /api/ they answer in the error shape too ---------


def not_found_view(request, exception=None):
    if is_api_path(request.path):
        return json_error(
            404,
            "not_found",
            "There is no API endpoint at this path: the endpoints are listed at /api/docs/ "
            "(schema at /api/schema/).",
        )
    return defaults.page_not_found(request, exception)


def bad_request_view(request, exception=None):
    if isinstance(exception, RequestDataTooBig):
        from prompts_app.infra.middleware import too_large_response

        return too_large_response(request)
    if is_api_path(request.path):
        if isinstance(exception, TooManyFieldsSent):
            message = (
                f"The request has more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS:,} parameters."
            )
            return json_error(400, "too_many_fields", message)
        return json_error(400, "bad_request", "The request is malformed.")
    return defaults.bad_request(request, exception)


def server_error_view(request):
    if is_api_path(request.path):
        return json_error(
            500,
            "internal_error",
            "Something went wrong on our side; nothing was stored. Try again, and report it "
            "if it persists.",
        )
    return defaults.server_error(request)
