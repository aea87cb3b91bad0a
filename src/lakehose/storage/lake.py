"""A data directory as a whole: open it, check it, and report on what it holds.

Used by ``lakehose serve`` at start-up and by CLI commands that work on the data
directory directly (``connector ...``, ``client ...``), with or without a server
running on it.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lakehose.config import Settings
from lakehose.errors import DataDirError
from lakehose.storage.catalog import Catalog, Connector
from lakehose.storage.sqlite import PartitionReader, create_partition, partition_path

ACTIVE_WINDOW = 300  # seconds since the last event for a connector to count as active


def check_writable(path: Path) -> None:
    """Raise DataDirError unless ``path`` is (or can be made) a writable directory."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise DataDirError(str(path), exc.strerror or str(exc)) from exc
    if not path.is_dir():
        raise DataDirError(str(path), "not a directory")
    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise DataDirError(str(path), f"not writable ({exc.strerror or exc})") from exc


def open_data_dir(settings: Settings) -> Catalog:
    """Create or migrate the catalog and every partition; return the catalog."""
    check_writable(settings.data_dir)
    try:
        catalog = Catalog.create(settings.catalog_path)
        stored = int(catalog.set_setting_once("partitions", str(settings.partitions)))
        if settings.partitions < stored:
            raise DataDirError(
                str(settings.data_dir),
                f"it holds {stored} partitions; start with --partitions {stored} or more",
            )
        if settings.partitions > stored:
            catalog.set_setting("partitions", str(settings.partitions))
        for p in range(settings.partitions):
            create_partition(settings.data_dir, p)
    except sqlite3.Error as exc:
        raise DataDirError(str(settings.data_dir), f"database error: {exc}") from exc
    return catalog


def require_lake(settings: Settings) -> None:
    """Raise DataDirError, saying how to point at a lake, unless the data directory holds one.

    Only ``serve`` creates a lake: a command run from the wrong directory must not make
    a new, empty one (and print a key the running server has never heard of).
    """
    if settings.catalog_path.is_file():
        return
    where = settings.data_dir.absolute()
    raise DataDirError(
        str(settings.data_dir),
        f"{where} holds no lake (no catalog.db). Point the command at the server's data "
        "directory with --data-dir DIR or LAKEHOSE_DATA_DIR=DIR (the server's is in its "
        "start-up lines), or start one here with: lakehose serve --data-dir DIR",
    )


def open_catalog(settings: Settings, *, readonly: bool = False) -> Catalog:
    """The catalog alone, for commands that manage connectors and clients.

    It leaves partitions alone, so it works on a data directory of any partition count,
    with or without a server running on it. ``readonly`` never writes, so listing works
    on a read-only data directory.
    """
    require_lake(settings)
    try:
        if readonly:
            return Catalog(settings.catalog_path, readonly=True)
        check_writable(settings.data_dir)
        return Catalog.create(settings.catalog_path)
    except sqlite3.Error as exc:
        raise DataDirError(str(settings.data_dir), f"database error: {exc}") from exc


def stored_partitions(settings: Settings, catalog: Catalog) -> int:
    """How many partitions the data directory has (may exceed ``settings.partitions``)."""
    value = catalog.get_setting("partitions")
    count = int(value) if value else settings.partitions
    while partition_path(settings.data_dir, count).exists():
        count += 1
    return max(count, 1)


def hec_url(settings: Settings) -> str:
    """Where senders should post: the public URL, the running server's, or the configured one."""
    if settings.public_url:
        return settings.public_url.rstrip("/") + "/services/collector"
    running = read_server_info(settings)
    if running is not None:
        return str(running["url"]).rstrip("/") + "/services/collector"
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    if ":" in host:
        host = f"[{host}]"
    return f"{settings.scheme}://{host}:{settings.port}/services/collector"


def server_info_path(settings: Settings) -> Path:
    return settings.run_dir / "server.json"


def read_server_info(settings: Settings) -> dict[str, Any] | None:
    """What a running server wrote about itself (url, port, pid), or None."""
    import orjson

    path = server_info_path(settings)
    try:
        info: dict[str, Any] = orjson.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    pid = int(info.get("pid", 0))
    try:
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return info


@dataclass(frozen=True)
class ConnectorStats:
    events: int = 0
    bytes: int = 0
    last_event_time: int | None = None  # ns


def connector_stats(settings: Settings, catalog: Catalog) -> dict[str, ConnectorStats]:
    """Events and bytes ever accepted per connector name, summed over partitions."""
    out: dict[str, list[int]] = {}
    for p in range(stored_partitions(settings, catalog)):
        if not partition_path(settings.data_dir, p).exists():
            continue
        reader = PartitionReader(settings.data_dir, p, readonly=catalog.readonly)
        try:
            for name, (events, nbytes, last) in reader.connector_totals().items():
                acc = out.setdefault(name, [0, 0, 0])
                acc[0] += events
                acc[1] += nbytes
                acc[2] = max(acc[2], last)
        finally:
            reader.close()
    return {k: ConnectorStats(v[0], v[1], v[2] or None) for k, v in out.items()}


def connector_view(
    connector: Connector, stats: ConnectorStats | None, key_hints: list[str], url: str
) -> dict[str, Any]:
    """A connector as the CLI and the API show it, with its status and counts."""
    stats = stats or ConnectorStats()
    if not connector.enabled:
        status = "disabled"
    elif stats.last_event_time and time.time() - stats.last_event_time / 1e9 < ACTIVE_WINDOW:
        status = "active"
    else:
        status = "idle"
    view = connector.to_dict()
    view.update(
        # what applies when a request names none (the defaults, never unset)
        index=connector.index,
        source=connector.default_source or f"http:{connector.name}",
        sourcetype=connector.default_sourcetype or "httpevent",
        status=status,
        event_count=stats.events,
        byte_count=stats.bytes,
        last_event_time=stats.last_event_time,
        api_keys=key_hints,
        hec_url=url,
    )
    return view
