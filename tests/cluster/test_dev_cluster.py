"""``lakehose dev-cluster`` (``make cluster``): three NATS servers and three lakehose nodes on
loopback that serve one lake, stopped cleanly by Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.helpers import wait_for


def _env() -> dict[str, str]:
    """The environment without the test run's own lakehose settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOSE_")}


def _dev_cluster(tmp_path: Path) -> subprocess.Popen[str]:
    """``lakehose dev-cluster`` on ephemeral ports in a session of its own, output piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "lakehose", "dev-cluster", "--dir", str(tmp_path), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(),
        start_new_session=True,
    )  # fmt: skip


def _stopped_by(proc: subprocess.Popen[str], sig: int) -> str:
    """Send ``sig`` and return the rest of dev-cluster's output once it has exited."""
    proc.send_signal(sig)
    rest, _ = proc.communicate(timeout=60)
    return rest


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """Whatever still runs (a failed step, a stop that hung) dies with its process group."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _status(url: str) -> Any:
    return httpx.get(url + "/api/v1/status").json()["resources"][0]


def test_dev_cluster_serves_one_lake_from_every_node(tmp_path: Path) -> None:
    proc = _dev_cluster(tmp_path)
    assert proc.stdout is not None
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if "dev cluster ready" in line or "exited" in line:
                break
        assert "dev cluster ready" in lines[-1], "".join(lines)
        urls = next(x for x in lines if x.startswith("lakehose nodes:")).split()[2:]
        assert len(urls) == 3
        logs = next(x for x in lines if x.startswith("logs: ")).split()
        assert (tmp_path / "node1.log").is_file() and logs[1] == f"{tmp_path}/node*.log"
        assert (tmp_path / "nats" / "n1" / "nats.log").is_file()
        key_line = next(x for x in lines if "Its API key is in " in x)
        key = Path(key_line.split("Its API key is in ")[1].split(" (")[0]).read_text().strip()
        sent = httpx.post(
            urls[2] + "/services/collector", content=orjson.dumps({"event": "try me"}),
            headers={"Authorization": f"Splunk {key}"},
        )  # fmt: skip
        assert sent.json() == {"text": "Success", "code": 0}
        for url in urls:  # the one lake, on every node (each follows the stream)
            wait_for(lambda u=url: _status(u)["partitions"][0]["end_offset"] == 1, timeout=60)
            assert len(_status(url)["cluster"]["servers"]) == 3
        rest = _stopped_by(proc, signal.SIGINT)
    finally:
        _kill_group(proc)
    assert proc.returncode == 0, "".join(lines) + rest
    assert "dev cluster stopped" in rest


def _ours(directory: Path) -> list[str]:
    """Command lines of the processes still running with ``directory`` in them."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            line = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(directory) in line:
            found.append(line)
    return found


def test_sighup_while_it_starts_stops_everything_it_started(tmp_path: Path) -> None:
    """The terminal closed (SIGHUP) before the nodes were up: the NATS servers and the node
    that was starting run in sessions of their own, so dev-cluster must stop them; it stops
    at once, not after starting the rest."""
    proc = _dev_cluster(tmp_path)
    assert proc.stdout is not None
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("  [node1]"):  # the NATS servers are up, node1 is starting
                break
        assert _ours(tmp_path), "".join(lines)
        rest = _stopped_by(proc, signal.SIGHUP)
    finally:
        _kill_group(proc)
    assert proc.returncode == 0 and "dev cluster stopped" in rest, "".join(lines) + rest
    assert "ready" not in rest and "[node2]" not in rest
    assert not _ours(tmp_path)


def test_a_taken_port_is_named_and_nothing_is_left_running(tmp_path: Path) -> None:
    """``make cluster`` while another server has 8088 (``make run``, say): the node's own
    error, not only "see its log", and the NATS servers stopped."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "lakehose", "dev-cluster", "--dir", str(tmp_path), "--port",
             str(port)],
            capture_output=True, text=True, env=_env(), timeout=120,
        )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Error: node node1 exited: cannot listen on 127.0.0.1:" in proc.stderr, proc.stderr
    assert f":{port}: Address already in use" in proc.stderr and "--port 0" in proc.stderr
    assert not _ours(tmp_path)
