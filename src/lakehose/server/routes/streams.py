"""Falcon event-stream routes: discovery, session refresh, and the data feed (``datafeed.py``).

Discovery (``GET /sensors/entities/datafeed/v2?appId=``, bearer token with
``streams:read``) issues one session per partition and answers with the URLs
consumers parse (``specs/falcon-streams.md`` §3). Refresh (``POST
/sensors/entities/datafeed-actions/v1/{partition}``) extends every live session of
the caller's appId, on all partitions, since some consumers only refresh partition 0.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lakehose.auth import scopes
from lakehose.server.replies.envelope import envelope
from lakehose.server.replies.errors import ApiError
from lakehose.server.routes import stream_params
from lakehose.server.routes.datafeed import DataFeed
from lakehose.server.routes.guards import require
from lakehose.server.runtime import Runtime

CUSTOMER_ID_SETTING = "customer_id"


class CustomerId:
    """``customerIDString``: the configured one, else a 32-hex id made once per data directory."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self._value: str | None = runtime.settings.customer_id

    def __call__(self) -> str:
        if self._value is None:
            self._value = self.rt.catalog.set_setting_once(
                CUSTOMER_ID_SETTING, secrets.token_hex(16)
            )
        return self._value


class StreamRoutes:
    """Discovery and refresh."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    async def discover(self, request: Request) -> Response:
        started = time.perf_counter()
        s = self.rt.settings
        token = require(request, self.rt, scopes.STREAMS_READ)
        app = stream_params.app_id(request.query_params.get("appId"))
        fmt = stream_params.feed_format(request.query_params.get("format"))
        if self.rt.sandbox.enabled and self.rt.sandbox.take("discovery_refuse"):
            raise ApiError(503, "stream discovery is unavailable (a sandbox fault); try again")
        server = request.scope.get("server") or ("127.0.0.1", s.port)
        base = stream_params.origin(
            s.public_url,
            request.url.scheme,
            request.headers.get("host"),
            f"{server[0]}:{server[1]}",
        )
        self.rt.catalog.reserve_sessions(
            token.client_id, s.partitions, s.max_sessions_per_client, s.session_grace
        )
        resources: list[dict[str, Any]] = []
        for p in range(s.partitions):
            session_token, session = self.rt.catalog.create_session(
                token.client_id, app, p, s.session_ttl, issuer=token.digest
            )
            resources.append(
                {
                    "dataFeedURL": stream_params.data_feed_url(base, p, app, fmt),
                    "sessionToken": {
                        "token": session_token,
                        "expiration": stream_params.rfc3339(session.expires_at),
                    },
                    "refreshActiveSessionURL": stream_params.refresh_url(base, p, app),
                    "refreshActiveSessionInterval": int(s.session_ttl),
                }
            )
        return envelope(resources, started=started, headers={"Cache-Control": "no-store"})

    async def refresh(self, request: Request) -> Response:
        started = time.perf_counter()
        s = self.rt.settings
        token = require(request, self.rt, scopes.STREAMS_READ)
        await request.body()  # any body and content type: FalconPy sends {}, Elastic nothing
        action = request.query_params.get("action_name")
        if action != stream_params.REFRESH_ACTION:
            raise ApiError(
                400, f"action_name must be {stream_params.REFRESH_ACTION!r}, not {action!r}"
            )
        app = stream_params.app_id(request.query_params.get("appId"))
        partition = stream_params.partition(request.path_params["partition"], s.partitions)
        if partition is None:
            raise ApiError(
                404, f"no such partition: this server has partitions 0-{s.partitions - 1}"
            )
        refreshed = self.rt.catalog.refresh_sessions(
            token.client_id, app, s.session_ttl, s.session_grace
        )
        if not refreshed:
            raise ApiError(
                404, f"no active stream session for appId {app} on partition {partition}"
            )
        return envelope([], started=started)


def routes(runtime: Runtime) -> list[BaseRoute]:
    r = StreamRoutes(runtime)
    feed = DataFeed(runtime, CustomerId(runtime))
    return [
        Route("/sensors/entities/datafeed/v2", r.discover, methods=["GET"]),
        Route("/sensors/entities/datafeed/v1/{partition}", feed, methods=["GET"]),
        Route("/sensors/entities/datafeed-actions/v1/{partition}", r.refresh, methods=["POST"]),
    ]
