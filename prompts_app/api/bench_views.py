"""Baseline endpoints for `manage.py bench`, mounted only when BENCHMARK_ENDPOINTS is true.

``GET /bench/bare/<project>/<name>/resolve?label=…`` answers with exactly the JSON body
and ETag of ``GET /api/v1/prompts/<name>/resolve?label=…``, from this process's memory:
the first request for a (project, prompt, query) computes it once through
``prompt_resolve``; every later one is a dict lookup. No authentication, no
cache or database round trip: what is left is the same server config (gunicorn,
middleware, DRF, JSON rendering) that the real endpoint runs on, which is what the
resolve row measures against. ``/bench/bare-auth/…`` is the same with the API's
authentication and scope check on (a breakdown of the real endpoint's cost).
``GET /bench/ping`` names the worker process (the benchmark waits for every worker).
"""

from __future__ import annotations

import os
from typing import ClassVar

from django.conf import settings
from django.urls import path
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from prompts_app.models import Project
from prompts_app.selectors.library import prompt_resolve

_MEMORY: dict[tuple, dict] = {}


def _entry(project: str, name: str, label: str | None, version: str | None) -> dict:
    key = (project, name, label, version)
    entry = _MEMORY.get(key)
    if entry is None:
        found = Project.objects.get(name=project)
        entry = prompt_resolve(project=found, name=name, label=label, version=version)
        entry = {"payload": entry["payload"], "etag": entry["etag"]}
        _MEMORY[key] = entry
    return entry


class BareAuthResolveApi(APIView):
    """The bare endpoint behind the API's own authentication and scope check (the
    REST_FRAMEWORK defaults, as on every /api/v1 view)."""

    def get(self, request, project, name):
        entry = _entry(
            project, name, request.query_params.get("label"), request.query_params.get("version")
        )
        headers = {"ETag": entry["etag"], "Cache-Control": "private, no-cache"}
        if request.headers.get("If-None-Match") == entry["etag"]:
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
        return Response(entry["payload"], headers=headers)


class BareResolveApi(BareAuthResolveApi):
    authentication_classes: ClassVar[list] = []
    permission_classes: ClassVar[list] = [AllowAny]


class PingApi(APIView):
    authentication_classes: ClassVar[list] = []
    permission_classes: ClassVar[list] = [AllowAny]

    def get(self, request):
        return Response({"pid": os.getpid()})


urlpatterns = (
    [
        path("ping", PingApi.as_view(), name="bench-ping"),
        path(
            "bare/<str:project>/<str:name>/resolve",
            BareResolveApi.as_view(),
            name="bench-bare-resolve",
        ),
        path(
            "bare-auth/<str:project>/<str:name>/resolve",
            BareAuthResolveApi.as_view(),
            name="bench-bare-auth-resolve",
        ),
    ]
    if settings.BENCHMARK_ENDPOINTS
    else []
)
