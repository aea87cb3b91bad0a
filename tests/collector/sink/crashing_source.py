"""A source in its own process, to be SIGKILLed: puts numbered events from START into a
sink's delivery, awaits each receipt and prints ``safe N`` (the source's checkpoint) once
events up to N are safe. ``python -m tests.collector.sink.crashing_source URL TOKEN DATA_DIR
RUN START QUEUE [drain]`` (QUEUE: disk or memory). With ``drain`` it puts nothing, waits
until the queue is empty, prints ``drained`` and closes."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from lakehose.collector.delivery import CollectedEvent, QueueConfig, SinkConfig
from lakehose.collector.sink import open_delivery


async def main(
    url: str, token: str, data_dir: str, run: str, start: int, queue: str, drain: bool
) -> None:
    sink = SinkConfig(
        name="crashing",
        url=url,
        token=token,
        max_batch_size=32 * 1024,
        queue=QueueConfig(type="disk" if queue == "disk" else "memory", flush_timeout_ms=20),
    )
    delivery = await open_delivery(sink, Path(data_dir))
    if drain:
        while delivery.stats()["queue_events"]:
            await asyncio.sleep(0.05)
        await delivery.aclose()
        print("drained", flush=True)
        return
    n = start
    while True:
        batch = [CollectedEvent(f"{run} {i} " + "c" * 100) for i in range(n, n + 20)]
        receipt = await delivery.put(batch)
        await receipt
        n += 20
        print(f"safe {n - 1}", flush=True)


if __name__ == "__main__":
    url, token, data_dir, run, start, queue = sys.argv[1:7]
    asyncio.run(main(url, token, data_dir, run, int(start), queue, sys.argv[7:] == ["drain"]))
