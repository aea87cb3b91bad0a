"""One worker process: bind the shared port, build its runtime and app, serve until told to stop.

A worker binds the port with ``SO_REUSEPORT`` (the kernel spreads connections over
the workers) and asks the kernel to kill it if the supervisor dies
(``PR_SET_PDEATHSIG``), so a ``SIGKILL`` of the server leaves no orphan.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
from collections.abc import Callable, Iterator
from multiprocessing.synchronize import Event as EventType
from typing import Any

from lakehose.config import Settings

PR_SET_PDEATHSIG = 1
GRACEFUL_SHUTDOWN = 1  # seconds a stopping worker waits for open connections


def make_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:  # pragma: no cover - not Linux
        pass


def uvicorn_config(settings: Settings, app: Any, metrics: Any = None) -> Any:
    import uvicorn

    from lakehose.server.protocols.hec_wire import wire_protocol_for
    from lakehose.server.protocols.http import protocol_for

    hec = getattr(app, "hec", None)
    return uvicorn.Config(
        app,
        loop="uvloop",
        # httptools, with header deadline and limits, each response in one socket write;
        # HEC routes answered from the parser's callbacks (protocols/hec_wire.py)
        http=protocol_for(settings, metrics)
        if hec is None
        else wire_protocol_for(settings, metrics, hec),
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


def worker_process(
    settings: Settings, worker: int, workers: int, port: int, ready: EventType
) -> None:
    _die_with_parent()
    from lakehose.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    serve_worker(settings, worker, workers, port, ready.set)
