"""Run a real ``lakehose serve`` on a loopback port, for tests and for SDK users' own tests.

    with run_server(tmp_path / "lake") as server:
        httpx.post(server.hec_url, headers={"Authorization": f"Splunk {server.api_key}"}, ...)

The server is a separate process (the same one users run), listening on
127.0.0.1 and a free port, with its data directory where you say. Its stderr
(the logs) goes to ``<data-dir>/server.log`` so a test can read everything it wrote.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


class ServerStartError(RuntimeError):
    """The server exited or did not become healthy in time."""


@dataclass
class RunningServer:
    """A ``lakehose serve`` process and how to reach it."""

    data_dir: Path
    args: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[str] | None = None
    url: str = ""
    api_key: str | None = None
    output: list[str] = field(default_factory=list)
    log_path: Path | None = None
    wrapper: list[str] = field(default_factory=list)  # e.g. ["ip", "netns", "exec", "ns1"]
    _reader: threading.Thread | None = None

    @property
    def hec_url(self) -> str:
        return self.url + "/services/collector"

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def start(self, timeout: float = 30.0) -> RunningServer:
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.server.log"
        self.output = []
        log = self.log_path.open("a")
        self.proc = subprocess.Popen(
            [
                *self.wrapper,
                sys.executable,
                "-m",
                "lakehose",
                "serve",
                "--data-dir",
                str(self.data_dir),
                *self.args,
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            text=True,
            env=self.env,
            start_new_session=True,
        )
        log.close()
        listening = threading.Event()
        self._reader = threading.Thread(target=self._read_stdout, args=(listening,), daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while not listening.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self._fail("did not start")
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._fail("exited")
            if self.healthy():
                return self
            time.sleep(0.05)
        self._fail("did not become healthy")
        raise AssertionError("unreachable")

    def _fail(self, what: str) -> None:
        self.kill()
        logs = self.log_path.read_text() if self.log_path and self.log_path.exists() else ""
        raise ServerStartError(
            f"lakehose serve {what}; stdout:\n" + "\n".join(self.output) + f"\nlog:\n{logs[-4000:]}"
        )

    def _read_stdout(self, listening: threading.Event) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        expect_key = False
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.output.append(line)
            if expect_key:
                self.api_key = line.strip()
                expect_key = False
            elif "API key, shown only this once" in line:
                expect_key = True
            elif "Its API key is in " in line:  # not a terminal: the key is in a 0600 file
                path = line.split("Its API key is in ", 1)[1].split(" (", 1)[0]
                self.api_key = Path(path).read_text().strip()
            elif line.startswith("Listening on "):
                self.url = line.split()[2]
                listening.set()

    def healthy(self) -> bool:
        import ssl

        context = ssl._create_unverified_context() if self.url.startswith("https") else None
        try:
            with urllib.request.urlopen(
                self.url + "/services/collector/health", timeout=2, context=context
            ) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (graceful), then wait; the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            self._close_pipes()
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None
        self._close_pipes()
        return code

    def _close_pipes(self) -> None:
        if self._reader is not None:
            self._reader.join(5)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def kill(self) -> None:
        """SIGKILL the server and everything it started, as a crash would."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)
        self._close_pipes()

    def restart(self, timeout: float = 30.0) -> RunningServer:
        """Start again on the same data directory (and the same port if possible)."""
        if self.proc is not None and self.proc.poll() is None:
            self.stop()
        if self.url:
            args = list(self.args)
            if "--port" not in args:
                args += ["--port", str(self.port)]
            elif args[args.index("--port") + 1] == "0":
                args[args.index("--port") + 1] = str(self.port)
            self.args = args
        return self.start(timeout)

    def logs(self) -> str:
        return self.log_path.read_text() if self.log_path and self.log_path.exists() else ""


@contextmanager
def run_server(
    data_dir: Path | str,
    *,
    workers: int = 1,
    args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> Iterator[RunningServer]:
    """A running server on 127.0.0.1 and a free port; stopped when the block ends."""
    data_dir = Path(data_dir)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOSE_")}
    full_env.update(env or {})
    full_env.setdefault("LAKEHOSE_LOG_FORMAT", "json")
    argv = ["--host", "127.0.0.1", "--workers", str(workers), *args]
    if "--port" not in args:
        argv += ["--port", "0"]
    server = RunningServer(data_dir, argv, full_env)
    server.start(timeout)
    try:
        yield server
    finally:
        server.stop()
