"""``/api/v1/stream-groups``: consumer positions kept by the server (a lakehose extension).

A bearer token with ``streams:read`` commits, reads, resets and deletes the groups
of its own API client (the client that first committed for an appId owns it); an
``admin`` token sees and manages every group. ``offset`` in a commit is the offset
of the last event processed: the group resumes at ``offset + 1``.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lakehose.auth import scopes
from lakehose.errors import NotFoundError
from lakehose.server import feed_start
from lakehose.server.consumer_lag import group_view
from lakehose.server.feed_options import OUT_OF_RANGE, FeedOptions, start_spec
from lakehose.server.protocols.body import json_body
from lakehose.server.replies.envelope import envelope
from lakehose.server.replies.errors import ApiError
from lakehose.server.routes import stream_params
from lakehose.server.routes.guards import require
from lakehose.server.runtime import Runtime
from lakehose.storage.catalog.clients import AccessToken
from lakehose.storage.consumer_groups import CommitRequest


def _offset(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ApiError(400, f"{what} must be a non-negative integer")
    return value


class GroupRoutes:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    def _caller(self, request: Request) -> tuple[AccessToken, bool]:
        token = require(request, self.rt, scopes.STREAMS_READ)
        return token, scopes.ADMIN in scopes.expand(token.scopes)

    def _check_owner(self, app_id: str, token: AccessToken, admin: bool) -> None:
        owner = self.rt.groups.owner(app_id)
        if owner is not None and owner != token.client_id and not admin:
            raise ApiError(403, f"appId {app_id} belongs to another API client")

    def _partition(self, value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ApiError(400, "partition must be an integer")
        if not 0 <= value < self.rt.settings.partitions:
            raise ApiError(
                404,
                f"no such partition: this server has partitions 0-{self.rt.settings.partitions - 1}",
            )
        return value

    def _view(self, app_id: str) -> dict[str, Any]:
        positions = self.rt.groups.positions(app_id)
        if not positions:
            raise NotFoundError("consumer group", app_id)
        return group_view(app_id, positions, self.rt.readers)

    async def list(self, request: Request) -> Response:
        started = time.perf_counter()
        token, admin = self._caller(request)
        by_app: dict[str, list[Any]] = {}
        for position in self.rt.groups.all_positions():
            by_app.setdefault(position.app_id, []).append(position)
        views = [
            group_view(app, positions, self.rt.readers)
            for app, positions in by_app.items()
            if admin or positions[0].client_id == token.client_id
        ]
        return envelope(views, started=started)

    async def show(self, request: Request) -> Response:
        started = time.perf_counter()
        token, admin = self._caller(request)
        app_id = stream_params.app_id(request.path_params["app_id"])
        view = self._view(app_id)
        if not admin and view["client_id"] != token.client_id:
            raise NotFoundError("consumer group", app_id)  # another client's group is not shown
        return envelope([view], started=started)

    async def commit(self, request: Request) -> Response:
        """``{"partition": P, "offset": N}`` or ``{"positions": [{...}, ...]}``."""
        started = time.perf_counter()
        token, admin = self._caller(request)
        app_id = stream_params.app_id(request.path_params["app_id"])
        body = await json_body(request)
        items = body.get("positions", [body] if "offset" in body else None)
        if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
            raise ApiError(400, 'send {"partition": P, "offset": N} or {"positions": [...]}')
        requests = []
        for item in items:
            partition = self._partition(item.get("partition", 0))
            offset = _offset(item.get("offset"), "offset")
            end = self.rt.readers[partition].bounds()[1]
            if offset >= end:
                raise ApiError(
                    400,
                    f"offset {offset} is not in partition {partition} yet (its next offset is "
                    f"{end}); commit the offset of the last event processed",
                )
            requests.append(CommitRequest(app_id, partition, offset, token.client_id))
        self._check_owner(app_id, token, admin)
        await self.rt.position_commits.commit(requests)
        committed = [{"partition": r.partition, "committed": r.committed} for r in requests]
        return envelope([{"app_id": app_id, "partitions": committed}], started=started)

    async def reset(self, request: Request) -> Response:
        """``{"start": SPEC, "partitions": [P, ...]}``: the group resumes at SPEC."""
        started = time.perf_counter()
        token, admin = self._caller(request)
        app_id = stream_params.app_id(request.path_params["app_id"])
        body = await json_body(request)
        spec_text = body.get("start")
        if not isinstance(spec_text, str):
            raise ApiError(400, "field 'start' is required: earliest, latest, offset:N or time:T")
        spec = start_spec(spec_text)
        if spec.kind == "committed":
            raise ApiError(400, "a group cannot be reset to its own committed position")
        wanted = body.get("partitions", list(range(self.rt.settings.partitions)))
        if not isinstance(wanted, list):
            raise ApiError(400, "partitions must be a list of partition numbers")
        on_out = body.get("on_out_of_range", "error")
        if not isinstance(on_out, str) or on_out not in OUT_OF_RANGE:
            raise ApiError(400, f"on_out_of_range must be one of {', '.join(OUT_OF_RANGE)}")
        options = FeedOptions(start=spec, on_out_of_range=on_out)
        requests = []
        for value in wanted:
            partition = self._partition(value)
            try:
                start = feed_start.resolve(
                    self.rt.readers[partition],
                    explicit_offset=None,
                    tail=False,
                    options=options,
                    committed=None,
                )
            except feed_start.OutOfRange as exc:
                raise ApiError(
                    416, str(exc), oldest_offset=exc.oldest, next_offset=exc.end
                ) from None
            requests.append(CommitRequest(app_id, partition, start.offset - 1, token.client_id))
        self._check_owner(app_id, token, admin)
        await self.rt.position_commits.commit(requests)
        return envelope([self._view(app_id)], started=started)

    async def delete(self, request: Request) -> Response:
        started = time.perf_counter()
        token, admin = self._caller(request)
        app_id = stream_params.app_id(request.path_params["app_id"])
        owner = self.rt.groups.owner(app_id)
        if owner is None or (owner != token.client_id and not admin):
            raise NotFoundError("consumer group", app_id)
        removed = self.rt.groups.delete(app_id)
        return envelope(
            [{"app_id": app_id, "deleted": True, "positions": removed}], started=started
        )


def routes(runtime: Runtime) -> list[BaseRoute]:
    g = GroupRoutes(runtime)
    base = "/api/v1/stream-groups"
    return [
        Route(base, g.list, methods=["GET"]),
        Route(base + "/{app_id}", g.show, methods=["GET"]),
        Route(base + "/{app_id}", g.delete, methods=["DELETE"]),
        Route(base + "/{app_id}/commit", g.commit, methods=["POST"]),
        Route(base + "/{app_id}/reset", g.reset, methods=["POST"]),
    ]
