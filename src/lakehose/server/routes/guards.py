"""Who is calling a non-HEC route: bearer tokens, their scopes, and loopback-only admin.

A HEC API key is never a bearer token (it is not in the token table), so an
ingest key cannot read; a bearer token is never a HEC key, so it cannot ingest.
"""

from __future__ import annotations

import ipaddress

from starlette.requests import Request

from lakehose.errors import AuthError, ScopeError
from lakehose.server.runtime import Runtime
from lakehose.storage.catalog.clients import AccessToken


def credential(request: Request, scheme: str) -> str | None:
    """The credential of an ``Authorization: <scheme> <credential>`` header, if that scheme."""
    header = request.headers.get("authorization", "").strip()
    given, _, value = header.partition(" ")
    if given.lower() != scheme.lower():
        return None
    return value.strip() or None


def is_loopback(request: Request) -> bool:
    """Whether the caller's address is a loopback IP literal; a name (``localhost``, which a
    trusted proxy may pass on from ``X-Forwarded-For``) is not an address and never is."""
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require(request: Request, runtime: Runtime, scope: str) -> AccessToken:
    """The caller's token if it holds ``scope``; raises AuthError (401) or ScopeError (403)."""
    token = credential(request, "bearer")
    if token is None:
        raise AuthError("a bearer token is required (POST /oauth2/token)")
    info = runtime.catalog.check_token(token)
    if info is None:
        raise AuthError("access denied, invalid bearer token")
    from lakehose.auth.scopes import expand

    if scope not in expand(info.scopes):
        raise ScopeError(scope)
    return info


def require_admin_origin(request: Request, runtime: Runtime) -> None:
    """Administration only from loopback addresses unless ``allow_remote_admin`` is set."""
    if not runtime.settings.allow_remote_admin and not is_loopback(request):
        raise ScopeError("admin from a loopback address (set allow_remote_admin to lift this)")


def require_metrics_access(request: Request, runtime: Runtime) -> None:
    """``/metrics`` and ``/api/v1/status`` name connectors and show counts and offsets:
    loopback only unless ``allow_remote_metrics``; a ``metrics:read`` token if
    ``metrics_token``."""
    settings = runtime.settings
    if not settings.allow_remote_metrics and not is_loopback(request):
        raise ScopeError("metrics from a loopback address (set allow_remote_metrics to lift this)")
    if settings.metrics_token:
        from lakehose.auth.scopes import METRICS_READ

        require(request, runtime, METRICS_READ)
