"""Limits and feed slots that hold across nodes: racing processes on a real 3-node cluster."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lakehose.storage.catalog.clients import ApiClient
from lakehose.storage.jetstream.catalog import JetStreamCatalog
from lakehose.storage.jetstream.devcluster import DevCluster
from tests.storage.backendkit import namespace

ROOT = Path(__file__).resolve().parents[2]

# One "node": waits for the go file, then tries ``tries`` times; prints what it got.
RACER = """
import os, sys, time
from lakehose.errors import LimitError
from lakehose.storage.jetstream.catalog import JetStreamCatalog
urls, ns, what, client_id, go, tries = sys.argv[1:7]
c = JetStreamCatalog(urls, ns, node=f"racer-{os.getpid()}")
client = c.get_client(client_id)
c.store.sync()
print("ready", flush=True)
while not os.path.exists(go):
    time.sleep(0.001)
won = 0
for _ in range(int(tries)):
    try:
        if what == "tokens":
            c.issue_token(client, 600, limit=5)
        else:
            c.reserve_sessions(client.client_id, 2, 6, 0.0)
            for p in range(2):
                c.create_session(client.client_id, "app", p, 600)
        won += 1
    except LimitError:
        pass
print("won", won, flush=True)
"""


def _race(urls: str, ns: str, what: str, client: ApiClient, go: Path) -> list[int]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, urls, ns, what, client.client_id, str(go), "4"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for p in procs:  # every racer is connected and synced before the start
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    go.touch()
    won = []
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0
        won.append(int(out.split()[-1]))
    return won


def test_racing_nodes_issue_no_more_tokens_than_the_limit(
    nats_cluster: DevCluster, tmp_path: Path
) -> None:
    ns = namespace(tmp_path)
    catalog = JetStreamCatalog(nats_cluster.urls, ns)
    client, _ = catalog.create_client("reader", ["streams:read"])
    won = _race(nats_cluster.urls, ns, "tokens", client, tmp_path / "go")
    assert sum(won) == 5  # 12 tries against a limit of 5: exactly 5 issued, across 3 nodes
    live = [k for k, v, _ in catalog.store.items("token.") if client.client_id.encode() in v]
    assert len(live) == 5


def test_racing_nodes_open_no_more_sessions_than_the_limit(
    nats_cluster: DevCluster, tmp_path: Path
) -> None:
    ns = namespace(tmp_path)
    catalog = JetStreamCatalog(nats_cluster.urls, ns)
    client, _ = catalog.create_client("reader", ["streams:read"])
    won = _race(nats_cluster.urls, ns, "sessions", client, tmp_path / "go")
    assert sum(won) == 3  # discoveries of 2 sessions against a limit of 6
    mine = [k for k, v, _ in catalog.store.items("sess.") if client.client_id.encode() in v]
    assert len(mine) == 6


def test_a_starting_node_releases_only_its_own_feed_slots(
    nats_cluster: DevCluster, tmp_path: Path
) -> None:
    ns = namespace(tmp_path)
    one = JetStreamCatalog(nats_cluster.urls, ns, node="one")
    two = JetStreamCatalog(nats_cluster.urls, ns, node="two")
    assert one.claim_connection("app", 0, "feed-a", stale_after=60)
    assert two.claim_connection("app", 1, "feed-b", stale_after=60)
    one.release_all_connections()  # node "one" restarts: its feed is dead, two's is not
    assert two.connection_owner("app", 0) is None
    assert one.connection_owner("app", 1) == "feed-b"
    assert not one.claim_connection("app", 1, "feed-c", stale_after=60)
