"""The HEC sink against a real lakehose: every event stored once, refusals set aside."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx
import pytest

from lakehose.collector.delivery import CollectedEvent, QueueConfig, SinkConfig
from lakehose.collector.sink import open_delivery
from lakehose.testing import RunningServer
from tests.collector.sink.sinktools import dead_letters, lake_numbers, marked, sink_for
from tests.helpers import create_connector, stored_events


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_memory_queue_delivers_every_event_once_and_resolves_receipts(
    server: RunningServer, tmp_path: Path, compression: str
) -> None:
    run = uuid.uuid4().hex[:12]
    sink = sink_for(server, compression=compression, max_batch_size=20_000)

    async def main() -> dict[str, int]:
        delivery = await open_delivery(sink, tmp_path)
        receipts = [await delivery.put(marked(run, i, i + 100)) for i in range(0, 2000, 100)]
        await asyncio.wait_for(asyncio.gather(*receipts), 30)
        stats = dict(delivery.stats())
        await delivery.aclose()
        return stats

    stats = asyncio.run(main())
    assert lake_numbers(server, run) == {n: 1 for n in range(2000)}
    assert stats["sent"] == 2000 and stats["queue_events"] == 0 and stats["queue_bytes"] == 0
    assert stats["refused"] == stats["dead_lettered"] == stats["dropped"] == 0


def test_events_carry_time_metadata_and_fields_as_sent(
    server: RunningServer, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:12]
    sink = sink_for(server)
    event = CollectedEvent(
        f"{run} 0",
        time_ns=1_700_000_000_123_456_789,
        fields={"collector.source": "syslog_udp_514", "peer": "10.0.0.1"},
        host="web1",
        source="/var/log/app.log",
        sourcetype="syslog",
    )

    async def main() -> None:
        delivery = await open_delivery(sink, tmp_path)
        await asyncio.wait_for(await delivery.put([event]), 30)
        await delivery.aclose()

    asyncio.run(main())
    [stored] = [e for e in stored_events(server.data_dir) if e["event"] == f"{run} 0"]
    assert stored["host"] == "web1" and stored["source"] == "/var/log/app.log"
    assert stored["sourcetype"] == "syslog"
    assert stored["fields"]["collector.source"] == "syslog_udp_514"
    assert stored["fields"]["peer"] == "10.0.0.1"
    assert abs(stored["time"] - 1_700_000_000_123_456_789) < 1000  # lakehose keeps microseconds


def test_refused_events_are_dead_lettered_and_only_the_rest_is_resent(
    server: RunningServer, admin: httpx.Client, tmp_path: Path
) -> None:
    """Prefix semantics: lakehose stores events before invalid-event-number and refuses it;
    the sink sets exactly that event aside and sends the rest, never the stored ones again."""
    name = f"only-main-{uuid.uuid4().hex[:6]}"
    key = create_connector(admin, name, allowed_indexes=["main"])
    run = uuid.uuid4().hex[:12]
    sink = sink_for(server, token=key, max_batch_size=1_000_000)
    events = marked(run, 0, 50)
    events[10] = CollectedEvent("")  # code 13: Event field cannot be blank
    events[30] = CollectedEvent(f"{run} 30", index="secret")  # code 7: Incorrect index
    events[49] = CollectedEvent("")

    async def main() -> dict[str, int]:
        delivery = await open_delivery(sink, tmp_path)
        await asyncio.wait_for(await delivery.put(events), 30)
        stats = dict(delivery.stats())
        await delivery.aclose()
        return stats

    stats = asyncio.run(main())
    assert lake_numbers(server, run) == {n: 1 for n in range(49) if n not in (10, 30)}
    letters = dead_letters(tmp_path, sink)
    assert [(d["event"], d["reason"]) for d in letters] == [
        ({"event": ""}, "400 code 13: Event field cannot be blank"),
        ({"event": f"{run} 30", "index": "secret"}, "400 code 7: Incorrect index"),
        ({"event": ""}, "400 code 13: Event field cannot be blank"),
    ]
    assert all(d["sink"] == sink.name and d["time"].endswith("Z") for d in letters)
    assert stats["sent"] == 47 and stats["refused"] == 3 and stats["dead_lettered"] == 3
    assert stats["retries"] == 0


def test_an_event_over_max_event_size_is_dead_lettered_and_never_sent(
    server: RunningServer, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:12]
    sink = sink_for(server, max_event_size=200)
    events = [*marked(run, 0, 3), CollectedEvent(f"{run} 3 " + "x" * 300), *marked(run, 4, 6)]

    async def main() -> dict[str, int]:
        delivery = await open_delivery(sink, tmp_path)
        await asyncio.wait_for(await delivery.put(events), 30)
        stats = dict(delivery.stats())
        await delivery.aclose()
        return stats

    stats = asyncio.run(main())
    assert lake_numbers(server, run) == {0: 1, 1: 1, 2: 1, 4: 1, 5: 1}
    [letter] = dead_letters(tmp_path, sink)
    assert letter["event"]["event"].startswith(f"{run} 3 xxx")
    assert "over maxEventSize (200 bytes)" in letter["reason"]
    assert stats["dead_lettered"] == 1 and stats["refused"] == 0 and stats["sent"] == 5


def test_a_partial_batch_waits_for_the_flush_timeout(server: RunningServer, tmp_path: Path) -> None:
    """A batch smaller than maxBatchSize is held until flushTimeOutInMillisecond, then sent."""
    run = uuid.uuid4().hex[:12]
    sink = sink_for(server, queue=QueueConfig(flush_timeout_ms=1500))

    async def main() -> tuple[bool, bool]:
        delivery = await open_delivery(sink, tmp_path)
        receipt = await delivery.put(marked(run, 0, 3))
        await asyncio.sleep(0.5)
        early = receipt.done()
        await asyncio.wait_for(receipt, 30)
        await delivery.aclose()
        return early, receipt.done()

    assert asyncio.run(main()) == (False, True)
    assert lake_numbers(server, run) == {0: 1, 1: 1, 2: 1}


def test_close_fails_receipts_of_events_not_yet_safe(tmp_path: Path) -> None:
    """Nothing listens: a memory-queue receipt cannot resolve, and closing fails it."""
    from lakehose.errors import DeliveryClosedError

    sink = sink_for_url("http://127.0.0.1:9", flush_ms=50)

    async def main() -> BaseException | None:
        delivery = await open_delivery(sink, tmp_path)
        receipt = await delivery.put([CollectedEvent("never sent")])
        started = time.monotonic()
        await delivery.aclose()
        assert time.monotonic() - started < 30
        return receipt.exception()

    assert isinstance(asyncio.run(main()), DeliveryClosedError)


def sink_for_url(url: str, flush_ms: int = 50) -> SinkConfig:
    return SinkConfig(
        name=f"sink-{uuid.uuid4().hex[:8]}",
        url=url,
        token="x",
        queue=QueueConfig(flush_timeout_ms=flush_ms),
    )
