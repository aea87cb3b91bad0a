"""Domain errors (``lakehose.errors``) mapped to HTTP statuses and error replies.

Every error leaves as the one JSON shape of ``envelope.py``; a route raises
:class:`ApiError` or a domain error and the handlers here answer it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount

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
from lakehose.server.replies.envelope import error


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

    def collect(routes: Sequence[BaseRoute], scope: dict[str, Any]) -> None:
        for route in routes:
            match, child = route.matches(scope)
            if match == Match.NONE:
                continue
            if isinstance(route, Mount):  # the console's pages: a route per method inside
                collect(route.routes, {**scope, **child})
            else:
                methods.update(getattr(route, "methods", None) or ())

    scope = request.scope  # a Mount's match moved root_path into it: match from the top
    top = scope.get("app_root_path", scope.get("root_path", ""))
    collect(request.app.router.routes, {**scope, "method": "OPTIONS", "root_path": top})
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
