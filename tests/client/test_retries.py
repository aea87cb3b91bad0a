"""Retries: a tiny real HTTP server that answers 503 then 200, and a real lakehose made busy."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import orjson
import pytest

from lakehose.client import HEC, AsyncHEC, Rejection
from lakehose.testing import run_server
from tests.client.conftest import ScriptedHEC
from tests.helpers import cli_json, stored_events, wait_for

BUSY = (503, b'{"text":"Server is busy","code":9}', {"Retry-After": "1"})


def test_503_is_retried_after_retry_after_with_the_same_events(scripted: ScriptedHEC) -> None:
    scripted.script = [BUSY]
    with HEC("k", base_url=scripted.url, thread_count=1) as hec:
        assert hec.send_event_list([{"n": 1}, {"n": 2}]) == 2
        result = hec.last_result
    assert result is not None and (result.requests, result.retries, result.accepted) == (2, 1, 2)
    first, second = scripted.seen
    assert first.body == second.body
    assert second.at - first.at >= 1.0, "Retry-After: 1 was honoured"


def test_429_without_retry_after_backs_off_and_retries(scripted: ScriptedHEC) -> None:
    scripted.script = [(429, b"{}", {}), (429, b"{}", {})]
    with HEC("k", base_url=scripted.url, retry_backoff=0.01) as hec:
        assert hec.send_event({"n": 1}) == 200
        assert hec.last_result is not None and hec.last_result.retries == 2
    assert len(scripted.seen) == 3


def test_a_dropped_connection_is_retried(scripted: ScriptedHEC) -> None:
    scripted.script = [(0, b"", {})]
    with HEC("k", base_url=scripted.url, retry_backoff=0.01) as hec:
        assert hec.send_event({"n": 1}) == 200
    assert len(scripted.seen) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 413, 500])
def test_other_errors_are_never_retried(scripted: ScriptedHEC, status: int) -> None:
    scripted.script = [(status, b'{"text":"no","code":99}', {})]
    with HEC("k", base_url=scripted.url, retry_backoff=0.01) as hec:
        assert hec.send_event({"n": 1}) == status
        assert hec.last_result is not None
        assert hec.last_result.rejections == [Rejection(0, 1, status, 99, "no")]
    assert len(scripted.seen) == 1


def test_retries_give_up_after_retry_count_and_say_why(scripted: ScriptedHEC) -> None:
    scripted.script = [BUSY[:2] + ({},)] * 3
    with HEC("k", base_url=scripted.url, retry_count=2, retry_backoff=0.01) as hec:
        assert hec.send_event_list([{"n": 1}]) == 0
        assert hec.last_result is not None
        assert hec.last_result.rejections == [Rejection(0, 1, 503, 9, "Server is busy")]
    assert len(scripted.seen) == 3


def test_nothing_listening_is_reported_as_no_answer() -> None:
    with HEC("k", base_url="http://127.0.0.1:9", retry_count=1, retry_backoff=0.01) as hec:
        assert hec.send_event({"n": 1}) == 500
        assert hec.last_result is not None
        (rejection,) = hec.last_result.rejections
        assert rejection.status is None and rejection.text.startswith("connection failed")


@pytest.mark.parametrize("fmt", ["json", "yaml", "xml", "csv"])
def test_each_ingest_format_sends_its_content_type_and_a_json_body(
    scripted: ScriptedHEC, fmt: str
) -> None:
    types = {
        "json": "application/json",
        "yaml": "application/x-yaml",
        "xml": "text/xml",
        "csv": "text/csv",
    }
    with HEC("k3y", base_url=scripted.url, ingest_format=fmt, compression="gzip") as hec:
        hec.send_event({"host": "h", "n": 1})
    (seen,) = scripted.seen
    assert seen.path == "/services/collector"
    assert seen.headers["Content-Type"] == types[fmt]
    assert seen.headers["Authorization"] == "Bearer k3y"
    assert seen.headers["Content-Encoding"] == "gzip"
    assert orjson.loads(seen.body)["event"]["host"] == "h"


def test_connections_are_reused_across_requests(scripted: ScriptedHEC) -> None:
    with HEC("k", base_url=scripted.url, batch_size=1, thread_count=1, compression="zstd") as hec:
        assert hec.send_event_list([{"n": i} for i in range(5)]) == 5
    ports = {s.headers.get("X-Client-Port") for s in scripted.seen}
    assert len(scripted.seen) == 5
    assert ports == {None} or len(ports) == 1
    assert all(
        s.headers.get("Connection", "keep-alive").lower() == "keep-alive" for s in scripted.seen
    )


def test_async_hec_retries_503_too(scripted: ScriptedHEC) -> None:
    scripted.script = [BUSY]

    async def main() -> int:
        async with AsyncHEC("k", base_url=scripted.url) as hec:
            return await hec.send_event({"n": 1}) or 0

    assert asyncio.run(main()) == 200
    assert len(scripted.seen) == 2


def test_a_rate_limited_lakehose_is_waited_out_and_everything_lands(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with run_server(data_dir) as server:
        created = cli_json("connector", "create", "slow", "--rate-rps", "1", data_dir=data_dir)
        key = created["api_key"]
        run = uuid.uuid4().hex[:8]
        # three requests at once at one a second: some are refused however slowly a loaded
        # machine runs (sent one after another, each could come after the bucket's refill)
        with HEC(key, base_url=server.url, batch_size=2, thread_count=3, retry_count=10) as hec:
            wait_for(lambda: hec.send_event({"probe": run}) == 200, timeout=30)
            started = time.monotonic()
            assert hec.send_event_list([{"run": run, "n": i} for i in range(6)]) == 6
            result = hec.last_result
        assert result is not None and result.retries >= 1, "the server answered 503 code 9"
        assert time.monotonic() - started >= 1.0  # a retry waited for Retry-After (1 s or more)
        stored = [e["event"]["n"] for e in stored_events(data_dir) if e["event"].get("run") == run]
        assert sorted(stored) == list(range(6))  # each once; batches land in any order


def test_a_body_too_large_for_the_server_is_split_until_it_fits(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with run_server(data_dir, args=["--max-body-bytes", "4096"]) as server:
        assert server.api_key
        events = [{"n": i, "pad": "z" * 300} for i in range(40)]
        with HEC(server.api_key, base_url=server.url, thread_count=1) as hec:
            assert hec.send_event_list(events) == 40
            assert hec.last_result is not None and hec.last_result.requests > 2
        assert [e["event"]["n"] for e in stored_events(data_dir)] == list(range(40))
