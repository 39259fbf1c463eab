"""Bearer API-key authentication and per-project scopes, on by default for every view."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache
from rest_framework import authentication, exceptions, permissions

from prompts_app.infra import keycache
from prompts_app.models import ApiKey

logger = logging.getLogger(__name__)


class AuthFailureThrottle:
    """Counts failed authentications per client address in the cache; past the
    limit the address gets 429 for the rest of the window, so keys cannot be
    guessed at speed. A cache outage never blocks a valid key."""

    def __init__(self, request) -> None:
        self.key = f"auth-fail:{request.META.get('REMOTE_ADDR', 'unknown')}"

    def check(self) -> None:
        try:
            failures = cache.get(self.key, 0)
        except Exception:  # noqa: BLE001
            return
        if failures >= settings.AUTH_FAILURES_PER_MINUTE:
            raise exceptions.Throttled(
                wait=60, detail="Too many failed authentications from this address: wait a minute."
            )

    def record_failure(self) -> None:
        try:
            if not cache.add(self.key, 1, timeout=60):
                cache.incr(self.key)
        except Exception:  # noqa: BLE001
            pass


class ApiKeyUser:
    """What `request.user` is for an API call: the key's project, nothing more."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, api_key: ApiKey) -> None:
        self.api_key = api_key
        self.project = api_key.project

    @property
    def actor(self) -> str:
        return f"api-key:{self.api_key.name or self.api_key.prefix}"

    def __str__(self) -> str:
        return self.actor


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        # The throttle is consulted only when a key fails: valid keys never pay for it.
        throttle = AuthFailureThrottle(request)
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            throttle.check()
            throttle.record_failure()
            raise exceptions.AuthenticationFailed("Send the key as 'Authorization: Bearer <key>'.")
        api_key = keycache.lookup(raw.strip())
        if api_key is None:
            throttle.check()
            throttle.record_failure()
            # Log the key's first characters only: a key must never reach the logs.
            logger.info("refused an unknown or revoked API key starting %s", raw.strip()[:6])
            raise exceptions.AuthenticationFailed("This API key is unknown or has been revoked.")
        return ApiKeyUser(api_key), api_key

    def authenticate_header(self, request) -> str:
        return self.keyword


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class HasProjectScope(permissions.BasePermission):
    """Reads need `read`, writes need `write`, unless the view names its own scope."""

    def has_permission(self, request, view) -> bool:
        if not isinstance(request.user, ApiKeyUser):
            raise exceptions.NotAuthenticated(
                "Authentication required: send 'Authorization: Bearer <key>'. "
                "Create a key with `python manage.py create_api_key`."
            )
        scope = getattr(view, "required_scope", None)
        if scope is None:
            scope = "read" if request.method in SAFE_METHODS else "write"
        if isinstance(scope, dict):
            scope = scope.get(request.method, scope.get("*"))
        if not request.user.api_key.has_scope(scope):
            self.message = f"This API key lacks the '{scope}' scope needed here."
            return False
        return True
