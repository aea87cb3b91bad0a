"""HEC requests at a fixed rate from several processes, for ingest -> stream latency.

A HEC sender at tens of thousands of events per second sends batches: here request ``k``
holds events ``k*batch .. k*batch+batch-1`` (each stamped ``{"id":N,"sent":NS}`` with the
monotonic clock, one clock for every process on the machine) and is due at
``start + k*batch/rate``. Process ``i`` of ``n`` sends the requests with ``k % n == i``,
through node ``k % len(urls)``, each on a free keep-alive connection, opening another when
all are busy, so neither a slow answer nor one process's loop holds the schedule back
(one Python process reached about 20,000 events/s here with a fixed pool of 8
connections a node). Every request's send and 200 times come back to the caller (for a
refused request, minus its status in place of the 200's time; -1 for a closed connection).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from typing import Any

from bench.streams_bench import Sender


async def _send(
    urls: list[str], key: str, rate: int, total: int, batch: int, share: int, shares: int,
    start_ns: int,
) -> dict[int, tuple[int, int]]:  # fmt: skip
    """Requests ``share::shares`` of ``total``; ``k -> (sent ns, 200 ns)``."""
    free: list[list[Sender]] = [[] for _ in urls]
    times: dict[int, tuple[int, int]] = {}

    async def one(k: int) -> None:
        node = k % len(urls)
        sender = free[node].pop() if free[node] else None
        if sender is None:
            sender = Sender(urls[node] + "/services/collector", key)
            await sender.connect()
        sent = time.monotonic_ns()
        first = k * batch
        body = b"".join(
            b'{"event":{"id":%d,"sent":%d}}' % (n, sent) for n in range(first, first + batch)
        )
        try:
            status = await sender.post(body)
        except (OSError, asyncio.IncompleteReadError):  # the node closed the connection
            times[k] = (sent, -1)  # counted as refused; the connection is not reused
            return
        if status == 200:
            times[k] = (sent, time.monotonic_ns())
        else:  # refused (503 under overload): its events never come; counted by the caller
            times[k] = (sent, -status)
        free[node].append(sender)

    interval_ns = batch * 1_000_000_000 // rate
    tasks = []
    for k in range(share, total, shares):
        delay = (start_ns + k * interval_ns - time.monotonic_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(k)))
    await asyncio.gather(*tasks)
    for senders in free:
        for s in senders:
            s.writer.close()
    return times


def _process(args: tuple[Any, ...], give: Any) -> None:
    give.send(asyncio.run(_send(*args)))


def send_paced(
    urls: list[str], key: str, rate: int, seconds: float, batch: int, processes: int
) -> dict[int, tuple[int, int]]:
    """Send ``rate`` events/s for ``seconds`` from ``processes`` processes; request ``k`` ->
    (sent, 200) in monotonic ns (its events are ``k*batch ..``)."""
    total = int(rate * seconds) // batch
    ctx = multiprocessing.get_context("spawn")
    start_ns = time.monotonic_ns() + 1_500_000_000  # every process started and connected
    pipes, procs = [], []
    for i in range(processes):
        receive, give = ctx.Pipe(duplex=False)
        args = (urls, key, rate, total, batch, i, processes, start_ns)
        proc = ctx.Process(target=_process, args=(args, give), daemon=True)
        proc.start()
        pipes.append(receive)
        procs.append(proc)
    times: dict[int, tuple[int, int]] = {}
    for receive, proc in zip(pipes, procs, strict=True):
        if not receive.poll(seconds + 120):
            raise SystemExit("a paced sender did not finish")
        times.update(receive.recv())
        proc.join(10)
    return times
