"""``/api/v1/sandbox``: arm and clear faults, expire sessions, shift the ingest clock (extension).

Only with ``lakehose serve --sandbox`` (a 404 otherwise), only from loopback, only
for an ``admin`` token. See ``server/sandbox.py`` for what each fault does.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lakehose.auth import scopes
from lakehose.server.protocols.body import json_body
from lakehose.server.replies.envelope import envelope
from lakehose.server.replies.errors import ApiError
from lakehose.server.routes.guards import is_loopback, require
from lakehose.server.runtime import Runtime
from lakehose.storage.faults import FAULTS


def _number(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ApiError(400, f"{name} must be a number")
    return float(value)


class SandboxRoutes:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    def _auth(self, request: Request) -> None:
        require(request, self.rt, scopes.ADMIN)  # credentials first, as on every route
        if not self.rt.sandbox.enabled:
            raise ApiError(
                404, "the sandbox is off: start the server with lakehose serve --sandbox"
            )
        if not is_loopback(request):
            raise ApiError(403, "the sandbox answers loopback addresses only")

    def _state(self) -> dict[str, Any]:
        table = self.rt.sandbox.table
        now = time.time()
        return {
            "enabled": True,
            "faults": [f.to_dict(now) for f in table.list()],
            "available": FAULTS,
            "clock_offset_seconds": table.clock_offset(),
        }

    async def show(self, request: Request) -> Response:
        started = time.perf_counter()
        self._auth(request)
        return envelope([self._state()], started=started)

    async def arm(self, request: Request) -> Response:
        """``{"fault": NAME, "count": N | "duration": S, "seconds"|"retry_after"|"rate": V}``."""
        started = time.perf_counter()
        self._auth(request)
        body = await json_body(request)
        fault = body.pop("fault", None)
        if not isinstance(fault, str):
            raise ApiError(400, "field 'fault' is required: one of " + ", ".join(FAULTS))
        count = body.pop("count", None)
        if count is not None and (not isinstance(count, int) or isinstance(count, bool)):
            raise ApiError(400, "count must be an integer")
        duration = _number(body, "duration")
        body.pop("duration", None)
        armed = self.rt.sandbox.table.arm(fault, count=count, duration=duration, params=body)
        self.rt.sandbox.refresh(force=True)
        return envelope([armed.to_dict()], status=201, started=started)

    async def clear(self, request: Request) -> Response:
        started = time.perf_counter()
        self._auth(request)
        removed = self.rt.sandbox.table.clear()
        self.rt.sandbox.refresh(force=True)
        return envelope([{"cleared": removed}], started=started)

    async def expire_sessions(self, request: Request) -> Response:
        started = time.perf_counter()
        self._auth(request)
        count = self.rt.sandbox.table.expire_sessions(self.rt.settings.session_grace)
        self.rt.sandbox.table.record("session_expire")
        self.rt.sandbox.fired("session_expire", {"sessions": count})
        return envelope([{"expired": count}], started=started)

    async def clock(self, request: Request) -> Response:
        """``{"offset_seconds": S}``: new batches are stamped ``now + S`` (tests only)."""
        started = time.perf_counter()
        self._auth(request)
        body = await json_body(request)
        offset = _number(body, "offset_seconds")
        if offset is None:
            raise ApiError(400, "field 'offset_seconds' is required (negative: the past)")
        self.rt.sandbox.table.set_clock_offset(offset)
        self.rt.sandbox.refresh(force=True)
        return envelope([{"clock_offset_seconds": offset}], started=started)


def routes(runtime: Runtime) -> list[BaseRoute]:
    r = SandboxRoutes(runtime)
    return [
        Route("/api/v1/sandbox", r.show, methods=["GET"]),
        Route("/api/v1/sandbox/faults", r.arm, methods=["POST"]),
        Route("/api/v1/sandbox/faults", r.clear, methods=["DELETE"]),
        Route("/api/v1/sandbox/sessions/expire", r.expire_sessions, methods=["POST"]),
        Route("/api/v1/sandbox/clock", r.clock, methods=["PUT"]),
    ]
