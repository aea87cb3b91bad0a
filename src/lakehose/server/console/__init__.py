"""The web console under ``/console``: server-rendered pages, htmx, and uPlot charts.

Each page module offers ``routes(console) -> list[BaseRoute]`` with paths relative
to ``/console``, declared with ``guard.guarded`` so that every page and action
checks the session, the role and (for changes) the CSRF token.
"""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from lakehose.server.console import (
    audit,
    clients,
    connectors,
    login,
    search_page,
    status,
    streams,
    users,
)
from lakehose.server.console.app import STATIC, Console, SecurityHeaders
from lakehose.server.runtime import Runtime

# every module that contributes console pages; add yours here
PAGE_MODULES = (login, status, connectors, clients, streams, users, audit, search_page)


def routes(runtime: Runtime) -> list[BaseRoute]:
    """``/console/...`` (``GET /`` sends browsers here: ``routes/connectors.py``)."""
    console = Console(runtime)

    async def home(request: Request) -> Response:
        return RedirectResponse("/console/search", 303)

    pages: list[BaseRoute] = [Route("/", home, methods=["GET"])]
    for module in PAGE_MODULES:
        pages += module.routes(console)
    pages.append(Mount("/static", app=StaticFiles(directory=STATIC), name="console-static"))
    return [
        Route("/console", home, methods=["GET"]),
        Mount("/console", routes=pages, middleware=[Middleware(SecurityHeaders)]),
    ]
