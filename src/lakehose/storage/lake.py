"""A data directory as a whole: open it, check it, pick its backends, report on what it holds.

Used by ``lakehose serve`` at start-up and by CLI commands that work on the data
directory directly (``connector ...``, ``client ...``, ``search``), with or without a
server running on it. This is the one place that names a backend: everything
else holds an :class:`EventLog`, :class:`LogReader` or :class:`Catalog`. The backend is
``sqlite`` (a data directory) unless the settings name a ``cluster`` (NATS JetStream,
``storage/jetstream/`` and ``storage/cluster/``), imported lazily.
"""

from __future__ import annotations

import os
import re
import sqlite3
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lakehose.config import Settings
from lakehose.errors import ClusterLakeError, DataDirError, StorageError
from lakehose.storage.accounts import Accounts
from lakehose.storage.base import EventLog, LogReader
from lakehose.storage.catalog.base import Catalog
from lakehose.storage.catalog.connectors import Connector
from lakehose.storage.columnar.tier import ColumnarTier
from lakehose.storage.console_views import ConsoleViews
from lakehose.storage.consumer_groups import ConsumerGroups
from lakehose.storage.faults import FaultTable
from lakehose.storage.jetstream.auth import NatsAuth, register
from lakehose.storage.sqlite.catalog import SqliteCatalog
from lakehose.storage.sqlite.partition import PartitionReader, create_partition, partition_path

ACTIVE_WINDOW = 300  # seconds since the last event for a connector to count as active


@dataclass(frozen=True)
class ClusterAddress:
    """Where a lake on a NATS cluster is: its URLs and namespace (picklable, for search
    processes)."""

    urls: str
    namespace: str = "lakehose"
    replicas: int = 3
    auth: NatsAuth | None = None  # credentials and TLS for the connection

    def use(self) -> str:
        """Register this address's credentials in this process; its URLs."""
        register(self.urls, self.auth)
        return self.urls


Where = Path | ClusterAddress  # a data directory, or a lake on a cluster


def shown_urls(urls: str) -> str:
    """Cluster URLs fit for logs and messages: any ``user:password@`` or token left out."""
    return re.sub(r"(://)[^/@,]*@", r"\1***@", urls)


def cluster_auth(settings: Settings) -> NatsAuth:
    """The settings' credentials and TLS files for NATS."""

    def path(value: Path | None) -> str | None:
        return None if value is None else str(value)

    return NatsAuth(
        creds=path(settings.cluster_creds),
        nkey=path(settings.cluster_nkey),
        user=settings.cluster_user,
        password=settings.cluster_password,
        token=settings.cluster_token,
        tls_ca=path(settings.cluster_tls_ca),
        tls_cert=path(settings.cluster_tls_cert),
        tls_key=path(settings.cluster_tls_key),
    )


def use_cluster(settings: Settings) -> str:
    """Register the settings' NATS credentials in this process (before any connection to
    the cluster); the cluster's URLs."""
    from lakehose.storage.jetstream.link import set_connect_wait

    assert settings.cluster
    register(settings.cluster, cluster_auth(settings))
    set_connect_wait(settings.cluster, settings.cluster_connect_timeout)
    return settings.cluster


def lake_address(settings: Settings) -> Where:
    """Where the settings' lake is: the cluster when ``cluster`` is set, else the data
    directory."""
    if settings.cluster:
        return ClusterAddress(
            use_cluster(settings),
            settings.cluster_namespace,
            settings.cluster_replicas,
            cluster_auth(settings),
        )
    return settings.data_dir


def _cluster_catalog(settings: Settings, *, readonly: bool = False) -> Catalog:
    from lakehose.storage.cluster.catalog import ClusterCatalog, node_name

    return ClusterCatalog(
        use_cluster(settings),
        settings.cluster_namespace,
        settings.cluster_replicas,
        readonly,
        node_name(settings.run_dir),
    )


def _open_cluster(settings: Settings) -> Catalog:
    """A node's start on a cluster: the catalog, the partition count, every stream."""
    from lakehose.storage.jetstream.layout import Layout
    from lakehose.storage.jetstream.link import link_for
    from lakehose.storage.jetstream.log import ensure_streams

    assert settings.cluster
    catalog = _cluster_catalog(settings)
    stored = int(catalog.set_setting_once("partitions", str(settings.partitions)))
    # a node given fewer partitions than the lake has serves them all (stored_partitions)
    if settings.partitions > stored:
        catalog.set_setting("partitions", str(settings.partitions))
    link = link_for(settings.cluster)
    layout = Layout(settings.cluster_namespace)
    link.call(ensure_streams(link, layout, settings.partitions, settings.cluster_replicas))
    return catalog


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
    if settings.cluster:
        return _open_cluster(settings)
    check_writable(settings.data_dir)
    try:
        catalog = SqliteCatalog.create(settings.catalog_path)
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
    if settings.cluster:
        from lakehose.storage.cluster.catalog import catalog_records

        urls = use_cluster(settings)
        records = catalog_records(urls, settings.cluster_namespace)
        partitions = None
        if records is not None:
            partitions = _cluster_catalog(settings, readonly=True).get_setting("partitions")
        if records and partitions is None:  # a catalog there, but not read in time
            raise StorageError(
                f"the lake {settings.cluster_namespace!r} on the NATS cluster at "
                f"{shown_urls(urls)} could not be read in time (a server lost, or the "
                "quorum? lakehose status --cluster URLS shows the servers)"
            )
        if partitions is None:
            raise ClusterLakeError(
                shown_urls(urls),
                f"holds no lake named {settings.cluster_namespace!r} (cluster_namespace); "
                "start a node on it first (lakehose serve --cluster URLS), or name the lake "
                "with --cluster-namespace",
            )
        return
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
    if settings.cluster:
        return _cluster_catalog(settings, readonly=readonly)
    try:
        if readonly:
            return SqliteCatalog(settings.catalog_path, readonly=True)
        check_writable(settings.data_dir)
        return SqliteCatalog.create(settings.catalog_path)
    except sqlite3.Error as exc:
        raise DataDirError(str(settings.data_dir), f"database error: {exc}") from exc


