"""Run ``lakehose collect`` as a real process, as users do, and read what it says about itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

from lakehose.testing import RunningServer
from tests.helpers import stored_events, wait_for


def collector_yaml(
    tmp: Path, server: RunningServer, sources: dict[str, Any], **sink: Any
) -> dict[str, Any]:
    """A config with one sink ``lake`` pointing at ``server`` and the status port on 0."""
    return {
        "dataDirectory": str(tmp / "collector-state"),
        "logLevel": "debug",
        "status": {"port": 0},
        "sources": sources,
        "sinks": {
            "lake": {
                "type": "hec",
                "url": server.hec_url,
                "token": "${LAKE_TOKEN}",
                "proxy": "none",
                **sink,
            }
        },
    }


class RunningCollector:
    """A ``lakehose collect --config`` process; its stderr goes to ``<dir>/collector.log``."""

    def __init__(self, config: dict[str, Any] | str, directory: Path, token: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "collector.yaml"
        text = config if isinstance(config, str) else yaml.safe_dump(config)
        self.path.write_text(text)
        self.state = Path(yaml.safe_load(text)["dataDirectory"])
        self.log_path = directory / "collector.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOSE_")}
        self.env["LAKE_TOKEN"] = token
        self.env["LAKEHOSE_LOG_FORMAT"] = "text"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, stdin: Any = subprocess.DEVNULL, wait: bool = True) -> RunningCollector:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "lakehose", "collect", "--config", str(self.path)],
                stdin=stdin,
                stdout=log,
                stderr=log,
                env=self.env,
            )
        if wait:
            wait_for(self._ready, timeout=120)  # a starved machine starts Python slowly
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"collector exited {self.proc.returncode}:\n{self.logs()}")
        state = self.state / "collector.json"
        if not state.exists():
            return False
        return orjson.loads(state.read_bytes())["pid"] == self.proc.pid  # type: ignore[no-any-return]

    @property
    def url(self) -> str:
        return str(orjson.loads((self.state / "collector.json").read_bytes())["status_url"])

    def status(self) -> dict[str, Any]:
        return httpx.get(self.url + "/status", timeout=10).json()  # type: ignore[no-any-return]

    def address(self, source: str) -> tuple[str, int]:
        host, port = wait_for(lambda: self.status()["sources"][source].get("address")).rsplit(
            ":", 1
        )
        return host, int(port)

    def logs(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stop(self, timeout: float = 30) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def __enter__(self) -> RunningCollector:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def lake_texts(server: RunningServer, tag: str) -> Counter[str]:
    """How many times each event text with ``fields.run == tag`` is in the lake."""
    out: Counter[str] = Counter()
    for e in stored_events(server.data_dir):
        fields = e.get("fields") or {}
        if fields.get("run") == tag:
            event = e["event"]
            out[event if isinstance(event, str) else orjson.dumps(event).decode()] += 1
    return out


def lake_events(server: RunningServer, tag: str) -> list[dict[str, Any]]:
    """The stored events whose ``fields.run`` is ``tag``, in offset order."""
    return [e for e in stored_events(server.data_dir) if (e.get("fields") or {}).get("run") == tag]


def tagged(tag: str) -> list[dict[str, Any]]:
    """A ``static_fields`` transform that marks a test's events, to tell them apart in one lake."""
    return [{"type": "static_fields", "fields": {"run": tag}}]
