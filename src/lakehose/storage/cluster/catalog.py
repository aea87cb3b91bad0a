"""The catalog a cluster node holds: the JetStream catalog, named for its node.

Everything of the catalog's contract is in :class:`JetStreamCatalog`
(``storage/jetstream/``); this adds what ``storage/lake.py`` needs to hand it out in
cluster mode: ``readonly`` (commands that only read), and a node name that is the same
across a node's restarts and differs between nodes on one host (its host name and run
directory), so a starting node releases only its own previous run's feed slots.
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

from nats.js.errors import NotFoundError

from lakehose.errors import StorageError
from lakehose.storage.jetstream.catalog import JetStreamCatalog
from lakehose.storage.jetstream.layout import Layout
from lakehose.storage.jetstream.link import link_for, through_elections


def node_name(run_dir: Path) -> str:
    """This node's name in the catalog: host and run directory."""
    return f"{socket.gethostname()}:{run_dir.absolute()}"


class ClusterCatalog(JetStreamCatalog):
    """The replicated catalog, as ``storage/lake.py`` hands it out in cluster mode."""

    def __init__(
        self,
        urls: str,
        namespace: str = "lakehose",
        replicas: int = 3,
        readonly: bool = False,
        node: str | None = None,
    ) -> None:
        super().__init__(urls, namespace, replicas, node)
        self.readonly = readonly


LEADER_WAIT = 10.0  # seconds a command waits for the catalog to have a leader


def catalog_records(urls: str, namespace: str) -> int | None:
    """How many records the lake's catalog bucket holds; None when the cluster has no such
    bucket. Asks without creating it: a command pointed at a lake that is not there (a
    misspelt namespace) must leave nothing behind. A bucket without a leader for
    ``LEADER_WAIT`` seconds (the cluster lost its quorum) is an error that says so, rather
    than a catalog that reads empty."""
    link = link_for(urls)
    name = f"KV_{Layout(namespace).bucket('CATALOG')}"

    async def ask() -> int | None:
        deadline = time.monotonic() + LEADER_WAIT
        while True:
            try:
                info = await through_elections(lambda: link.js.stream_info(name))
            except NotFoundError:
                return None
            cluster = info.cluster
            if cluster is None or cluster.leader or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.25)
        if cluster is not None and not cluster.leader:
            peers = ", ".join(
                f"{r.name} {'current' if r.current else 'not current'}"
                for r in cluster.replicas or []
            )
            raise StorageError(
                f"the lake's catalog ({name}) has no leader: the NATS cluster has lost its "
                f"quorum (replicas: {peers}); start the NATS servers that are down"
            )
        return int(info.state.messages)

    return link.call(ask())
