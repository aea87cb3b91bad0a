"""The collector's local status endpoint: ``GET /status`` (JSON) and ``GET /metrics`` (Prometheus).

A deliberately tiny HTTP/1.1 responder on a loopback port (``status: {bind, port}``): two
read-only documents, no keys, one request per connection. Counters come from the sources
(events, bytes, lag) and from each sink's ``Delivery.stats()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

log = logging.getLogger(__name__)

Snapshot = Callable[[], Mapping[str, Any]]
_COUNTERS = {"events", "bytes", "filtered", "errors", "dropped", "truncated", "runs", "failed_runs"}
_SINK_GAUGES = {"queue_events", "queue_bytes"}


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _metric_name(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def metrics_text(snapshot: Mapping[str, Any]) -> str:
    """The status snapshot in Prometheus text exposition format."""
    families: dict[str, tuple[str, list[str]]] = {}

    def add(name: str, kind: str, labels: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return
        families.setdefault(name, (kind, []))[1].append(f"{name}{{{labels}}} {value}")

    for source, values in snapshot.get("sources", {}).items():
        labels = f'source="{_label(source)}",type="{_label(str(values.get("type", "")))}"'
        for key, value in values.items():
            kind = "counter" if key in _COUNTERS else "gauge"
            suffix = "_total" if kind == "counter" else ""
            add(f"lakehose_collector_source_{_metric_name(key)}{suffix}", kind, labels, value)
    for sink, values in snapshot.get("sinks", {}).items():
        labels = f'sink="{_label(sink)}"'
        for key, value in values.items():
            kind = "gauge" if key in _SINK_GAUGES else "counter"
            suffix = "_total" if kind == "counter" else ""
            add(f"lakehose_collector_sink_{_metric_name(key)}{suffix}", kind, labels, value)
    add("lakehose_collector_uptime_seconds", "gauge", "", snapshot.get("uptime_seconds", 0))
    out = []
    for name, (kind, samples) in sorted(families.items()):
        out.append(f"# TYPE {name} {kind}")
        out.extend(samples)
    return "\n".join(out) + "\n"


class StatusServer:
    """Serves ``snapshot()`` as ``/status`` and ``/metrics``."""

    def __init__(self, snapshot: Snapshot, bind: str, port: int) -> None:
        self.snapshot = snapshot
        self.bind = bind
        self.port = port
        self.url = ""
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.bind, self.port)
        host, port = self._server.sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            method, target = (head.split(b"\r\n", 1)[0].split(b" ") + [b"", b""])[:2]
            path = target.split(b"?", 1)[0]
            if method not in (b"GET", b"HEAD"):
                status, ctype, body = "405 Method Not Allowed", "text/plain", b"GET only\n"
            elif path == b"/status":
                status, ctype = "200 OK", "application/json"
                body = orjson.dumps(self.snapshot(), option=orjson.OPT_INDENT_2) + b"\n"
            elif path == b"/metrics":
                status, ctype = "200 OK", "text/plain; version=0.0.4; charset=utf-8"
                body = metrics_text(self.snapshot()).encode()
            else:
                status, ctype, body = "404 Not Found", "text/plain", b"/status or /metrics\n"
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + (body if method != b"HEAD" else b"")
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass
        except Exception:  # a bug here must not take the collector down
            log.exception("status endpoint failed")
        finally:
            with contextlib.suppress(OSError):
                writer.close()


def uptime_since(started: float) -> float:
    return round(time.monotonic() - started, 3)
