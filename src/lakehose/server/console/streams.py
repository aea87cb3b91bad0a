"""The Streams page: open data-feed consumers (appId, partition, offset, lag) and kept positions.

Open connections come from the catalog's feed slots (one per appId and partition), each
with the next offset its feed sends as of its last heartbeat; committed offsets from the
consumer positions the server keeps, where it keeps them. Lag in events is
``end - committed - 1`` (for a consumer that commits nothing, ``end - next offset``); in
seconds, the ingest time of the newest event minus that of the committed one (per record
batch).
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from lakehose.server.console.app import Console
from lakehose.server.console.guard import Visitor, guarded
from lakehose.storage.base import LogReader
from lakehose.storage.lake import open_console_views


def lag(reader: LogReader | None, committed: int | None) -> tuple[int | None, float | None]:
    """(events, seconds) behind the partition's end, for a committed offset."""
    if reader is None or committed is None:
        return None, None
    _, end = reader.bounds()
    behind = max(0, end - committed - 1)
    if behind == 0:
        return 0, 0.0
    newest, then = reader.newest_ingest_time(), reader.ingest_time_at(max(committed, 0))
    if newest is None or then is None:
        return behind, None
    return behind, round(max(0, newest - then) / 1e9, 1)


def routes(console: Console) -> list[BaseRoute]:
    runtime = console.runtime

    def positions() -> dict[tuple[str, int], dict[str, Any]]:
        return open_console_views(runtime.catalog).consumer_positions()

    def consumers() -> list[dict[str, Any]]:
        now = time.time()
        kept = positions()
        names = {c.client_id: c.name for c in runtime.catalog.list_clients(include_revoked=True)}
        views = open_console_views(runtime.catalog)
        sessions = views.live_session_clients(now)
        out: dict[tuple[str, int], dict[str, Any]] = {}
        holders: dict[tuple[str, int], str] = {}
        for slot, partition, opened, heartbeat, feed_at in runtime.catalog.open_connections():
            # a slot is named "<client id>/<appId>" (one connection per client and appId)
            holder, _, app_id = str(slot).rpartition("/")
            out[(app_id, int(partition))] = {
                "connected": True,
                "since": opened,
                "seen": heartbeat,
                "feed_at": feed_at,
            }
            if holder:
                holders[(app_id, int(partition))] = holder
        for key in kept:
            out.setdefault(key, {"connected": False, "since": None, "seen": None, "feed_at": None})
        rows = []
        for (app_id, partition), row in sorted(out.items()):
            position = kept.get((app_id, partition), {})
            committed = position.get("committed")
            client_id: str | None = (
                holders.get((app_id, partition))
                or position.get("client_id")
                or sessions.get((app_id, partition))
            )
            # a consumer that commits nothing (Falcon's own) is as far as its feed has sent
            feed_at = row["feed_at"]
            upto = committed if committed is not None or feed_at is None else feed_at - 1
            events, seconds = lag(runtime.readers.get(partition), upto)
            rows.append(
                {
                    "app_id": app_id,
                    "partition": partition,
                    "client": names.get(client_id or "", client_id or "-"),
                    "offset": committed,
                    "lag_events": events,
                    "lag_seconds": seconds,
                    **row,
                }
            )
        return rows

    async def page(request: Request, visitor: Visitor) -> Response:
        ends = {p: reader.bounds()[1] for p, reader in runtime.readers.items()}
        return console.render(
            request,
            "streams.html",
            {"consumers": consumers(), "ends": ends},
            visitor=visitor,
        )

    return [guarded("/streams", page, console)]
