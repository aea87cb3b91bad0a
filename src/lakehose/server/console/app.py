"""The console's shared parts: the runtime, accounts, templates, and the headers on every page.

Route modules receive one :class:`Console` and declare their routes with
``guard.guarded``; templates extend ``base.html`` (blocks ``title``, ``content``,
``scripts``) and are rendered with :meth:`Console.render`, which passes the
visitor, the CSRF token and the navigation to every page.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

import lakehose
from lakehose.server.console.guard import Visitor
from lakehose.server.routes.hec import Receive, Scope, Send
from lakehose.server.runtime import Runtime
from lakehose.storage.accounts import Accounts
from lakehose.storage.lake import open_accounts

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

# No inline script or style anywhere: every script and stylesheet is a file under
# /console/static. uPlot sets element.style from script (CSSOM), which style-src allows.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]

# (path under /console, label, role needed to see it)
NAVIGATION = (
    ("/search", "Search", "analyst"),
    ("/connectors", "Data connectors", "admin"),
    ("/clients", "API clients", "admin"),
    ("/streams", "Streams", "analyst"),
    ("/status", "Status", "analyst"),
    ("/users", "Users", "admin"),
    ("/audit", "Audit log", "admin"),
)


class SecurityHeaders:
    """ASGI middleware: CSP and friends on every console response; pages are never cached."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/console/static/")

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                if not static and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def timestamp(value: float | int | None, unit: str = "s") -> str:
    """A time for people: ``2026-12-05 15:04:05Z``; ``-`` when there is none."""
    if not value:
        return "-"
    seconds = value / 1e9 if unit == "ns" else float(value)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def ago(value: float | int | None, unit: str = "s") -> str:
    """How long ago, roughly: ``12 s ago``, ``5 min ago``, ``3 h ago``, ``2 d ago``."""
    if not value:
        return "never"
    seconds = time.time() - (value / 1e9 if unit == "ns" else float(value))
    if seconds < 0:
        return "just now"
    for size, name in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{int(seconds // size)} {name} ago"
    return f"{int(seconds)} s ago"


def number(value: float | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


class Console:
    """What every console route module needs: runtime, accounts, and rendering."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._accounts: Accounts | None = None
        self._accounts_of: object = None  # the catalog they were opened on
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(timestamp=timestamp, ago=ago, number=number)
        self.env.globals.update(version=lakehose.__version__, static=static_url)

    @property
    def accounts(self) -> Accounts:
        """Accounts over the runtime's catalog (opened when the worker starts)."""
        if self._accounts is None or self._accounts_of is not self.runtime.catalog:
            self._accounts = open_accounts(self.runtime.catalog)
            self._accounts_of = self.runtime.catalog
        return self._accounts

    def navigation(self, visitor: Visitor | None) -> list[tuple[str, str]]:
        if visitor is None:
            return []
        admin = visitor.user.is_admin
        return [
            ("/console" + path, label)
            for path, label, role in NAVIGATION
            if role == "analyst" or admin
        ]

    def render(
        self,
        request: Request,
        template: str,
        context: Mapping[str, Any] | None = None,
        *,
        visitor: Visitor | None = None,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        """A page from ``template`` with the visitor, CSRF token and navigation in context."""
        values: dict[str, Any] = {
            "request": request,
            "visitor": visitor,
            "user": visitor.user if visitor else None,
            "csrf_token": visitor.csrf_token if visitor else "",
            "navigation": self.navigation(visitor),
            "path": request.url.path,
        }
        values.update(context or {})
        body = self.env.get_template(template).render(values)
        return HTMLResponse(body, status, headers=dict(headers or {}))

    def forbidden(self, request: Request, visitor: Visitor, reason: str) -> Response:
        if request.headers.get("hx-request"):
            return HTMLResponse(f"<p class='error'>{escape(reason)}</p>", 403)
        return self.render(
            request, "forbidden.html", {"reason": reason}, visitor=visitor, status=403
        )


def static_url(name: str) -> str:
    """The URL of a static file, with the version so a new release is fetched anew."""
    return f"/console/static/{name}?v={lakehose.__version__}"
