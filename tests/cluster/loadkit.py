"""Load for the cluster's fault tests: HEC senders on lakehose nodes that know what was
acknowledged and how long they went without an acknowledgement, SDK stream consumers
attached through lakehose nodes that remember every offset they were handed, and the
lake's own record (read straight from its JetStream stream) to check both against.

Senders never resend: an event whose outcome they do not know (503, a broken
connection) is not counted as acknowledged, so an event stored twice is the cluster's
doing, and so is an acknowledged event missing.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from lakehose.client import StreamConsumer
from lakehose.storage.jetstream.devcluster import DevCluster, NatsNode
from lakehose.storage.jetstream.layout import Layout
from lakehose.storage.jetstream.link import link_for
from lakehose.storage.jetstream.log import open_readers
from lakehose.testing import RunningServer
from tests.cluster.clusterkit import Lake
from tests.storage.backendkit import read_all


class Sender(threading.Thread):
    """Numbered events, ``batch`` a request, to one node until stopped; every 200 timed."""

    def __init__(
        self, node: RunningServer, key: str, label: str, batch: int = 20, pause: float = 0.02
    ) -> None:
        """``pause``: seconds between requests, so four senders leave the loaded machine's
        cores to the servers (what matters is that requests are in flight at every fault)."""
        super().__init__(daemon=True, name=f"sender-{label}")
        self.node, self.key, self.label, self.batch = node, key, label, batch
        self.pause = pause
        self.acked: list[str] = []
        self.ack_times: list[float] = []  # monotonic time of every 200
        self.sent_times: list[float] = []  # when each request that got a 200 was sent
        self.refused: Counter[int] = Counter()  # status -> count (0: no answer)
        self.stop = threading.Event()

    def run(self) -> None:
        headers = {"Authorization": f"Splunk {self.key}"}
        with httpx.Client(timeout=30, headers=headers) as client:
            for n in itertools.count():
                if self.stop.is_set():
                    return
                ids = [f"{self.label}-{n}-{i}" for i in range(self.batch)]
                body = b"".join(orjson.dumps({"event": {"id": i}}) for i in ids)
                sent = time.monotonic()
                try:  # the node's URL is read each time: a restarted node keeps its port
                    reply = client.post(self.node.hec_url, content=body)
                except httpx.HTTPError:
                    self.refused[0] += 1
                    time.sleep(0.05)
                    continue
                if reply.status_code == 200:
                    self.acked += ids
                    self.ack_times.append(time.monotonic())
                    self.sent_times.append(sent)
                    time.sleep(self.pause)
                else:
                    self.refused[reply.status_code] += 1
                    time.sleep(0.05)

    def longest_stall(self, start: float, end: float) -> float:
        """The longest time this sender saw no 200, of the gaps overlapping ``[start, end]``."""
        times = [start, *(t for t in self.ack_times if start < t < end), end]
        before = [t for t in self.ack_times if t <= start]
        after = [t for t in self.ack_times if t >= end]
        if before:
            times[0] = before[-1]
        if after:
            times[-1] = after[0]
        return max(b - a for a, b in itertools.pairwise(times))


@dataclass
class Load:
    """The senders and consumers of one test, started together and checked together."""

    senders: list[Sender]
    consumers: list[Consumer] = field(default_factory=list)

    def start(self) -> Load:
        for s in self.senders:
            s.start()
        for c in self.consumers:
            c.start()
        return self

    def acked(self) -> int:
        return sum(len(s.acked) for s in self.senders)

    def progress(self, senders: list[Sender] | None = None, events: int = 200) -> None:
        """Wait until each of ``senders`` (default: all) has ``events`` more acknowledged."""
        watched = senders or self.senders
        goal = [len(s.acked) + events for s in watched]
        deadline = time.monotonic() + 120
        while any(len(s.acked) < g for s, g in zip(watched, goal, strict=True)):
            stuck = [s.label for s, g in zip(watched, goal, strict=True) if len(s.acked) < g]
            assert time.monotonic() < deadline, f"no acknowledgements on {stuck}: " + str(
                {s.label: dict(s.refused) for s in watched}
            )
            time.sleep(0.05)

    def close(self) -> None:
        """Stop every sender and consumer (after a failed check, too: no thread outlives
        its test, loading the machine or logging)."""
        for s in self.senders:
            s.stop.set()
        for c in self.consumers:
            c.halt()

    def stop_senders(self) -> None:
        for s in self.senders:
            s.stop.set()
        for s in self.senders:
            s.join(60)
            assert not s.is_alive(), f"sender {s.label} hung"


class Consumer:
    """A ``StreamConsumer`` (partition 0) attached through one node, on a thread; keeps
    ``(offset, id)`` of every event handed out, across its own reconnects."""

    def __init__(self, node: RunningServer, credentials: dict[str, Any], app_id: str) -> None:
        self.node, self.credentials, self.app_id = node, credentials, app_id
        self.seen: list[tuple[int, str | None]] = []
        self.errors: list[BaseException] = []
        self.reconnects = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"consumer-{app_id}")

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        consumer = StreamConsumer(
            self.node.url,
            client_id=self.credentials["client_id"],
            client_secret=self.credentials["client_secret"],
            app_id=self.app_id,
            reconnect_backoff=0.1,
            max_backoff=1.0,
            read_timeout=15.0,
            timeout=10.0,
        )
        try:
            while not self._stop.is_set():
                event = consumer.poll(0.2)
                if event is not None:
                    body = event["event"]
                    ident = body.get("id") if isinstance(body, dict) else None
                    self.seen.append((event["metadata"]["offset"], ident))
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            self.reconnects = consumer.stats.reconnects
            consumer.close()

    def halt(self) -> None:
        """Ask it to stop, without waiting."""
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive(), f"consumer {self.app_id} hung"

    def wait_until(self, end: int, timeout: float = 120.0) -> None:
        """Until it has been handed offset ``end - 1`` (the lake's last)."""
        deadline = time.monotonic() + timeout
        while not (self.seen and self.seen[-1][0] >= end - 1):
            assert not self.errors, self.errors
            assert time.monotonic() < deadline, (
                f"consumer {self.app_id} at {self.seen[-1][0] if self.seen else None} of {end}"
            )
            time.sleep(0.1)


def stored(lake: Lake) -> list[tuple[int, str | None]]:
    """``(offset, id)`` of every event in partition 0, read from its stream."""
    for attempt in range(3):
        try:
            (reader,) = open_readers(lake.urls, lake.namespace, 1)
            out = []
            for offset, event in read_all(reader):
                ident = event.get("id") if isinstance(event, dict) else None
                out.append((offset, None if ident is None else str(ident)))
            return out
        except Exception:  # the cluster timed a read out while a restarted node rejoined
            if attempt == 2:
                raise
            time.sleep(1)
    raise AssertionError("unreachable")


def verify(lake: Lake, load: Load) -> dict[str, int]:
    """Every acknowledged event stored exactly once (and nothing stored twice), offsets
    dense from 0, every consumer handed every offset once, in order, with the stored event."""
    load.stop_senders()
    lake_events = stored(lake)
    offsets = [o for o, _ in lake_events]
    assert offsets == list(range(len(offsets))), "offsets are not dense from 0"
    counts = Counter(i for _, i in lake_events if i is not None)
    doubled = [i for i, n in counts.items() if n > 1]
    assert not doubled, f"stored twice: {doubled[:10]}"
    acked = [i for s in load.senders for i in s.acked]
    lost = [i for i in acked if counts[i] != 1]
    assert not lost, f"{len(lost)} acknowledged events not stored: {lost[:10]}"
    for c in load.consumers:
        c.wait_until(len(lake_events))
        c.stop()
        assert not c.errors, c.errors
        assert [o for o, _ in c.seen] == offsets[: len(c.seen)], f"{c.app_id}: not dense"
        wrong = [(a, b) for a, b in zip(c.seen, lake_events, strict=False) if a != b]
        assert not wrong, f"{c.app_id}: {len(wrong)} not the stored events, first {wrong[:5]}"
    return {
        "acked": len(acked),
        "stored": len(lake_events),
        "refused": sum(sum(s.refused.values()) for s in load.senders),
        "reconnects": sum(c.reconnects for c in load.consumers),
    }


def stream_leader(cluster: DevCluster, lake: Lake) -> NatsNode:
    """The NATS server leading partition 0's stream (asked until an election is over)."""
    link = link_for(cluster.urls)

    async def name() -> str | None:
        try:
            info = await link.js.stream_info(Layout(lake.namespace).stream(0))
        except Exception:  # no leader to answer yet
            return None
        return info.cluster.leader if info.cluster else None

    deadline = time.monotonic() + 60
    while (leader := link.call(name())) is None:
        assert time.monotonic() < deadline, "the stream has no leader"
        time.sleep(0.1)
    return cluster.node(leader)


Phase = tuple[str, float, float, list[Sender]]  # kind, start, end, the senders it concerns


def stalls(phases: list[Phase]) -> dict[str, float]:
    """Per kind of phase, the longest its senders went without a 200 during it."""
    out: dict[str, float] = {}
    for kind, start, end, senders in phases:
        worst = max(s.longest_stall(start, end) for s in senders)
        out[kind] = max(out.get(kind, 0.0), worst)
    return out
