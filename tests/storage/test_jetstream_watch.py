"""The replicated catalog pushes changes to every process's mirror: a watch, not a poll."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lakehose.storage.jetstream.catalog import JetStreamCatalog
from lakehose.storage.jetstream.devcluster import DevCluster
from tests.storage.backendkit import namespace

ROOT = Path(__file__).resolve().parents[2]


def test_a_connector_made_elsewhere_reaches_the_mirror_without_a_read(
    nats_cluster: DevCluster, tmp_path: Path
) -> None:
    ns = namespace(tmp_path)
    here = JetStreamCatalog(nats_cluster.urls, ns)
    store = here.store
    before = store.applied
    # another process (as another node would) creates a connector
    code = (
        "import sys; from lakehose.storage.jetstream.catalog import JetStreamCatalog as C; "
        "c = C(sys.argv[1], sys.argv[2]); _, key = c.create_connector('far'); print(key)"
    )
    key = subprocess.run(
        [sys.executable, "-c", code, nats_cluster.urls, ns],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    name_key = "cname." + b"far".hex()
    with store._cond:  # wait for the watch to deliver; no sync(), no request to the cluster
        arrived = store._cond.wait_for(lambda: name_key in store.entries, 30)
    assert arrived and store.applied > before
    connector = here.connector_for_key(key)
    assert connector is not None and connector.name == "far"
