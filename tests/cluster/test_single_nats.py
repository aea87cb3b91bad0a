"""A lake pointed at one NATS server without a cluster, with the default 3 replicas: the
server refuses replicated streams, and lakehose says what to change instead of a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lakehose.storage.jetstream.devcluster import DevCluster
from lakehose.testing import run_server
from tests.helpers import wait_for

HINT = "set cluster_replicas = 1"


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    with DevCluster(tmp_path_factory.mktemp("nats1"), nodes=1) as cluster:
        yield cluster


def _lakehose(urls: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOSE_")}
    return subprocess.run(
        [sys.executable, "-m", "lakehose", *args, "--cluster", urls],
        capture_output=True, text=True, env=env, timeout=120, cwd=cwd,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        # a node creates the lake: the server refuses 3 replicas, and the error says what to do
        (["serve", "--port", "0"], HINT),
        # an admin command creates nothing (not even the catalog bucket the error was about)
        (["connector", "create", "web"], "holds no lake named 'lakehose'"),
    ],
)
def test_replicas_a_lone_server_cannot_keep_are_a_clear_error(
    single: DevCluster, tmp_path: Path, command: list[str], expected: str
) -> None:
    proc = _lakehose(single.urls, *command, cwd=tmp_path)
    assert proc.returncode != 0
    assert expected in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr


def test_hec_health_says_unhealthy_while_no_nats_server_is_reachable(tmp_path: Path) -> None:
    """A load balancer checks ``/services/collector/health``: a node that reaches no NATS
    server (its one server killed) answers 503 code 18, so it is taken out of rotation, and
    200 code 17 again once the server is back. Its own server: this one is killed."""
    with DevCluster(tmp_path / "nats", nodes=1) as alone:
        with run_server(
            tmp_path / "node", args=["--cluster", alone.urls],
            env={"LAKEHOSE_CLUSTER_REPLICAS": "1", "LAKEHOSE_CLUSTER_NAMESPACE": "healthlake"},
        ) as node:  # fmt: skip
            health = node.url + "/services/collector/health"
            assert httpx.get(health).json() == {"text": "HEC is healthy", "code": 17}
            alone.kill(alone.nodes[0])
            down = wait_for(lambda: (r := httpx.get(health)).status_code == 503 and r, timeout=30)
            assert down.json() == {"text": "HEC is unhealthy, queues are full", "code": 18}
            alone.restart(alone.nodes[0])
            wait_for(lambda: httpx.get(health).status_code == 200, timeout=60, interval=0.2)
            assert node.api_key is not None  # and it takes events again
            sent = httpx.post(
                node.hec_url, content=b'{"event": "back"}',
                headers={"Authorization": f"Splunk {node.api_key}"}, timeout=60,
            )  # fmt: skip
            assert sent.json() == {"text": "Success", "code": 0}
