"""AsyncHEC against a real lakehose: the same keywords, methods and results as HEC."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from lakehose.client import AsyncHEC, Rejection
from lakehose.testing import RunningServer
from tests.client.test_hec import mine


def test_async_send_event_and_list_store_falconpy_payloads(server: RunningServer) -> None:
    run = uuid.uuid4().hex[:12]

    async def main() -> tuple[int | None, Any, bool]:
        async with AsyncHEC(
            server.api_key, base_url=server.url, ingest_timeunit="seconds", compression="zstd"
        ) as hec:
            status = await hec.send_event({"run": run, "n": -1, "timestamp": 1_700_000_000})
            accepted = await hec.send_event_list([{"run": run, "n": i} for i in range(300)])
            return status, accepted, await hec.test_connection()

    assert asyncio.run(main()) == (200, 300, True)
    stored = mine(server, run)
    assert stored[0]["event"]["n"] == -1 and stored[0]["time"] == 1_700_000_000 * 10**9
    assert sorted(e["event"]["n"] for e in stored[1:]) == list(range(300))


def test_async_send_events_reports_exactly_which_events_were_refused(server: RunningServer) -> None:
    run = uuid.uuid4().hex[:12]
    events: list[Any] = [{"event": {"run": run, "n": i}} for i in range(5)]
    events[2] = {"event": ""}

    async def main() -> Any:
        async with AsyncHEC(server.api_key, base_url=server.url, thread_count=1) as hec:
            return await hec.send_events(events)

    result = asyncio.run(main())
    assert result.rejections == [Rejection(2, 1, 400, 13, "Event field cannot be blank", 2)]
    assert [e["event"]["n"] for e in mine(server, run)] == [0, 1, 3, 4]


def test_async_show_progress_is_an_async_running_count(server: RunningServer) -> None:
    run = uuid.uuid4().hex[:12]

    async def main() -> list[int]:
        async with AsyncHEC(server.api_key, base_url=server.url, batch_size=4) as hec:
            counts = await hec.send_event_list(
                [{"run": run, "n": i} for i in range(10)], show_progress=True
            )
            assert not isinstance(counts, int)
            return [n async for n in counts]

    assert sorted(asyncio.run(main())) == list(range(1, 11))
    assert len(mine(server, run)) == 10


def test_async_bad_key_is_false_and_403(server: RunningServer) -> None:
    async def main() -> tuple[bool, int | None]:
        async with AsyncHEC("wrong", base_url=server.url) as hec:
            return await hec.test_connection(), hec.last_status

    assert asyncio.run(main()) == (False, 403)


def test_async_send_event_file_sends_every_line(server: RunningServer, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:12]
    path = tmp_path / "events.ndjson"
    path.write_text("".join(f'{{"run":"{run}","n":{i}}}\n' for i in range(12)))

    async def main() -> int | None:
        async with AsyncHEC(
            server.api_key, base_url=server.url, raw_ingest=True, batch_size=5
        ) as hec:
            return await hec.send_event_file(path)

    assert asyncio.run(main()) == 200
    assert sorted(e["event"]["n"] for e in mine(server, run)) == list(range(12))
