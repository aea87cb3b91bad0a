"""lakehose's own REST API under ``/api/v1``: connectors, status, metrics."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

import lakehose
from lakehose.auth import scopes
from lakehose.config import parse_duration
from lakehose.errors import ConfigError
from lakehose.server.consumer_lag import all_groups, groups_summary, lag_gauges
from lakehose.server.metrics import LabelledGauges
from lakehose.server.protocols.body import json_body
from lakehose.server.protocols.json_bodies import ConnectorRequest, decode
from lakehose.server.replies.envelope import NO_STORE, envelope
from lakehose.server.replies.errors import ApiError
from lakehose.server.routes.guards import require, require_admin_origin, require_metrics_access
from lakehose.server.runtime import Runtime
from lakehose.storage.catalog.connectors import Connector
from lakehose.storage.lake import (
    connector_stats,
    connector_view,
    hec_url,
    lake_address,
    tier_sizes,
)
from lakehose.storage.refusals import RING_SIZE, connector_refusals, iso_time

# request body key -> connector option
_CONNECTOR_FIELDS = {
    "description": "description",
    "parser": "parser",
    "index": "default_index",
    "default_index": "default_index",
    "allowed_indexes": "allowed_indexes",
    "source": "default_source",
    "default_source": "default_source",
    "sourcetype": "default_sourcetype",
    "default_sourcetype": "default_sourcetype",
    "host": "default_host",
    "default_host": "default_host",
    "ack": "use_ack",
    "use_ack": "use_ack",
    "allow_query_token": "allow_query_token",
    "enabled": "enabled",
    "rate_rps": "rate_rps",
    "rate_bps": "rate_bps",
}


def connector_options(body: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    """Connector options from a body :class:`ConnectorRequest` validated (types and names)."""
    options = {_CONNECTOR_FIELDS[k]: v for k, v in body.items() if k != "name"}
    parser = options.get("parser")
    if parser is not None and parser not in runtime.parsers.parsers:
        raise ApiError(
            400, f"unknown parser {parser!r}; known: {', '.join(runtime.parsers.names())}"
        )
    return options


class ConnectorRoutes:
    """``/api/v1/connectors``: the CLI's ``connector`` commands over HTTP, for an admin token."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    def _auth(self, request: Request, scope: str) -> None:
        require_admin_origin(request, self.rt)
        require(request, self.rt, scope)

    def _view(self, connector: Connector) -> dict[str, Any]:
        stats = connector_stats(self.rt.settings, self.rt.catalog).get(connector.name)
        return connector_view(
            connector,
            stats,
            self.rt.catalog.key_hints(connector.id),
            public_hec_url(self.rt),
        )

    async def list(self, request: Request) -> Response:
        started = time.perf_counter()
        self._auth(request, scopes.CONNECTORS_READ)
        stats = connector_stats(self.rt.settings, self.rt.catalog)
        url = public_hec_url(self.rt)
        views = [
            connector_view(c, stats.get(c.name), self.rt.catalog.key_hints(c.id), url)
            for c in self.rt.catalog.list_connectors()
        ]
        return envelope(views, started=started)

    async def create(self, request: Request) -> Response:
        started = time.perf_counter()
        self._auth(request, scopes.CONNECTORS_WRITE)
        body = decode(await request.body(), ConnectorRequest).given()
        name = body.get("name")
        if not isinstance(name, str):
            raise ApiError(400, "field 'name' is required")
        connector, key = self.rt.catalog.create_connector(name, **connector_options(body, self.rt))
        self.rt.reload_keys()
        view = self._view(connector)
        view["api_key"] = key
        return envelope([view], status=201, started=started, headers=NO_STORE)

    async def show(self, request: Request) -> Response:
        started = time.perf_counter()
        self._auth(request, scopes.CONNECTORS_READ)
        connector = self.rt.catalog.get_connector(request.path_params["name"])
        return envelope([self._view(connector)], started=started)

    async def update(self, request: Request) -> Response:
        started = time.perf_counter()
        self._auth(request, scopes.CONNECTORS_WRITE)
        body = decode(await request.body(), ConnectorRequest).given()
        connector = self.rt.catalog.update_connector(
            request.path_params["name"], **connector_options(body, self.rt)
        )
        self.rt.reload_keys()
        return envelope([self._view(connector)], started=started)

    async def rotate(self, request: Request) -> Response:
        """A new key; ``{"grace": "10m"}`` (or seconds) keeps the old keys working that long."""
        started = time.perf_counter()
        self._auth(request, scopes.CONNECTORS_WRITE)
        body = await json_body(request) if await request.body() else {}
        grace = body.get("grace", 0) or 0
        try:
            seconds = parse_duration(grace) if isinstance(grace, str) else float(grace)
        except (ConfigError, TypeError, ValueError):
            raise ApiError(400, "grace must be a duration such as 10m, or seconds") from None
        connector, key = self.rt.catalog.rotate_key(request.path_params["name"], grace=seconds)
        self.rt.reload_keys()
        view = self._view(connector)
        view["api_key"] = key
        view["old_keys_until"] = iso_time(time.time() + seconds) if seconds > 0 else None
        return envelope([view], started=started, headers=NO_STORE)

    async def errors(self, request: Request) -> Response:
        """The connector's recent refused requests, newest first (``?limit=``, 1-100)."""
        started = time.perf_counter()
        self._auth(request, scopes.CONNECTORS_READ)
        limit_text = request.query_params.get("limit", str(RING_SIZE))
        if not limit_text.isascii() or not limit_text.isdigit() or not 1 <= int(limit_text) <= 100:
            raise ApiError(400, "limit must be a whole number from 1 to 100")
        self.rt.refusals.flush(self.rt.catalog)  # this worker's latest too
        found = connector_refusals(self.rt.catalog, request.path_params["name"], int(limit_text))
        return envelope([r.to_dict() for r in found], started=started)

    async def delete(self, request: Request) -> Response:
        started = time.perf_counter()
        self._auth(request, scopes.CONNECTORS_WRITE)
        connector = self.rt.catalog.delete_connector(request.path_params["name"])
        self.rt.reload_keys()
        return envelope(
            [{"id": connector.id, "name": connector.name, "deleted": True}], started=started
        )


