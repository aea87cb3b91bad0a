"""The NATS cluster the distributed tests run on: real nats-servers from the pinned package."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from pathlib import Path

from lakehose.storage.jetstream.devcluster import DevCluster, nats_server_binary
from lakehose.storage.jetstream.layout import Layout
from lakehose.storage.jetstream.link import link_for
from lakehose.storage.jetstream.log import ensure_streams


def _routes(cluster: DevCluster, name: str) -> int:
    node = cluster.node(name)
    with urllib.request.urlopen(f"http://127.0.0.1:{node.monitor_port}/routez", timeout=5) as r:
        return int(json.load(r)["num_routes"])


def test_three_nodes_form_one_cluster_with_replicated_streams(nats_cluster: DevCluster) -> None:
    assert nats_server_binary().endswith("nats-server")
    # The cluster is shared by the worker's tests, some of which kill and restart its
    # servers: wait until it is whole again before looking at it.
    nats_cluster.wait_healthy(60)
    deadline = time.monotonic() + 60
    while not all(_routes(nats_cluster, n.name) >= 2 for n in nats_cluster.nodes):
        assert time.monotonic() < deadline, "routes between the three servers never formed"
        time.sleep(0.1)
    assert all(node.healthy() for node in nats_cluster.nodes)
    link = link_for(nats_cluster.urls)
    layout = Layout("devcluster")
    link.call(ensure_streams(link, layout, 1, 3))

    async def replicas() -> tuple[int, int]:
        info = await link.js.stream_info(layout.stream(0))
        assert info.cluster is not None
        return info.config.num_replicas or 0, len(info.cluster.replicas or [])

    assert link.call(replicas()) == (3, 2)  # a leader and two replicas on the other nodes


def test_a_port_taken_before_the_server_binds_it_is_picked_again(tmp_path: Path) -> None:
    cluster = DevCluster(tmp_path / "nats", nodes=1)
    node = cluster.nodes[0]
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", node.port))  # another process got there first
        squatter.listen()
        with cluster:
            assert node.port != squatter.getsockname()[1]
            assert node.healthy()
