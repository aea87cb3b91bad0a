"""How far behind a consumer group is, per partition: in events and in seconds of ingest time.

``lag_events`` is the number of events after the committed one (``end - committed - 1``).
``lag_seconds`` compares ingest times, from the batch summaries: the newest event's
against the last committed event's (against the oldest kept event's when nothing
is committed, or when retention dropped the committed one); 0 when caught up.
Ingest times are per record batch, so seconds are as fine as a batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lakehose.server.metrics import LabelledGauges
from lakehose.storage.base import LogReader
from lakehose.storage.consumer_groups import ConsumerGroups, Position


def lag(reader: LogReader, committed: int) -> tuple[int, float]:
    """``(lag_events, lag_seconds)`` of a position on the reader's partition."""
    _, end = reader.bounds()
    behind = max(0, end - committed - 1)
    if behind == 0:
        return 0, 0.0
    newest = reader.newest_ingest_time()
    then = reader.ingest_time_at(committed) if committed >= 0 else None
    if then is None:
        then = reader.oldest_ingest_time()
    if newest is None or then is None:
        return behind, 0.0
    return behind, round(max(0, newest - then) / 1e9, 3)


def group_view(
    app_id: str, positions: list[Position], readers: Mapping[int, LogReader]
) -> dict[str, Any]:
    """A group as the API, the CLI (``stream groups show --json``) and status show it."""
    partitions = []
    for position in positions:
        reader = readers.get(position.partition)
        events, seconds = lag(reader, position.committed) if reader is not None else (0, 0.0)
        partitions.append(
            {
                "partition": position.partition,
                "committed": position.committed,
                "lag_events": events,
                "lag_seconds": seconds,
                "committed_at": position.committed_at,
                "commits": position.commits,
            }
        )
    owner = positions[0].client_id if positions else None
    return {
        "app_id": app_id,
        "client_id": owner,
        "partitions": partitions,
        "lag_events": sum(p["lag_events"] for p in partitions),
        "lag_seconds": max((p["lag_seconds"] for p in partitions), default=0.0),
    }


def all_groups(groups: ConsumerGroups, readers: Mapping[int, LogReader]) -> list[dict[str, Any]]:
    """Every group's view, by appId."""
    by_app: dict[str, list[Position]] = {}
    for position in groups.all_positions():
        by_app.setdefault(position.app_id, []).append(position)
    return [group_view(app, positions, readers) for app, positions in by_app.items()]


def lag_gauges(views: list[dict[str, Any]]) -> LabelledGauges:
    """``lakehose_consumer_lag_events`` and ``_seconds``, by appId and partition."""
    events: dict[tuple[str, ...], float] = {}
    seconds: dict[tuple[str, ...], float] = {}
    for view in views:
        for p in view["partitions"]:
            key = (view["app_id"], str(p["partition"]))
            events[key] = p["lag_events"]
            seconds[key] = p["lag_seconds"]
    labels = ("app_id", "partition")
    return {
        "lakehose_consumer_lag_events": (
            "Events after a consumer group's committed offset",
            labels,
            events,
        ),
        "lakehose_consumer_lag_seconds": (
            "Ingest time of the newest event minus that of the group's last committed event",
            labels,
            seconds,
        ),
    }


def groups_summary(views: list[dict[str, Any]]) -> dict[str, Any]:
    """What the unauthenticated status shows: how many groups, how far the furthest behind is
    (appIds only to a token, through the groups API)."""
    return {
        "count": len(views),
        "max_lag_events": max((v["lag_events"] for v in views), default=0),
        "max_lag_seconds": max((v["lag_seconds"] for v in views), default=0.0),
    }
