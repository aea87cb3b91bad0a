"""Who may read search results: a bearer token with ``search:read``, or a console session.

A request that carries an ``Authorization`` header is judged by its token alone.
Without one, a signed-in console user (any role: analysts search) may read; the
search endpoints only read, so they need no CSRF token.
"""

from __future__ import annotations

from starlette.requests import Request

from lakehose.auth import scopes
from lakehose.server.routes.guards import require
from lakehose.server.runtime import Runtime
from lakehose.storage.lake import open_accounts


def authorise(request: Request, runtime: Runtime) -> str:
    """Who is reading (for logs): ``client:<id>`` or ``user:<name>``; else AuthError/ScopeError."""
    if "authorization" not in request.headers:
        user = console_user(request, runtime)
        if user is not None:
            return f"user:{user}"
    token = require(request, runtime, scopes.SEARCH_READ)
    return f"client:{token.client_id}"


def console_user(request: Request, runtime: Runtime) -> str | None:
    """The signed-in console user of the request's session cookie, if any."""
    from lakehose.server.console.guard import SESSION_COOKIE  # the console imports this module

    secret = request.cookies.get(SESSION_COOKIE)
    if not secret or len(secret) > 256:
        return None
    s = runtime.settings
    session = open_accounts(runtime.catalog).session(
        secret, s.console_idle_timeout, s.console_session_max
    )
    return None if session is None else session.user.name
