"""A lake pointed at one NATS server without a cluster, with the default 3 replicas: the
server refuses replicated streams, and lakehose says what to change instead of a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakehose.storage.jetstream.devcluster import DevCluster

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
