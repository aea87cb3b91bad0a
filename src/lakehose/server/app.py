"""The ASGI application: HEC paths go straight to the HEC handler, the rest to Starlette."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import orjson
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import BaseRoute

from lakehose.server import console
from lakehose.server.replies.envelope import error
from lakehose.server.replies.errors import EXCEPTION_HANDLERS
from lakehose.server.routes import clients, connectors, oauth, search, search_views, streams
from lakehose.server.routes import groups as groups_api
from lakehose.server.routes import sandbox as sandbox_api
from lakehose.server.routes.hec import HecHandler, Receive, Scope, Send, route_of
from lakehose.server.runtime import Runtime


def all_routes(runtime: Runtime) -> list[BaseRoute]:
    """Every non-HEC route. Each feature module contributes its own list."""
    return [
        *connectors.routes(runtime),
        *oauth.routes(runtime),
        *clients.routes(runtime),
        *streams.routes(runtime),
        *groups_api.routes(runtime),
        *sandbox_api.routes(runtime),
        *search.routes(runtime),
        *search_views.routes(runtime),
        *console.routes(runtime),
    ]


class LakehoseApp:
    """ASGI entry point of one worker process."""

    def __init__(self, runtime: Runtime, on_ready: Callable[[], None] | None = None) -> None:
        self.runtime = runtime
        self.hec = HecHandler(runtime)

        @asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            await runtime.start()
            # What exists now (modules, routes, the runtime) lives as long as the process:
            # out of the collector's sight, so a full collection walks only what requests
            # and connections made (107 ms -> a few ms with 1,000 connections open)
            gc.collect()
            gc.freeze()
            if on_ready is not None:
                on_ready()  # the socket already listens: from now on connections are served
            try:
                yield
            finally:
                await runtime.stop()

        self.web = Starlette(
            routes=all_routes(runtime),
            exception_handlers=EXCEPTION_HANDLERS,
            lifespan=lifespan,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hec = scope["type"] == "http" and route_of(scope["path"]) is not None
        if scope["type"] == "http" and _authorizations(scope) > 1:
            await _duplicate_authorization(hec, scope, receive, send)
            return
        if hec:
            await self.hec(scope, receive, send)
            return
        await self.web(scope, receive, send)


def _authorizations(scope: Scope) -> int:
    return sum(1 for name, _ in scope["headers"] if name == b"authorization")


async def _duplicate_authorization(hec: bool, scope: Scope, receive: Receive, send: Send) -> None:
    """Two ``Authorization`` headers: which one counts would differ between proxies and
    routes (HEC took the last, the API the first), so none does: 400 on every route."""
    text = "more than one Authorization header; send one"
    if hec:
        reply: Response = Response(
            orjson.dumps({"text": text, "code": 400}), 400, media_type="application/json"
        )
    else:
        reply = error(400, text)
    await reply(scope, receive, send)
