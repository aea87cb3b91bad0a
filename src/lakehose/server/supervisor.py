"""``lakehose serve``: open the data directory, start the workers, watch them, shut down cleanly.

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

import contextlib
import ctypes
import fcntl
import logging
import multiprocessing
import os
import shlex
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

import orjson

import lakehose
from lakehose.config import Settings
from lakehose.errors import ConfigError, DataDirError
from lakehose.storage.catalog import Catalog
from lakehose.storage.lake import hec_url, open_data_dir, server_info_path

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1


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


def make_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


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


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:  # pragma: no cover - not Linux
        pass


def uvicorn_config(settings: Settings, app: Any, metrics: Any = None) -> Any:
    import uvicorn

    from lakehose.server.protocol import protocol_for

    return uvicorn.Config(
        app,
        loop="uvloop",
        # httptools, with header deadline and limits, each response in one socket write
        http=protocol_for(settings, metrics),
        lifespan="on",
        access_log=False,
        server_header=False,
        log_config=None,
        timeout_keep_alive=settings.keep_alive_timeout,
        # the client address (admin from loopback only, per-address limits) comes from
        # X-Forwarded-For only when the peer is one of these proxies
        proxy_headers=bool(settings.proxy_list),
        forwarded_allow_ips=settings.proxy_list,
        # Ctrl-C stops within 2 s: connections still open after this are cut (every answer
        # is sent only after its commit, so nothing acknowledged is lost)
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
    )


GRACEFUL_SHUTDOWN = 1  # seconds a stopping worker waits for open connections


def serve_worker(
    settings: Settings,
    worker: int,
    workers: int,
    port: int,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Run one worker until it is told to stop (SIGTERM/SIGINT); ``on_ready`` once it serves."""
    import uvicorn

    from lakehose.server.app import LakehoseApp
    from lakehose.server.runtime import Runtime

    class Server(uvicorn.Server):
        """Tells the runtime the moment a stop signal arrives, before connections drain."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            runtime.begin_shutdown()
            super().handle_exit(sig, frame)

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            """A stop signal ends the server cleanly (exit status 0): uvicorn would raise it
            again once stopped, so Ctrl-C printed ``Aborted!`` and SIGTERM exited 143."""
            with super().capture_signals():
                try:
                    yield
                finally:
                    self._captured_signals.clear()

    sock = make_socket(settings.host, port, reuse_port=True)
    sock.listen(2048)
    runtime = Runtime(settings, worker, workers)
    app = LakehoseApp(runtime, on_ready)
    Server(uvicorn_config(settings, app, runtime.metrics)).run(sockets=[sock])


def _worker_process(
    settings: Settings, worker: int, workers: int, port: int, ready: EventType
) -> None:
    _die_with_parent()
    from lakehose.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    serve_worker(settings, worker, workers, port, ready.set)


def bootstrap(catalog: Catalog) -> str | None:
    """On the first start of an empty data directory: create connector ``default``; its key.

    Runs once per data directory (a deleted ``default`` is not brought back).
    """
    if catalog.get_setting("bootstrapped") is not None:
        return None
    catalog.set_setting("bootstrapped", str(int(time.time())))
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
        try:
            if s.workers == 1:
                serve_worker(settings, 0, 1, port, lambda: self.announce(listening))
            else:
                self._supervise(settings, port, listening)
        finally:
            server_info_path(s).unlink(missing_ok=True)
        return 0

    def _banner(self, settings: Settings, url: str, key: str | None) -> str:
        """Say how to send an event; return the "Listening on" line, said once workers serve."""
        say = self.announce
        say(
            f"lakehose {lakehose.__version__}: data in {settings.data_dir}, {settings.workers} worker(s)"
        )
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
            target=_worker_process,
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
