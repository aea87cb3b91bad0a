"""The catalog a cluster node holds: the JetStream catalog, named for its node.

Everything of the catalog's contract is in :class:`JetStreamCatalog`
(``storage/jetstream/``); this adds what ``storage/lake.py`` needs to hand it out in
cluster mode: ``readonly`` (commands that only read), and a node name that is the same
across a node's restarts and differs between nodes on one host (its host name and run
directory), so a starting node releases only its own previous run's feed slots.
"""

from __future__ import annotations

import socket
from pathlib import Path

from nats.js.errors import NotFoundError

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


def catalog_records(urls: str, namespace: str) -> int | None:
    """How many records the lake's catalog bucket holds; None when the cluster has no such
    bucket. Asks without creating it: a command pointed at a lake that is not there (a
    misspelt namespace) must leave nothing behind."""
    link = link_for(urls)
    name = f"KV_{Layout(namespace).bucket('CATALOG')}"

    async def ask() -> int | None:
        try:
            info = await through_elections(lambda: link.js.stream_info(name))
        except NotFoundError:
            return None
        return int(info.state.messages)

    return link.call(ask())
