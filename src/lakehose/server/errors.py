"""One JSON shape for every non-HEC reply, CrowdStrike's: ``{"meta", "errors", "resources"}``.

FalconPy and other Falcon consumers read ``errors[0].message`` on any status >= 400
and need a non-empty ``meta``; lakehose's own ``/api/v1`` uses the same envelope so
there is one shape to learn. Domain errors (``lakehose.errors``) map to statuses here.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Match

from lakehose.errors import (
    AuthError,
    ConfigError,
    ConflictError,
    LakehoseError,
    NotFoundError,
    QueryError,
    RateLimitedError,
    ScopeError,
    SearchTimeoutError,
)

JSON = "application/json"


def meta(started: float | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "query_time": round(time.perf_counter() - started, 6) if started else 0.0,
        "powered_by": "lakehose",
        "trace_id": str(uuid.uuid4()),
        **extra,
    }


# on every reply that carries a secret or events: no cache (browser, proxy) may keep it
NO_STORE = {"Cache-Control": "no-store"}


def envelope(
    resources: Sequence[Any] | None = None,
    *,
    status: int = 200,
    errors: Sequence[dict[str, Any]] = (),
    started: float | None = None,
    headers: dict[str, str] | None = None,
    extra_meta: dict[str, Any] | None = None,
) -> Response:
    body = {
        "meta": meta(started, **(extra_meta or {})),
        "errors": list(errors),
        "resources": list(resources or []),
    }
    return Response(orjson.dumps(body), status, headers=headers, media_type=JSON)


def error(
    status: int, message: str, *, headers: dict[str, str] | None = None, **fields: Any
) -> Response:
    return envelope(
        status=status, errors=[{"code": status, "message": message, **fields}], headers=headers
    )


class ApiError(Exception):
    """Leave a route with an error reply."""

    def __init__(self, status: int, message: str, **fields: Any) -> None:
        self.status = status
        self.message = message
        self.fields = fields
        super().__init__(message)


def status_for(exc: Exception) -> tuple[int, dict[str, str], dict[str, Any]]:
    """HTTP status, headers and extra error fields for a domain error."""
    if isinstance(exc, ApiError):
        return exc.status, {}, exc.fields
    if isinstance(exc, ScopeError):
        return 403, {}, {}
    if isinstance(exc, AuthError):
        return 401, {"WWW-Authenticate": "Bearer"}, {}
    if isinstance(exc, NotFoundError):
        return 404, {}, {}
    if isinstance(exc, ConflictError):
        return 409, {}, {}
    if isinstance(exc, RateLimitedError):
        return 429, {"Retry-After": str(max(1, round(exc.retry_after)))}, {}
    if isinstance(exc, SearchTimeoutError):
        return 422, {}, {}
    if isinstance(exc, QueryError):
        return 400, {}, {"line": exc.line, "column": exc.column}
    if isinstance(exc, ValueError | ConfigError):
        return 400, {}, {}
    return 500, {}, {}


def allowed_methods(request: Request) -> str:
    """The ``Allow`` header of a path: the methods of every route that matches it.

    Starlette names only the first route's methods, and a path such as
    ``/api/v1/connectors/{name}`` has a route per method.
    """
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "OPTIONS"})
        if match != Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


async def handle_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        messages = {404: "not found", 405: "method not allowed"}
        message = exc.detail or messages.get(exc.status_code, "error")
        if exc.status_code == 405:
            return error(405, message, headers={"Allow": allowed_methods(request)})
        return error(exc.status_code, message)
    status, headers, fields = status_for(exc)
    if status == 500 and not isinstance(exc, LakehoseError):
        message = "internal server error"
    else:
        message = exc.message if isinstance(exc, ApiError | QueryError) else str(exc)
    return error(status, message, headers=headers, **fields)


async def client_gone(request: Request, exc: Exception) -> Response:
    """The client left mid-body (or was cut off by a deadline): nobody reads an answer."""
    return Response(b"", 400)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ClientDisconnect: client_gone,
    HTTPException: handle_error,
    LakehoseError: handle_error,
    ApiError: handle_error,
    ValueError: handle_error,
    # Anything else (a bug): a 500 in the same shape; Starlette still re-raises it to be logged.
    Exception: handle_error,
}