def open_log(settings: Settings, clock: Callable[[], int] = time.time_ns) -> EventLog:
    """This process's handle on the lake for writing and tailing (``await start()`` it).

    ``clock`` (ns) stamps ingest times; the stream sandbox may shift it.
    """
    if settings.cluster:
        from lakehose.storage.jetstream.log import JetStreamEventLog

        return JetStreamEventLog(
            use_cluster(settings),
            settings.partitions,
            namespace=settings.cluster_namespace,
            replicas=settings.cluster_replicas,
            zstd_level=settings.zstd_level,
            clock=clock,
        )
    from lakehose.storage.sqlite.log import SqliteEventLog

    return SqliteEventLog(
        settings.data_dir,
        settings.partitions,
        durability=settings.durability,
        zstd_level=settings.zstd_level,
        commit_max_bytes=settings.commit_max_bytes,
        commit_delay=settings.commit_delay,
        commit_gather=settings.commit_gather,
        poll_interval=settings.tail_poll_interval,
        clock=clock,
    )


def open_readers(
    data_dir: Where, partitions: int | None = None, *, readonly: bool = False
) -> list[LogReader]:
    """Readers of every partition in ``data_dir`` (or the first ``partitions``); close them.

    ``readonly`` never writes, so a search works on a read-only data directory.
    """
    if isinstance(data_dir, ClusterAddress):
        from lakehose.storage.jetstream.log import open_readers as cluster_readers

        data_dir.use()
        if partitions is None:
            settings = Settings(cluster=data_dir.urls, cluster_namespace=data_dir.namespace)
            partitions = int(_cluster_catalog(settings).get_setting("partitions") or 1)
        return cluster_readers(data_dir.urls, data_dir.namespace, partitions)
    from lakehose.storage.sqlite.log import open_readers as sqlite_readers

    return sqlite_readers(data_dir, partitions, readonly=readonly)


def open_columnar(data_dir: Where) -> ColumnarTier | None:
    """The columnar tier of ``data_dir`` for one search (None: nothing compacted, or a lake
    on a cluster, which searches its streams); close it."""
    if isinstance(data_dir, ClusterAddress):
        return None
    from lakehose.storage.columnar.tier import open_tier

    return open_tier(data_dir)


def tier_sizes(data_dir: Where, partitions: int) -> list[dict[str, Any]]:
    """Events and bytes kept per partition in each tier (``rows``, ``columnar``)."""
    from lakehose.storage.columnar.compactor import manifest_path
    from lakehose.storage.columnar.manifest import Manifest

    out: list[dict[str, Any]] = []
    for p in range(partitions):
        reader = open_reader(data_dir, p)
        try:
            start, end = reader.bounds()
            out.append(_size("rows", p, end - start, reader.stored_bytes()))
        finally:
            reader.close()
    if isinstance(data_dir, Path) and manifest_path(data_dir).exists():
        manifest = Manifest(manifest_path(data_dir), readonly=True)
        try:
            for p, _files, rows, nbytes in manifest.totals():
                out.append(_size("columnar", p, rows, nbytes))
        finally:
            manifest.close()
    return out


def _size(tier: str, partition: int, events: int, nbytes: int) -> dict[str, Any]:
    per = round(nbytes / events, 1) if events else 0.0
    return {
        "tier": tier,
        "partition": partition,
        "events": events,
        "bytes": nbytes,
        "bytes_per_event": per,
    }


def open_server_catalog(settings: Settings) -> Catalog:
    """A worker's catalog connection (the data directory was opened by the supervisor)."""
    if settings.cluster:
        return _cluster_catalog(settings)
    return SqliteCatalog(settings.catalog_path)


def load_parser_file(path: Path) -> dict[str, dict[str, Any]]:
    """The ``[parsers.NAME]`` tables of a data directory's parsers.toml."""
    with path.open("rb") as f:
        raw = tomllib.load(f)
    parsers = raw.get("parsers", {})
    if not isinstance(parsers, dict) or not all(isinstance(v, dict) for v in parsers.values()):
        raise ValueError("parsers.toml must hold [parsers.NAME] tables")
    return parsers


