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

from lakehose.storage.jetstream.catalog import JetStreamCatalog


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
