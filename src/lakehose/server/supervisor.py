"""``lakehose serve``: open the data directory, start the workers, watch them, shut down cleanly.

(How one worker boots, binds and serves is ``worker.py``.)

Theory of operation
-------------------
The supervisor holds ``run/serve.lock`` for its lifetime, so two servers never
share a data directory. It migrates the databases and bootstraps the first
connector *before* any worker starts, so workers only ever open a ready data
directory. It reserves the port (checking that nothing else listens there), then
starts one worker process per core. Each worker binds the port with
``SO_REUSEPORT``, so the kernel spreads connections evenly across them, and
asks the kernel to kill it if the supervisor dies (``PR_SET_PDEATHSIG``), so a
``SIGKILL`` of the server leaves no orphan holding the port or the databases.
A worker that dies unexpectedly is restarted. With one worker, it runs in the
supervisor's own process.
"""

from __future__ import annotations

import fcntl
import logging
import multiprocessing
import os
import shlex
import signal
import sys
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

import lakehose
from lakehose.config import Settings
from lakehose.errors import ConfigError, DataDirError
from lakehose.server.worker import make_socket, serve_worker, worker_process
from lakehose.storage.catalog.base import Catalog
from lakehose.storage.jetstream.auth import how_it_connects
from lakehose.storage.lake import (
    cluster_auth,
    hec_url,
    open_data_dir,
    server_info_path,
    shown_urls,
    stored_partitions,
)

if TYPE_CHECKING:
    from lakehose.storage.cluster.presence import Heartbeat

log = logging.getLogger(__name__)


def reserve_port(host: str, port: int) -> int:
    """Check that the port is free (no SO_REUSEPORT), and return it (the chosen one for 0)."""
    try:
        probe = make_socket(host, port, reuse_port=False)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        return int(probe.getsockname()[1])
    finally:
        probe.close()


KEY_FILE = "default-api-key"

KEY_FILE_NOTE = "readable by this user only; store it elsewhere, then delete the file"


def write_key_file(data_dir: Path, key: str) -> Path:
    """The first connector's key in a 0600 file of the data directory, when no terminal
    is there to show it to."""
    path = data_dir / KEY_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(key + "\n")
    return path


def bootstrap(catalog: Catalog) -> str | None:
    """On the first start of an empty data directory: create connector ``default``; its key.

    Runs once per data directory (a deleted ``default`` is not brought back).
    """
    mark = f"{int(time.time())} {os.getpid()} {os.urandom(4).hex()}"
    if catalog.set_setting_once("bootstrapped", mark) != mark:  # another start (or node) was first
        return None
    if catalog.list_connectors():
        return None
    _, key = catalog.create_connector("default", description="created on first start")
    return key


