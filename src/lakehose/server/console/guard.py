"""Who may see a console page: the session cookie, roles, CSRF tokens and the remote-admin rule.

Every console route is built with :func:`guarded` (or calls :func:`require_role`
itself), which

1. finds the session named by the ``lakehose_session`` cookie (server-side, in the
   catalog: a deleted session is gone for every worker at once);
2. checks the role: ``analyst`` routes admit analysts and admins, ``admin`` routes
   admins only, and (as the admin API) only from a loopback address unless
   ``allow_remote_admin`` is set;
3. on a state-changing method (anything but GET, HEAD, OPTIONS) checks the CSRF
   token: the session's token in the ``X-CSRF-Token`` header (htmx sends it) or in
   the ``csrf_token`` form field, and a same-origin ``Origin`` header when one is sent.

A browser that is not signed in is sent to the sign-in page (or, for an htmx
request, told to go there with ``HX-Redirect``); a signed-in user without the role
gets 403.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from lakehose.server.routes.guards import is_loopback
from lakehose.storage.accounts import ConsoleSession, ConsoleUser, Role

if TYPE_CHECKING:
    from lakehose.server.console.app import Console

SESSION_COOKIE = "lakehose_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PREFIX = "/console"

Endpoint = Callable[[Request, "Visitor"], Awaitable[Response]]


class ConsoleRefusal(Exception):
    """A console request that cannot go on; carries the response to give instead."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


@dataclass(frozen=True, slots=True)
class Visitor:
    """A signed-in request: the session, its user, and where it comes from."""

    console: Console
    session: ConsoleSession
    address: str

    @property
    def user(self) -> ConsoleUser:
        return self.session.user

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token

    def audit(self, action: str, target: str = "", detail: str = "") -> None:
        """Write who did ``action`` to ``target``, now, from this address, to the audit log."""
        self.console.accounts.audit(self.user.name, action, target, detail, self.address)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "-"


def is_https(request: Request, console: Console) -> bool:
    return request.url.scheme == "https" or console.runtime.settings.tls_cert is not None


def session_secret(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE) or None


def current_session(request: Request, console: Console) -> ConsoleSession | None:
    """The live session of this request's cookie, or None."""
    secret = session_secret(request)
    if secret is None or len(secret) > 256:
        return None
    s = console.runtime.settings
    return console.accounts.session(secret, s.console_idle_timeout, s.console_session_max)


def sign_in_redirect(request: Request) -> Response:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    location = f"{PREFIX}/login?next={quote(target, safe='')}"
    if request.headers.get("hx-request") or request.method not in SAFE_METHODS:
        return PlainTextResponse("sign-in required", 401, headers={"HX-Redirect": location})
    return RedirectResponse(location, 303)


def same_origin(request: Request) -> bool:
    """False only when an Origin header names another origin than the one addressed."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    if origin == "null":
        return False
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc.lower() == host.lower()


async def check_csrf(request: Request, expected: str) -> None:
    """Raise ConsoleRefusal (403) unless the request carries ``expected`` as its CSRF token."""
    from lakehose.server.console.forms import read_form

    given = request.headers.get(CSRF_HEADER)
    if given is None:
        given = (await read_form(request)).get(CSRF_FIELD) or None
    if not same_origin(request):
        raise ConsoleRefusal(PlainTextResponse("cross-origin request refused", 403))
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise ConsoleRefusal(
            PlainTextResponse("CSRF token missing or wrong; reload the page and try again", 403)
        )


async def require_role(request: Request, role: Role, console: Console) -> Visitor:
    """The signed-in visitor if they hold ``role``; raises ConsoleRefusal otherwise.

    ``analyst`` admits every signed-in user, ``admin`` only admins (and only from a
    loopback address unless ``allow_remote_admin``). State-changing methods must
    carry the session's CSRF token.
    """
    session = current_session(request, console)
    if session is None:
        raise ConsoleRefusal(sign_in_redirect(request))
    visitor = Visitor(console, session, client_address(request))
    if role == "admin":
        if not session.user.is_admin:
            raise ConsoleRefusal(console.forbidden(request, visitor, "This page is for admins."))
        if not console.runtime.settings.allow_remote_admin and not is_loopback(request):
            raise ConsoleRefusal(
                console.forbidden(
                    request,
                    visitor,
                    "Administration is allowed from a loopback address only "
                    "(the server's allow_remote_admin setting lifts this).",
                )
            )
    if request.method not in SAFE_METHODS:
        await check_csrf(request, session.csrf_token)
    return visitor


def guarded(
    path: str,
    endpoint: Endpoint,
    console: Console,
    *,
    role: Role = "analyst",
    methods: Sequence[str] = ("GET",),
    name: str | None = None,
) -> Route:
    """A console route whose endpoint runs only for a visitor holding ``role``.

    ``endpoint(request, visitor)`` gets the :class:`Visitor`; ``path`` is relative to
    ``/console``. This is how every console page and action is declared.
    """

    async def run(request: Request) -> Response:
        try:
            visitor = await require_role(request, role, console)
            return await endpoint(request, visitor)
        except ConsoleRefusal as refusal:
            return refusal.response

    return Route(path, run, methods=list(methods), name=name)
