"""A sink outage against a real lakehose, shared by the fast test and the chaos variant.

Three deliveries run side by side while the server goes away for ``outage`` seconds:
a disk queue (whose collector is also restarted during the outage), a 1 MB memory
queue with ``pause`` and a 1 MB memory queue with ``deleteOldest``. Each has a
producer putting numbered events, as a source would.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from lakehose.collector.delivery import Delivery, QueueConfig
from lakehose.collector.sink import open_delivery
from lakehose.testing import RunningServer, run_server
from tests.collector.sink.sinktools import marked, sink_for

BATCH = 50
PAD = "p" * 200


@dataclass
class Producer:
    """Puts numbered events in batches; notes receipts and whether it is stuck in put."""

    delivery: Delivery
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    produced: int = 0
    receipts: list[asyncio.Future[None]] = field(default_factory=list)
    put_started: float | None = None
    stop: bool = False

    async def loop(self, interval: float) -> None:
        while not self.stop:
            events = marked(self.run, self.produced, self.produced + BATCH)
            events = [type(e)(e.text + " " + PAD) for e in events]
            self.put_started = time.monotonic()
            self.receipts.append(await self.delivery.put(events))
            self.put_started = None
            self.produced += BATCH
            await asyncio.sleep(interval)


@dataclass
class Outcome:
    produced: dict[str, int]
    lake: dict[str, Counter[int]]
    stats: dict[str, dict[str, int]]
    paused_during_outage: bool
    max_queue_bytes: dict[str, int]

    def duplicates(self, key: str) -> int:
        return sum(n - 1 for n in self.lake[key].values())

    def summary(self) -> str:
        return "; ".join(
            f"{k}: {self.produced[k]} produced, {len(self.lake[k])} stored, "
            f"{self.duplicates(k)} duplicates, {self.stats[k]['dropped']} dropped, "
            f"{self.stats[k]['retries']} retries"
            for k in self.produced
        )


def lake_numbers_raw(server: RunningServer, run: str) -> Counter[int]:
    from tests.helpers import stored_events

    found: Counter[int] = Counter()
    prefix = run + " "
    for event in stored_events(server.data_dir):
        text = event["event"]
        if isinstance(text, str) and text.startswith(prefix):
            found[int(text[len(prefix) :].split()[0])] += 1
    return found


def run_outage(tmp_path: Path, outage: float) -> Outcome:
    """SIGKILL the server while all three deliveries send, keep it down ``outage`` seconds,
    restart it on the same port, and wait until every delivery is empty."""
    with run_server(tmp_path / "lake") as server:
        queues = {
            "disk": QueueConfig(type="disk", flush_timeout_ms=50),
            "pause": QueueConfig(max_limit_mb=1, full_action="pause", flush_timeout_ms=50),
            "drop": QueueConfig(max_limit_mb=1, full_action="deleteOldest", flush_timeout_ms=50),
        }
        sinks = {k: sink_for(server, queue=q, max_batch_size=64 * 1024) for k, q in queues.items()}
        data_dir = tmp_path / "collector"

        async def main() -> Outcome:
            producers = {k: Producer(await open_delivery(s, data_dir)) for k, s in sinks.items()}
            tasks = {k: asyncio.create_task(p.loop(0.01)) for k, p in producers.items()}
            max_bytes = dict.fromkeys(producers, 0)

            async def watch(seconds: float) -> None:
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    for k, p in producers.items():
                        max_bytes[k] = max(max_bytes[k], p.delivery.stats()["queue_bytes"])
                    await asyncio.sleep(0.05)

            await watch(1.0)
            await asyncio.to_thread(server.kill)
            await watch(outage / 2)
            # the collector restarts during the outage: the disk queue keeps what it holds
            disk = producers["disk"]
            disk.stop = True
            await tasks["disk"]
            await disk.delivery.aclose()
            disk.delivery = await open_delivery(sinks["disk"], data_dir)
            disk.stop = False
            tasks["disk"] = asyncio.create_task(disk.loop(0.01))
            await watch(outage / 2)
            # the outage lasts until the paused producer has been held in put() for half a
            # second: on a loaded machine the producers fill their 1 MB later than usual
            pause = producers["pause"]

            def held() -> bool:
                started = pause.put_started
                return started is not None and time.monotonic() - started > 0.5

            deadline = time.monotonic() + 60
            while not held() and time.monotonic() < deadline:
                await watch(0.1)
            paused = held()
            await asyncio.to_thread(server.restart)
            await watch(0.5)
            for p in producers.values():
                p.stop = True
            await asyncio.gather(*tasks.values())
            for k in ("pause", "drop"):
                await asyncio.wait_for(asyncio.gather(*producers[k].receipts), 60)
            deadline = time.monotonic() + 60
            while disk.delivery.stats()["queue_events"] and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            stats = {k: dict(p.delivery.stats()) for k, p in producers.items()}
            for p in producers.values():
                await p.delivery.aclose()
            return Outcome(
                {k: p.produced for k, p in producers.items()},
                {k: lake_numbers_raw(server, p.run) for k, p in producers.items()},
                stats,
                paused,
                max_bytes,
            )

        return asyncio.run(main())
