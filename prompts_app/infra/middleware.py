"""Input hygiene before any view runs, for the API and the admin alike.

- A NUL character in the URL (a path part or a query parameter) is a 400 naming
  it: PostgreSQL cannot compare text holding NUL, so no lookup may see one.
- An unknown path under /api/ is a JSON 404 in the API's error shape, with DEBUG
  on too (handler404 covers DEBUG off).
- A body over DATA_UPLOAD_MAX_MEMORY_SIZE is refused before it is read: 413 in
  the API's error shape under /api/ (before authentication, so nobody can make
  the server read megabytes), and in the admin a page in the admin's look that
  says what the limit is and that nothing was saved, instead of Django's
  RequestDataTooBig error page. A form post with too many fields gets the same
  kind of page.

It sits before CsrfViewMiddleware (the first to read a form body) and works in
process_view, so the admin page can show the logged-in user.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from rest_framework.response import Response

from prompts_app.api.errors import (
    is_api_path,
    json_error,
    not_found_view,
    too_large_body,
    too_large_message,
)

logger = logging.getLogger(__name__)

BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def _content_length(request) -> int:
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def _admin_page(request, status: int, title: str, message: str) -> HttpResponse:
    from django.contrib import admin

    context = {
        **admin.site.each_context(request),
        "title": title,
        "message": message,
        "back_url": request.get_full_path(),
    }
    return render(request, "admin/prompts_app/request_refused.html", context, status=status)


def too_large_response(request) -> HttpResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    size = _content_length(request) or None
    if is_api_path(request.path):
        return json_error(413, **too_large_body(limit, size)["error"])
    if request.path.startswith("/admin/"):
        message = too_large_message(limit, size, form=True)
        return _admin_page(request, 413, "This form is too large to save", message)
    message = too_large_message(limit, size)
    return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")


def _nul_field(view_kwargs: dict, request) -> str | None:
    for name, value in view_kwargs.items():
        if isinstance(value, str) and "\x00" in value:
            return name
    for name, values in request.GET.lists():
        if "\x00" in name or any("\x00" in value for value in values):
            return name.replace("\x00", "\\u0000")
    return None


class InputHygieneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code == 404
            and is_api_path(request.path)
            and not isinstance(response, Response)  # DRF's own 404s name what is missing
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            # With DEBUG on Django answers an unknown path with its HTML page,
            # not handler404: the API answers in its own shape all the same.
            return not_found_view(request)
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        api = is_api_path(request.path)
        try:
            field = _nul_field(view_kwargs, request)
        except TooManyFieldsSent:
            return self._too_many_fields(request, api)
        if field is not None:
            message = f"'{field}' in the URL contains a NUL character (%00), which no name holds."
            if api:
                return json_error(400, "nul_character", message, field)
            return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and _content_length(request) > limit:
            content_type = request.META.get("CONTENT_TYPE", "")
            # Multipart file data does not count against the limit (Django's rule):
            # there the form fields are measured as they are parsed, below.
            if api or not content_type.startswith("multipart/"):
                logger.info("refused a %d-byte body for %s", _content_length(request), request.path)
                return too_large_response(request)
        if not api and request.method in BODY_METHODS:
            # Parse the form here, so a body too large or with too many fields is
            # this page rather than Django's error page from the CSRF check.
            try:
                request.POST  # noqa: B018
            except RequestDataTooBig:
                return too_large_response(request)
            except TooManyFieldsSent:
                return self._too_many_fields(request, api)
        return None

    def _too_many_fields(self, request, api: bool) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        message = (
            f"The request has more than {limit:,} fields or parameters; nothing was saved. "
            "Send fewer (edit a large example set as one JSON list)."
        )
        if api:
            return json_error(400, "too_many_fields", message)
        if request.path.startswith("/admin/"):
            return _admin_page(request, 400, "This form has too many fields to save", message)
        return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
