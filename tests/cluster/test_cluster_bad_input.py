"""Bad ``--cluster`` input, as an operator mistypes it: every mistake is one clear line on
stderr and a non-zero exit, never a traceback, and leaves nothing on the cluster.

A port nothing listens on (after ``cluster_connect_timeout``, not the 30 s default: the
test sets 1 s), a node's ``http://`` address given in place of NATS's, a NATS server
without JetStream, and a lake name (namespace) the cluster does not hold.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakehose.storage.jetstream.devcluster import DevCluster, free_port, nats_server_binary
from tests.helpers import wait_for


def _lakehose(urls: str, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOSE_")}
    return subprocess.run(
        [sys.executable, "-m", "lakehose", *args, "--cluster", urls],
        capture_output=True, text=True, env={**environ, **env}, timeout=120, cwd=cwd,
    )  # fmt: skip


def _one_line_error(proc: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for text in expected:
        assert text in lines[0], lines[0]


COMMANDS = [["serve", "--port", "0"], ["connector", "list"]]  # a node, and an admin command


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_an_unreachable_cluster_is_one_line_after_the_connect_timeout(
    tmp_path: Path, command: list[str]
) -> None:
    nobody = f"nats://127.0.0.1:{free_port()}"
    proc = _lakehose(nobody, *command, cwd=tmp_path, LAKEHOSE_CLUSTER_CONNECT_TIMEOUT="1s")
    _one_line_error(
        proc, f"cannot reach the NATS cluster at {nobody}: no server answered in 1 s",
        "Connection refused",
    )  # fmt: skip


def test_a_url_that_is_not_nats_is_refused_at_once(tmp_path: Path) -> None:
    proc = _lakehose("http://127.0.0.1:8088", "connector", "list", cwd=tmp_path)
    _one_line_error(proc, "http://127.0.0.1:8088 is not a NATS URL", "nats://host:4222")


@pytest.fixture(scope="module")
def without_jetstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A plain ``nats-server`` (no ``-js``) on a loopback port."""
    port = free_port()
    log = (tmp_path_factory.mktemp("nojs") / "nats.log").open("ab")
    proc = subprocess.Popen(
        [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(lambda: b"Server is ready" in Path(log.name).read_bytes(), timeout=30)
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_nats_server_without_jetstream_is_named(
    without_jetstream: str, tmp_path: Path, command: list[str]
) -> None:
    proc = _lakehose(without_jetstream, *command, cwd=tmp_path)
    port = without_jetstream.rsplit(":", 1)[1]
    _one_line_error(proc, f"NATS server at 127.0.0.1:{port} does not run JetStream", "-js")


def _streams(cluster: DevCluster) -> list[str]:
    """Every stream's name, from the first server's monitoring endpoint."""
    url = f"http://127.0.0.1:{cluster.nodes[0].monitor_port}/jsz?streams=true"
    with urllib.request.urlopen(url, timeout=10) as reply:
        jsz = json.load(reply)
    return [s["name"] for a in jsz.get("account_details", []) for s in a.get("stream_detail", [])]


def test_a_lake_name_the_cluster_does_not_hold_is_named_and_nothing_is_made(
    nats_cluster: DevCluster, tmp_path: Path
) -> None:
    for command in (["status"], ["client", "create", "x", "--scope", "admin"]):
        proc = _lakehose(
            nats_cluster.urls, *command, "--cluster-namespace", "nosuchlake", cwd=tmp_path
        )
        _one_line_error(
            proc, f"the NATS cluster at {nats_cluster.urls} holds no lake named 'nosuchlake'"
        )
    assert not [s for s in _streams(nats_cluster) if "NOSUCHLAKE" in s]
