"""``lakehose status``: one screen on a data directory: health, connectors, partitions, disk and
retention, stream consumers and consumer groups.

Each concern is a section: a function from :class:`StatusContext` to a title and rows
(or lines), listed in :data:`SECTIONS`. A new concern (consumer lag, the columnar tier)
adds one function there; ``--json`` prints every section under its key.
"""

from __future__ import annotations

import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click
import orjson

from lakehose.cli.commands.common import data_dir_options, json_option, settings_for
from lakehose.cli.output import emit_json
from lakehose.cli.rows import cell
from lakehose.config import Settings
from lakehose.errors import DataDirError
from lakehose.storage.base import LogReader
from lakehose.storage.catalog.base import Catalog
from lakehose.storage.lake import (
    connector_stats,
    connector_view,
    hec_url,
    lake_address,
    open_catalog,
    open_readers,
    read_server_info,
    stored_partitions,
)
from lakehose.storage.refusals import iso_time

RATE_WINDOW = 60  # seconds over which events/s is averaged


@dataclass
class StatusContext:
    """What every section may read: settings, the catalog (read-only), the running server."""

    settings: Settings
    catalog: Catalog
    server: dict[str, Any] | None
    readers: list[LogReader] = field(default_factory=list)


@dataclass
class Section:
    """A titled part of the screen: rows under ``columns``, or plain ``lines``."""

    key: str
    title: str
    columns: list[tuple[str, str]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # for --json when not rows


def health_section(ctx: StatusContext) -> Section:
    server = ctx.server
    if server is None and ctx.settings.cluster:
        return Section(
            "server",
            "Server",
            lines=[
                "a cluster: its lakehose nodes are listed under Cluster (health: a node's"
                " /api/v1/status)"
            ],
            data={"running": None},
        )
    if server is None:
        return Section(
            "server",
            "Server",
            lines=["not running on this data directory (start it: lakehose serve)"],
            data={"running": False},
        )
    url = str(server["url"]).rstrip("/")
    try:
        with urllib.request.urlopen(url + "/services/collector/health", timeout=3) as reply:
            health = orjson.loads(reply.read())
    except urllib.error.HTTPError as exc:
        health = orjson.loads(exc.read() or b"{}")
    except (OSError, ValueError) as exc:
        health = {"text": f"cannot reach {url}: {exc}", "code": None}
    healthy = health.get("code") == 17
    line = f"{'healthy' if healthy else 'UNHEALTHY'}: {health.get('text')} at {url} (pid {server.get('pid')})"
    return Section(
        "server",
        "Server",
        lines=[line, f"HEC: {hec_url(ctx.settings)}"],
        data={"running": True, "url": url, "pid": server.get("pid"), "health": health},
    )


def connectors_section(ctx: StatusContext) -> Section:
    stats = connector_stats(ctx.settings, ctx.catalog)
    since = time.time_ns() - RATE_WINDOW * 1_000_000_000
    recent: dict[str, int] = {}
    for reader in ctx.readers:  # every bucket counts: they all lie inside the window
        for name, _, count in reader.ingest_counts(since, 2 * RATE_WINDOW * 1_000_000_000):
            recent[name] = recent.get(name, 0) + count
    rows = []
    for c in ctx.catalog.list_connectors():
        view = connector_view(c, stats.get(c.name), [], "")
        last = view["last_event_time"]
        rows.append(
            {
                "name": c.name,
                "status": view["status"],
                "events_per_second": round(recent.get(c.name, 0) / RATE_WINDOW, 2),
                "events": view["event_count"],
                "last_event_time": iso_time(last / 1e9) if last else None,
            }
        )
    return Section(
        "connectors",
        "Connectors",
        [
            ("name", "NAME"),
            ("status", "STATUS"),
            ("events_per_second", f"EVENTS/S ({RATE_WINDOW}s)"),
            ("events", "EVENTS"),
            ("last_event_time", "LAST EVENT"),
        ],
        rows,
    )


def partitions_section(ctx: StatusContext) -> Section:
    rows = []
    for reader in ctx.readers:
        start, end = reader.bounds()
        rows.append(
            {
                "partition": reader.partition,
                "start_offset": start,
                "end_offset": end,
                "events": end - start,
                "stored_bytes": reader.stored_bytes(),
            }
        )
    return Section(
        "partitions",
        "Partitions",
        [
            ("partition", "PARTITION"),
            ("start_offset", "START OFFSET"),
            ("end_offset", "END OFFSET"),
            ("events", "EVENTS KEPT"),
            ("stored_bytes", "STORED BYTES"),
        ],
        rows,
    )


def disk_section(ctx: StatusContext) -> Section:
    s = ctx.settings
    if s.cluster:  # the lake's bytes are in the streams (the cluster section)
        stored = sum(r.stored_bytes() for r in ctx.readers)
        return Section(
            "disk",
            "Disk and retention",
            lines=[f"the lake is in the cluster's streams: {stored / 1e6:,.1f} MB of batches"],
            data={"cluster": s.cluster, "lake_bytes": stored},
        )
    files = sum(p.stat().st_size for p in s.data_dir.glob("*.db*") if p.is_file())
    usage = shutil.disk_usage(s.data_dir)
    age = f"{s.retention_age:g} s" if s.retention_age else "keep everything"
    size = f"{s.retention_bytes:,} bytes per partition" if s.retention_bytes else "no size limit"
    data = {
        "data_dir": str(s.data_dir.absolute()),
        "lake_bytes": files,
        "disk_free_bytes": usage.free,
        "disk_total_bytes": usage.total,
        "retention_age_seconds": s.retention_age,
        "retention_bytes": s.retention_bytes,
    }
    lines = [
        f"{s.data_dir.absolute()}: {files / 1e6:,.1f} MB; disk {usage.free / 1e9:,.1f} GB free "
        f"of {usage.total / 1e9:,.1f} GB",
        f"retention (as configured for this command): by age {age}; by size {size}",
    ]
    return Section("disk", "Disk and retention", lines=lines, data=data)


def consumers_section(ctx: StatusContext) -> Section:
    """Open data feeds, each with the next offset it sends (as of its last heartbeat, every
    ``heartbeat_interval``) and how many stored events lie past it."""
    ends = {reader.partition: reader.bounds()[1] for reader in ctx.readers}
    rows = []
    for slot, partition, opened, beat, position in ctx.catalog.open_connections():
        end = ends.get(partition)
        client_id, _, app_id = slot.rpartition("/")  # slots are per API client: CLIENT/APPID
        rows.append(
            {
                "app_id": app_id,
                "client_id": client_id or None,
                "partition": partition,
                "next_offset": position,
                "behind": None if position is None or end is None else max(0, end - position),
                "connected_at": iso_time(opened),
                "last_heartbeat": iso_time(beat),
            }
        )
    return Section(
        "consumers",
        "Open stream consumers",
        [
            ("app_id", "APP ID"),
            ("partition", "PARTITION"),
            ("next_offset", "NEXT OFFSET"),
            ("behind", "EVENTS BEHIND"),
            ("connected_at", "CONNECTED"),
            ("last_heartbeat", "LAST HEARTBEAT"),
        ],
        rows,
    )


def groups_section(ctx: StatusContext) -> Section:
    """Consumer groups (server-kept positions, ``lakehose stream groups``): each partition's
    committed offset and how far behind the newest event it is."""
    from lakehose.cli.commands.stream_groups import lake_group_views

    rows = []
    for view in lake_group_views(ctx.settings):
        for p in view["partitions"]:
            rows.append(
                {
                    "app_id": view["app_id"],
                    "client_id": view["client_id"],
                    "partition": p["partition"],
                    "committed": p["committed"],
                    "lag_events": p["lag_events"],
                    "lag_seconds": p["lag_seconds"],
                    "committed_at": iso_time(p["committed_at"]) if p["committed_at"] else None,
                }
            )
    return Section(
        "consumer_groups",
        "Consumer groups",
        [
            ("app_id", "APP ID"),
            ("partition", "PARTITION"),
            ("committed", "COMMITTED"),
            ("lag_events", "LAG (EVENTS)"),
            ("lag_seconds", "LAG (S)"),
            ("committed_at", "COMMITTED AT"),
        ],
        rows,
    )


def cluster_section(ctx: StatusContext) -> Section:
    """The cluster holding the lake: its lakehose nodes (heartbeats), NATS servers, and
    each stream's leader and replicas (lagging ones show their lag)."""
    from lakehose.storage.cluster.status import cluster_status, replica_text

    s = ctx.settings
    if not s.cluster:
        return Section("cluster", "Cluster", lines=["none: a single node"], data={"cluster": None})
    found = cluster_status(s.cluster, s.cluster_namespace, len(ctx.readers) or s.partitions)
    servers = ", ".join(
        f"{v['server']}{' (OFFLINE)' if v['offline'] else ''} leads {v['leads']}"
        for v in found["servers"]
    )
    nodes = [
        f"node {n['name']} at {n['url']}, lakehose {n['version']}, last seen"
        f" {n['seen_seconds_ago']} s ago{' (STALE)' if n['stale'] else ''}"
        for n in found["nodes"]
    ] or ["no lakehose node has a heartbeat in the cluster"]
    rows = [
        {
            "stream": st["stream"],
            "leader": st["leader"] or "NONE",
            "replicas": replica_text(st),
            "messages": st["messages"],
        }
        for st in found["streams"]
    ]
    return Section(
        "cluster",
        f"Cluster (lake {found['namespace']!r}, NATS {found['nats_version']}, "
        f"connected to {found['connected_to']})",
        [("stream", "STREAM"), ("leader", "LEADER"), ("replicas", "REPLICAS"),
         ("messages", "MESSAGES")],
        rows,
        lines=[*nodes, f"NATS servers: {servers}"],
        data=found,
    )  # fmt: skip


SECTIONS: list[Callable[[StatusContext], Section]] = [
    health_section,
    cluster_section,
    connectors_section,
    partitions_section,
    disk_section,
    consumers_section,
    groups_section,
]


@click.command()
@data_dir_options
@json_option
def status(data_dir: str | None, config_file: str | None, as_json: bool) -> None:
    """One screen on the lake: server health, connectors (status, events/s, last event),
    partitions, disk use and retention, open stream consumers, consumer groups. Read-only."""
    settings = settings_for(data_dir, config_file)
    catalog = open_catalog(settings, readonly=True)
    try:
        readers = open_readers(
            lake_address(settings), stored_partitions(settings, catalog), readonly=True
        )
    except DataDirError:  # a catalog without partitions: nothing stored yet
        readers = []
    ctx = StatusContext(settings, catalog, read_server_info(settings), readers)
    try:
        sections = [section(ctx) for section in SECTIONS]
    finally:
        for reader in readers:
            reader.close()
    if as_json:
        emit_json({s.key: (s.data or s.rows) if s.columns else s.data for s in sections})
        return
    for n, section in enumerate(sections):
        if n:
            click.echo()
        click.secho(section.title, bold=True)
        for line in section.lines:
            click.echo(f"  {line}")
        if section.columns:
            if not section.rows:
                click.echo("  (none)")
                continue
            header = [h for _, h in section.columns]
            cells = [[cell(row.get(k)) for k, _ in section.columns] for row in section.rows]
            widths = [max(len(r[i]) for r in (header, *cells)) for i in range(len(header))]
            for r in (header, *cells):
                click.echo(
                    "  " + "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
                )
