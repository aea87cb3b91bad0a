"""Prometheus metrics for ``/metrics``, summed over every worker process.

Workers use prometheus-client's multiprocess mode (one mmap file per process in
``<data-dir>/run/metrics``). The ingest path only bumps plain ``dict`` counters;
:meth:`Metrics.flush` moves them into the Prometheus objects a few times a
second, so a request pays a dictionary update, not a locked mmap write per metric.
Labels are connector names and HEC codes: never keys or tokens.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess_dir(path: Path) -> None:
    """Empty the metrics directory and point prometheus-client at it (before it is imported)."""
    path.mkdir(parents=True, exist_ok=True)
    for f in path.glob("*.db"):
        f.unlink()
    os.environ[MULTIPROC_ENV] = str(path)


class Metrics:
    """This process's metrics."""

    def __init__(self) -> None:
        import prometheus_client as prom

        self._prom = prom
        self.requests = prom.Counter(
            "lakehose_hec_requests",
            "HEC requests answered, by endpoint and HEC code",
            ["endpoint", "code"],
        )
        self.events = prom.Counter(
            "lakehose_events_accepted", "Events committed to the lake, by connector", ["connector"]
        )
        self.bytes = prom.Counter(
            "lakehose_bytes_accepted",
            "Request body bytes committed (decompressed), by connector",
            ["connector"],
        )
        self.rejects = prom.Counter(
            "lakehose_hec_rejects", "HEC requests refused, by HEC code", ["code"]
        )
        self.commit_seconds = prom.Histogram(
            "lakehose_commit_seconds",
            "Time to commit one group of record batches durably",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        self.queue_bytes = prom.Gauge(
            "lakehose_commit_queue_bytes",
            "Bytes waiting to be committed",
            multiprocess_mode="livesum",
        )
        self.queue_depth = prom.Gauge(
            "lakehose_commit_queue_depth",
            "Requests waiting to be committed",
            multiprocess_mode="livesum",
        )
        self.stream_events = prom.Counter(
            "lakehose_stream_events_sent", "Events written to data-feed connections", ["partition"]
        )
        self.stream_connections = prom.Gauge(
            "lakehose_stream_connections", "Open data-feed connections", multiprocess_mode="livesum"
        )
        self._requests: dict[tuple[str, int], int] = {}
        self._events: dict[str, int] = {}
        self._bytes: dict[str, int] = {}
        self._rejects: dict[int, int] = {}
        self._commits: list[float] = []

    # hot path: plain counters -----------------------------------------------------------

    def request(self, endpoint: str, code: int) -> None:
        key = (endpoint, code)
        self._requests[key] = self._requests.get(key, 0) + 1
        if code != 0 and code != 17:
            self._rejects[code] = self._rejects.get(code, 0) + 1

    def accepted(self, connector: str, events: int, nbytes: int) -> None:
        self._events[connector] = self._events.get(connector, 0) + events
        self._bytes[connector] = self._bytes.get(connector, 0) + nbytes

    def commit(self, seconds: float) -> None:
        self._commits.append(seconds)

    # a few times a second -----------------------------------------------------------------

    def flush(self, queue_bytes: int, queue_depth: int) -> None:
        for (endpoint, code), n in self._requests.items():
            self.requests.labels(endpoint, str(code)).inc(n)
        for code, n in self._rejects.items():
            self.rejects.labels(str(code)).inc(n)
        for connector, n in self._events.items():
            self.events.labels(connector).inc(n)
        for connector, n in self._bytes.items():
            self.bytes.labels(connector).inc(n)
        commits, self._commits = self._commits, []
        for seconds in commits:
            self.commit_seconds.observe(seconds)
        self._requests.clear()
        self._rejects.clear()
        self._events.clear()
        self._bytes.clear()
        self.queue_bytes.set(queue_bytes)
        self.queue_depth.set(queue_depth)

    def render(self) -> tuple[bytes, str]:
        """The exposition text of all processes, and its content type."""
        prom = self._prom
        if os.environ.get(MULTIPROC_ENV):
            from prometheus_client import multiprocess

            registry: Any = prom.CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        else:
            registry = prom.REGISTRY
        return prom.generate_latest(registry), prom.CONTENT_TYPE_LATEST

    def mark_dead(self, pid: int) -> None:
        if os.environ.get(MULTIPROC_ENV):
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
