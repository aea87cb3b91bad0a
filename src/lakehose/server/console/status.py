"""The Status page: health, version, ingest rates, refused requests by code, partitions, disk."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

import lakehose
from lakehose.parsers.hec import CODES
from lakehose.server.console import lake_stats
from lakehose.server.console.app import Console
from lakehose.server.console.guard import Visitor, guarded
from lakehose.server.metrics import Metrics


def counter_totals(metrics: Metrics, name: str) -> dict[tuple[str, ...], float]:
    """A counter summed over every worker's snapshot, by labels."""
    totals: dict[tuple[str, ...], float] = {}
    for snapshot in metrics._snapshots():
        for *labels, value in snapshot.get("counters", {}).get(name, []):
            key = tuple(str(v) for v in labels)
            totals[key] = totals.get(key, 0) + float(value)
    return totals


def refused_by_code(metrics: Metrics) -> list[dict[str, Any]]:
    rows = []
    for (code,), count in sorted(
        counter_totals(metrics, "lakehose_hec_rejects").items(), key=lambda kv: -kv[1]
    ):
        status, text = CODES.get(int(code), (0, "")) if code.isdigit() else (0, "")
        rows.append({"code": code, "status": status, "text": text, "count": int(count)})
    return rows


def routes(console: Console) -> list[BaseRoute]:
    runtime = console.runtime

    async def page(request: Request, visitor: Visitor) -> Response:
        s = runtime.settings
        readers = list(runtime.readers.values())
        per_connector = lake_stats.activity(readers)
        hourly = [sum(a.buckets[i] for a in per_connector.values()) for i in range(24)]
        context = {
            "version": lakehose.__version__,
            "healthy": runtime.health_code() == 17,
            "health_code": runtime.health_code(),
            "uptime": time.time() - runtime.started_at,
            "workers": runtime.workers,
            "rate_minute": lake_stats.events_since(readers, 60) / 60,
            "rate_hour": lake_stats.events_since(readers, 3600) / 3600,
            "events_day": sum(hourly),
            "spark": lake_stats.sparkline_points(hourly, 240, 40),
            "refused": refused_by_code(runtime.metrics),
            "partitions": lake_stats.partition_use(runtime.readers, s.data_dir),
            "disk": lake_stats.disk_use(s.data_dir),
            "data_dir": str(s.data_dir),
            "retention_age": s.retention_age,
            "retention_bytes": s.retention_bytes,
        }
        return console.render(request, "status.html", context, visitor=visitor)

    return [guarded("/status", page, console)]