def stored_partitions(settings: Settings, catalog: Catalog) -> int:
    """How many partitions the data directory has (may exceed ``settings.partitions``)."""
    if settings.cluster:
        return max(int(catalog.get_setting("partitions") or settings.partitions), 1)
    value = catalog.get_setting("partitions")
    count = int(value) if value else settings.partitions
    while partition_path(settings.data_dir, count).exists():
        count += 1
    return max(count, 1)


def hec_url(settings: Settings) -> str:
    """Where senders should post: the public URL, the running server's (a command on a
    cluster with no server here: a live node's, from its heartbeat), or the configured one.
    A server finds its own first (its ``server.json``), never asking the cluster."""
    if settings.public_url:
        return settings.public_url.rstrip("/") + "/services/collector"
    running = read_server_info(settings)
    if running is not None:
        return str(running["url"]).rstrip("/") + "/services/collector"
    if settings.cluster:
        from lakehose.storage.cluster.presence import read_nodes
        from lakehose.storage.jetstream.layout import Layout
        from lakehose.storage.jetstream.link import link_for

        link = link_for(use_cluster(settings))
        for _ in range(2):  # an unanswered read of the bucket lists no node: ask again
            found = [n for n in link.call(read_nodes(link, Layout(settings.cluster_namespace)))
                     if n.get("url")]  # fmt: skip
            if found:  # a live node, else the one seen last
                best = min(found, key=lambda n: (n["stale"], n["seen_seconds_ago"]))
                return str(best["url"]).rstrip("/") + "/services/collector"
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
    if settings.cluster:
        for reader in open_readers(lake_address(settings), stored_partitions(settings, catalog)):
            for name, (events, nbytes, last) in reader.connector_totals().items():
                acc = out.setdefault(name, [0, 0, 0])
                acc[0] += events
                acc[1] += nbytes
                acc[2] = max(acc[2], last)
        return {k: ConnectorStats(v[0], v[1], v[2] or None) for k, v in out.items()}
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


def open_accounts(catalog: Catalog) -> Accounts:
    """Accounts (``storage/accounts.py``), as the backend keeps them."""
    from lakehose.storage.cluster.catalog import ClusterCatalog

    if isinstance(catalog, ClusterCatalog):
        from lakehose.storage.cluster.accounts import ClusterAccounts

        return ClusterAccounts(catalog.store)
    from lakehose.storage.sqlite.accounts import SqliteAccounts
    from lakehose.storage.sqlite.catalog import SqliteCatalog

    assert isinstance(catalog, SqliteCatalog)
    return SqliteAccounts(catalog)


def open_console_views(catalog: Catalog) -> ConsoleViews:
    """The console's views of the catalog (``storage/console_views.py``)."""
    from lakehose.storage.cluster.catalog import ClusterCatalog

    if isinstance(catalog, ClusterCatalog):
        from lakehose.storage.cluster.groups import ClusterConsoleViews

        return ClusterConsoleViews(catalog.store)
    from lakehose.storage.sqlite.catalog import SqliteCatalog
    from lakehose.storage.sqlite.console_views import SqliteConsoleViews

    assert isinstance(catalog, SqliteCatalog)
    return SqliteConsoleViews(catalog)


def open_reader(data_dir: Where, partition: int) -> LogReader:
    """A reader of one partition of ``data_dir``, for one thread; the caller closes it."""
    if isinstance(data_dir, ClusterAddress):
        return open_readers(data_dir, partition + 1)[partition]
    from lakehose.storage.sqlite.partition import PartitionReader

    return PartitionReader(data_dir, partition)


def open_consumer_groups(
    catalog_path: Path, *, readonly: bool = False, catalog: Catalog | None = None
) -> ConsumerGroups:
    """ConsumerGroups (``storage/consumer_groups.py``), as the backend keeps them;
    ``readonly`` never writes (for reports on a read-only data directory). On a cluster,
    they are in ``catalog``'s bucket."""
    from lakehose.storage.cluster.catalog import ClusterCatalog

    if isinstance(catalog, ClusterCatalog):
        from lakehose.storage.cluster.groups import ClusterConsumerGroups

        return ClusterConsumerGroups(catalog.store)
    from lakehose.storage.sqlite.consumer_groups import SqliteConsumerGroups

    return SqliteConsumerGroups(catalog_path, readonly=readonly)


def open_faults(catalog: Catalog) -> FaultTable:
    """FaultTable (``storage/faults.py``), as the backend keeps them (none on a cluster:
    the sandbox is a single-node tool)."""
    from lakehose.storage.cluster.catalog import ClusterCatalog

    if isinstance(catalog, ClusterCatalog):
        raise DataDirError("--cluster", "the fault sandbox works on a single node only")
    from lakehose.storage.sqlite.catalog import SqliteCatalog
    from lakehose.storage.sqlite.faults import SqliteFaultTable

    assert isinstance(catalog, SqliteCatalog)
    return SqliteFaultTable(catalog)
