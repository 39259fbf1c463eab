"""Bearer API-key authentication and per-project scopes, on by default for every view."""

from __future__ import annotations

from rest_framework import authentication, exceptions, permissions

from prompts_app.models import ApiKey


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
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise exceptions.AuthenticationFailed(
                "Send the key as 'Authorization: Bearer <key>'."
            )
        api_key = ApiKey.objects.for_raw_key(raw.strip())
        if api_key is None:
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