class Supervisor:
    """Owns a running server: data directory, port, workers, signals."""

    def __init__(self, settings: Settings, announce: Callable[[str], None]) -> None:
        self.settings = settings
        self.announce = announce
        self._stop = False
        self._procs: dict[int, BaseProcess] = {}
        self._lock_fd: int | None = None

    def _lock_data_dir(self) -> None:
        run = self.settings.run_dir
        run.mkdir(parents=True, exist_ok=True)
        fd = os.open(run / "serve.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirError(
                str(self.settings.data_dir), "another lakehose server is using it"
            ) from None
        self._lock_fd = fd

    def run(self) -> int:
        s = self.settings
        catalog = open_data_dir(s)
        if s.cluster:  # every node serves every partition of the cluster's lake
            s = s.replace(partitions=stored_partitions(s, catalog))
        self._lock_data_dir()
        try:
            key = bootstrap(catalog)
            catalog.release_all_connections()
        finally:
            catalog.close()
        from lakehose.server.metrics import prepare_metrics_dir

        prepare_metrics_dir(s.run_dir / "metrics")
        port = reserve_port(s.host, s.port)
        settings = s.replace(port=port)
        host = "127.0.0.1" if s.host in ("0.0.0.0", "") else ("::1" if s.host == "::" else s.host)
        url = f"{s.scheme}://{f'[{host}]' if ':' in host else host}:{port}"
        info = {"pid": os.getpid(), "url": url, "host": s.host, "port": port, "workers": s.workers}
        server_info_path(s).write_bytes(orjson.dumps(info))
        listening = self._banner(settings, url, key)
        heartbeat = self._heartbeat(settings, url)
        try:
            if s.workers == 1:
                serve_worker(settings, 0, 1, port, lambda: self.announce(listening))
            else:
                self._supervise(settings, port, listening)
        finally:
            if heartbeat is not None:
                heartbeat.stop()
            server_info_path(s).unlink(missing_ok=True)
        return 0

    def _heartbeat(self, settings: Settings, url: str) -> Heartbeat | None:
        """On a cluster, the heartbeat that lists this node in ``lakehose status``."""
        if not settings.cluster:
            return None
        from lakehose.storage.cluster.catalog import node_name
        from lakehose.storage.cluster.presence import Heartbeat

        return Heartbeat(
            settings.cluster,
            settings.cluster_namespace,
            settings.cluster_replicas,
            node_name(settings.run_dir),
            settings.public_url or url,
        ).start()

    def _banner(self, settings: Settings, url: str, key: str | None) -> str:
        """Say how to send an event; return the "Listening on" line, said once workers serve."""
        say = self.announce
        where = (
            f"cluster {shown_urls(settings.cluster)} (lake {settings.cluster_namespace!r}, "
            f"{settings.cluster_replicas} replicas, "
            f"{how_it_connects(settings.cluster, cluster_auth(settings))}; "
            f"run files in {settings.data_dir})"
            if settings.cluster
            else str(settings.data_dir)
        )
        say(f"lakehose {lakehose.__version__}: data in {where}, {settings.workers} worker(s)")
        collector = hec_url(settings.replace(public_url=settings.public_url or url))
        insecure = " -k" if settings.tls_cert else ""
        if key and not sys.stdout.isatty():  # a log or a pipe others may read: not the key
            path = write_key_file(settings.data_dir, key)
            say(f'Created connector "default". Its API key is in {path} ({KEY_FILE_NOTE})')
            say("Send an event:")
            quoted = shlex.quote(str(path))
            say(
                f'    curl{insecure} {collector} -H "Authorization: Splunk $(cat {quoted})" '
                '-d \'{"event": "hello, lake"}\''
            )
        elif key:
            say('Created connector "default". Its API key, shown only this once:')
            say(f"    {key}")
            say("Send an event:")
            say(
                f"    curl{insecure} {collector} -H 'Authorization: Splunk {key}' "
                '-d \'{"event": "hello, lake"}\''
            )
        else:
            say(
                "Send events with a connector's API key (new key: lakehose connector rotate default)"
            )
        return f"Listening on {url} (HEC at {collector})"

    def _start(self, settings: Settings, index: int, port: int) -> EventType:
        ctx = multiprocessing.get_context("spawn")
        ready = ctx.Event()
        proc = ctx.Process(
            target=worker_process,
            args=(settings, index, settings.workers, port, ready),
            name=f"lakehose-worker-{index}",
            daemon=False,
        )
        proc.start()
        self._procs[index] = proc
        return ready

    def _supervise(self, settings: Settings, port: int, listening: str) -> None:
        def on_signal(signum: int, _: Any) -> None:
            self._stop = True

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            started = [self._start(settings, i, port) for i in range(settings.workers)]
            deadline = time.monotonic() + 120
            while not self._stop and not all(e.is_set() for e in started):
                if time.monotonic() > deadline or not all(
                    p.is_alive() for p in self._procs.values()
                ):
                    break
                time.sleep(0.02)
            if all(e.is_set() for e in started):
                self.announce(listening)
            while not self._stop:
                time.sleep(0.2)
                for i, proc in list(self._procs.items()):
                    if not proc.is_alive() and not self._stop:
                        log.error("worker %d exited with %s; restarting it", i, proc.exitcode)
                        self._start(settings, i, port)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for proc in self._procs.values():
                if proc.is_alive() and proc.pid is not None:
                    os.kill(proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + 20
            for proc in self._procs.values():
                proc.join(max(0.1, deadline - time.monotonic()))
                if proc.is_alive():
                    proc.kill()
                    proc.join(5)
