"""Prometheus metrics for ``/metrics``, summed over every worker process.

Theory of operation
-------------------
Each worker keeps its metrics as plain numbers in memory (the ingest path pays a
dictionary update) and, once a second, writes a snapshot to
``<data-dir>/run/metrics/worker-<n>.json`` with an ordinary write and an atomic
rename. A scrape, answered by whichever worker the kernel picks, reads every
snapshot and sums them, exposing the result through prometheus-client.

Why not prometheus-client's multiprocess mode: it keeps sparse memory-mapped files,
and touching a fresh page of one on a full disk kills the process with SIGBUS. A
full disk must cost a 503, never a worker; a failed snapshot write is just skipped.

Counters survive a worker restart: a worker resumes from its own last snapshot.
Gauges count only for live workers. Labels are connector names, partitions and HEC
codes, never keys or tokens.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)

Labels = tuple[str, ...]
# name -> (help, label names, {labels: value})
LabelledGauges = dict[str, tuple[str, Labels, dict[Labels, float]]]
COMMIT_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

# name -> (help, label names); all counters
COUNTERS: dict[str, tuple[str, Labels]] = {
    "lakehose_hec_requests": (
        "HEC requests answered, by endpoint and HEC code",
        ("endpoint", "code"),
    ),
    "lakehose_events_accepted": ("Events committed to the lake, by connector", ("connector",)),
    "lakehose_bytes_accepted": ("Normalised event bytes committed, by connector", ("connector",)),
    "lakehose_hec_rejects": ("HEC requests refused, by HEC code", ("code",)),
    "lakehose_stream_events_sent": ("Events written to data-feed connections", ("partition",)),
    "lakehose_sandbox_faults": (
        "Faults injected by the sandbox (lakehose serve --sandbox), by fault",
        ("fault",),
    ),
    "lakehose_connections_refused": (
        "Connections cut off or refused: header_timeout, body_timeout, idle, header_size,"
        " header_count, malformed, connections (over max_connections)",
        ("reason",),
    ),
}
GAUGES: dict[str, str] = {
    "lakehose_commit_queue_bytes": "Bytes waiting to be committed",
    "lakehose_commit_queue_depth": "Requests waiting to be committed",
    "lakehose_stream_connections": "Open data-feed connections",
}


def prepare_metrics_dir(path: Path) -> None:
    """Start a server with no snapshots of a previous run."""
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("worker-*.json"):
        old.unlink()


class _Child:
    __slots__ = ("_values", "_key")

    def __init__(self, values: dict[Labels, float], key: Labels) -> None:
        self._values = values
        self._key = key

    def inc(self, amount: float = 1) -> None:
        self._values[self._key] = self._values.get(self._key, 0) + amount


class LabelledCounter:
    """``counter.labels(*values).inc(n)``, as prometheus-client spells it."""

    def __init__(self, values: dict[Labels, float]) -> None:
        self._values = values

    def labels(self, *values: str) -> _Child:
        return _Child(self._values, values)


class Gauge:
    """``gauge.inc()``, ``.dec()``, ``.set(v)``."""

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1) -> None:
        self.value += amount

    def dec(self, amount: float = 1) -> None:
        self.value -= amount

    def set(self, value: float) -> None:
        self.value = value


class Metrics:
    """This worker's metrics, and the scrape of all workers."""

    def __init__(self, directory: Path | None = None, worker: int = 0) -> None:
        self.directory = directory
        self.worker = worker
        self.counters: dict[str, dict[Labels, float]] = {name: {} for name in COUNTERS}
        self.gauges = {name: Gauge() for name in GAUGES}
        self.commit_buckets = [0] * (len(COMMIT_BUCKETS) + 1)
        self.commit_sum = 0.0
        self._requests = self.counters["lakehose_hec_requests"]
        self._rejects = self.counters["lakehose_hec_rejects"]
        self._events = self.counters["lakehose_events_accepted"]
        self._bytes = self.counters["lakehose_bytes_accepted"]
        self.stream_events = LabelledCounter(self.counters["lakehose_stream_events_sent"])
        self.stream_connections = self.gauges["lakehose_stream_connections"]
        self._write_failed = False
        self._resume()

    @property
    def path(self) -> Path | None:
        return None if self.directory is None else self.directory / f"worker-{self.worker}.json"

    def _resume(self) -> None:
        """Continue this worker slot's counters after a restart, so totals never drop."""
        if self.path is None or not self.path.exists():
            return
        try:
            snapshot = orjson.loads(self.path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return
        for name, rows in snapshot.get("counters", {}).items():
            if name in self.counters:
                self.counters[name] = {tuple(labels): value for *labels, value in rows}
        self._requests = self.counters["lakehose_hec_requests"]
        self._rejects = self.counters["lakehose_hec_rejects"]
        self._events = self.counters["lakehose_events_accepted"]
        self._bytes = self.counters["lakehose_bytes_accepted"]
        self.stream_events = LabelledCounter(self.counters["lakehose_stream_events_sent"])
        commit = snapshot.get("commit", {})
        if len(commit.get("buckets", [])) == len(self.commit_buckets):
            self.commit_buckets = list(commit["buckets"])
            self.commit_sum = float(commit.get("sum", 0.0))

    # hot path -----------------------------------------------------------------------------

    def request(self, endpoint: str, code: int) -> None:
        key = (endpoint, str(code))
        self._requests[key] = self._requests.get(key, 0) + 1
        if code != 0 and code != 17:
            rkey = (str(code),)
            self._rejects[rkey] = self._rejects.get(rkey, 0) + 1

    def accepted(self, connector: str, events: int, nbytes: int) -> None:
        key = (connector,)
        self._events[key] = self._events.get(key, 0) + events
        self._bytes[key] = self._bytes.get(key, 0) + nbytes

    def sandbox_fault(self, fault: str) -> None:
        rows = self.counters["lakehose_sandbox_faults"]
        rows[(fault,)] = rows.get((fault,), 0) + 1

    def connection_refused(self, reason: str) -> None:
        refused = self.counters["lakehose_connections_refused"]
        refused[(reason,)] = refused.get((reason,), 0) + 1

    def commit(self, seconds: float) -> None:
        for i, bound in enumerate(COMMIT_BUCKETS):
            if seconds <= bound:
                self.commit_buckets[i] += 1
                break
        else:
            self.commit_buckets[-1] += 1
        self.commit_sum += seconds

    # once a second ------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "counters": {
                name: [[*labels, value] for labels, value in values.items()]
                for name, values in self.counters.items()
            },
            "gauges": {name: gauge.value for name, gauge in self.gauges.items()},
            "commit": {"buckets": self.commit_buckets, "sum": self.commit_sum},
        }

    def flush(self, queue_bytes: int, queue_depth: int) -> None:
        """Write this worker's snapshot; a failed write (disk full) is skipped and logged once."""
        self.write(self.encoded(queue_bytes, queue_depth))

    def encoded(self, queue_bytes: int, queue_depth: int) -> bytes:
        """The snapshot to write, with the commit queue's gauges (on the loop thread)."""
        self.gauges["lakehose_commit_queue_bytes"].set(queue_bytes)
        self.gauges["lakehose_commit_queue_depth"].set(queue_depth)
        return orjson.dumps(self.snapshot())

    def write(self, data: bytes) -> None:
        """Replace the snapshot file with ``data`` (any thread: a file create and rename
        can wait milliseconds for the journal while commits fsync)."""
        path = self.path
        if path is None:
            return
        try:
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".worker-", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            if not self._write_failed:
                log.warning("metrics snapshot not written (%s); /metrics may lag", exc)
                self._write_failed = True
            return
        self._write_failed = False

    def _snapshots(self) -> Iterator[dict[str, Any]]:
        if self.directory is None:
            yield self.snapshot()
            return
        for path in sorted(self.directory.glob("worker-*.json")):
            try:
                yield orjson.loads(path.read_bytes())
            except (OSError, orjson.JSONDecodeError):
                continue

    def render(self, labelled_gauges: LabelledGauges | None = None) -> tuple[bytes, str]:
        """The exposition text summed over every worker, and its content type.

        ``labelled_gauges`` are computed by the caller at scrape time (consumer lag).
        """
        import prometheus_client as prom
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        counters: dict[str, dict[Labels, float]] = {name: {} for name in COUNTERS}
        gauges = dict.fromkeys(GAUGES, 0.0)
        buckets = [0] * (len(COMMIT_BUCKETS) + 1)
        total = 0.0
        for snap in self._snapshots():
            for name, rows in snap.get("counters", {}).items():
                if name in counters:
                    for *labels, value in rows:
                        key = tuple(labels)
                        counters[name][key] = counters[name].get(key, 0) + value
            if _alive(int(snap.get("pid", 0))):
                for name, value in snap.get("gauges", {}).items():
                    if name in gauges:
                        gauges[name] += value
            commit = snap.get("commit", {})
            if len(commit.get("buckets", [])) == len(buckets):
                buckets = [a + b for a, b in zip(buckets, commit["buckets"], strict=True)]
                total += float(commit.get("sum", 0.0))

        class Collector:
            def collect(self) -> Iterator[Any]:
                for name, (doc, label_names) in COUNTERS.items():
                    family = CounterMetricFamily(name, doc, labels=list(label_names))
                    for labels, value in sorted(counters[name].items()):
                        family.add_metric(list(labels), value)
                    yield family
                for name, doc in GAUGES.items():
                    yield GaugeMetricFamily(name, doc, value=gauges[name])
                for name, (doc, label_names, rows) in (labelled_gauges or {}).items():
                    gauge = GaugeMetricFamily(name, doc, labels=list(label_names))
                    for labels, value in sorted(rows.items()):
                        gauge.add_metric(list(labels), value)
                    yield gauge
                cumulative, running = [], 0
                for bound, count in zip([*map(str, COMMIT_BUCKETS), "+Inf"], buckets, strict=True):
                    running += count
                    cumulative.append((bound, running))
                yield HistogramMetricFamily(
                    "lakehose_commit_seconds",
                    "Time to commit one group of record batches durably",
                    buckets=cumulative,
                    sum_value=total,
                )

        registry = prom.CollectorRegistry()
        registry.register(Collector())
        return prom.generate_latest(registry), prom.CONTENT_TYPE_LATEST


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