def tier_gauges(runtime: Runtime) -> LabelledGauges:
    """``lakehose_tier_events`` and ``lakehose_tier_bytes`` by tier and partition."""
    events: dict[tuple[str, ...], float] = {}
    nbytes: dict[tuple[str, ...], float] = {}
    for t in tier_sizes(lake_address(runtime.settings), runtime.settings.partitions):
        key = (t["tier"], str(t["partition"]))
        events[key] = t["events"]
        nbytes[key] = t["bytes"]
    labels = ("tier", "partition")
    return {
        "lakehose_tier_events": ("Events kept in each tier (rows, columnar)", labels, events),
        "lakehose_tier_bytes": ("Bytes kept in each tier (rows, columnar)", labels, nbytes),
    }


def public_hec_url(runtime: Runtime) -> str:
    return hec_url(runtime.settings)


def routes(runtime: Runtime) -> list[BaseRoute]:
    c = ConnectorRoutes(runtime)

    async def status(request: Request) -> Response:
        started = time.perf_counter()
        require_metrics_access(request, runtime)
        partitions = []
        for p in range(runtime.settings.partitions):
            start, end = runtime.bounds(p)
            partitions.append({"partition": p, "start_offset": start, "end_offset": end})
        s = runtime.settings
        cluster = None
        if s.cluster:
            from lakehose.storage.cluster.status import cluster_status

            cluster = await asyncio.to_thread(
                cluster_status, s.cluster, s.cluster_namespace, s.partitions
            )
        return envelope(
            [
                {
                    "cluster": cluster,
                    "version": lakehose.__version__,
                    "healthy": runtime.health_code() == 17,
                    "uptime_seconds": round(time.time() - runtime.started_at, 1),
                    "workers": runtime.workers,
                    "partitions": partitions,
                    "consumer_groups": groups_summary(all_groups(runtime.groups, runtime.readers)),
                    "tiers": tier_sizes(
                        lake_address(runtime.settings), runtime.settings.partitions
                    ),
                }
            ],
            started=started,
        )

    async def metrics(request: Request) -> Response:
        require_metrics_access(request, runtime)
        runtime.flush_metrics_now()
        views = all_groups(runtime.groups, runtime.readers)
        gauges = lag_gauges(views)
        gauges.update(tier_gauges(runtime))
        body, content_type = runtime.metrics.render(gauges)
        return Response(body, media_type=content_type)

    async def openapi(request: Request) -> Response:
        from lakehose.server.openapi import document

        return Response(orjson.dumps(document()), media_type="application/json")

    async def home(request: Request) -> Response:
        """``GET /``: a browser goes to the console; anything else gets where to go from here."""
        if "text/html" in request.headers.get("accept", ""):
            return RedirectResponse("/console", 303)
        base = str(request.base_url).rstrip("/")
        return Response(
            orjson.dumps(
                {
                    "name": "lakehose",
                    "version": lakehose.__version__,
                    "hec": base + "/services/collector",
                    "health": base + "/services/collector/health",
                    "status": base + "/api/v1/status",
                    "openapi": base + "/api/v1/openapi.json",
                    "console": base + "/console",
                    "docs": "README.md and docs/cli.md in the lakehose source",
                }
            ),
            media_type="application/json",
        )

    return [
        Route("/", home, methods=["GET"]),
        Route("/api/v1/openapi.json", openapi, methods=["GET"]),
        Route("/api/v1/status", status, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/api/v1/connectors", c.list, methods=["GET"]),
        Route("/api/v1/connectors", c.create, methods=["POST"]),
        Route("/api/v1/connectors/{name}", c.show, methods=["GET"]),
        Route("/api/v1/connectors/{name}", c.update, methods=["PATCH"]),
        Route("/api/v1/connectors/{name}", c.delete, methods=["DELETE"]),
        Route("/api/v1/connectors/{name}/rotate", c.rotate, methods=["POST"]),
        Route("/api/v1/connectors/{name}/errors", c.errors, methods=["GET"]),
    ]
