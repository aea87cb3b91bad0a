"""``lakehose send`` and the SDK's ``HEC`` as a newcomer meets them (issue 18, item 7): ack
connectors, summaries that add up, and plain words for the usual mistakes."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from lakehose.client import HEC, AsyncHEC
from lakehose.testing import RunningServer, run_server
from tests.helpers import cli_json, run_cli


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("send") / "data") as s:
        yield s


def send(
    lake: RunningServer, *args: str, url: str | None = None, **kw: str
) -> tuple[int, str, str]:
    env = {"LAKEHOSE_URL": url or lake.url, "LAKEHOSE_TOKEN": lake.api_key or ""}
    tty = bool(kw.pop("tty", ""))
    return run_cli("send", *args, env=env, tty=tty, **kw)  # type: ignore[arg-type]


def test_send_and_the_sdk_deliver_to_an_ack_connector_and_count_acknowledgements(
    lake: RunningServer, tmp_path: Path
) -> None:
    key = cli_json("connector", "create", "acked", "--ack", data_dir=lake.data_dir)["api_key"]
    path = tmp_path / "three.ndjson"
    path.write_text("".join(orjson.dumps({"n": n}).decode() + "\n" for n in range(3)))
    env = {"LAKEHOSE_URL": lake.url, "LAKEHOSE_TOKEN": key}
    code, out, err = run_cli("send", str(path), "--ack", env=env)
    assert code == 0, err
    assert "sent 3 events in 1 request" in out and "3 accepted, 0 rejected; 3 acknowledged" in out
    code, out, _ = run_cli("send", str(path), "--ack", "--json", env=env)
    assert orjson.loads(out)["acknowledged"] == 3
    # without --ack the connector wants a channel: Splunk's code 10, said as such
    code, out, _ = run_cli("send", str(path), env=env)
    assert code == 1 and "3 × 400 code 10: Data channel is missing" in out
    with HEC(key, base_url=lake.url, ack=True, thread_count=2, batch_size=2) as hec:
        result = hec.send_events([{"event": {"sdk": n}} for n in range(5)])
        assert (result.sent, result.accepted, result.acknowledged) == (5, 5, 5)
        assert hec.send_event({"sdk": "one"}) == 200
    with HEC(key, base_url=lake.url, channel="0aa2d8a4-5b2a-4f43-9b4e-31f7e0f7b0c1") as hec:
        assert hec.send_events([{"event": "named channel"}]).acknowledged is None
        assert hec.last_result is not None and hec.last_result.accepted == 1


def test_the_async_sdk_waits_for_acks_too(lake: RunningServer) -> None:
    key = cli_json("connector", "create", "acked-async", "--ack", data_dir=lake.data_dir)["api_key"]

    async def main() -> tuple[int, int | None]:
        async with AsyncHEC(key, base_url=lake.url, ack=True, batch_size=3) as hec:
            result = await hec.send_events([{"event": {"a": n}} for n in range(7)])
            return result.accepted, result.acknowledged

    assert asyncio.run(main()) == (7, 7)


def test_a_wrong_port_is_said_plainly(lake: RunningServer, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free once closed: nothing listens there
    path = tmp_path / "one.ndjson"
    path.write_text('{"a": 1}\n')
    url = f"http://127.0.0.1:{port}"
    code, out, _ = send(lake, str(path), "--retries", "0", url=url)
    assert code == 1 and f"cannot reach {url}: connection refused" in out
    assert "sent 1 event in 1 request" in out and "0 accepted, 1 rejected" in out


def test_unreadable_input_gets_a_hint_a_count_of_the_rest_and_sent_adds_up(
    lake: RunningServer, tmp_path: Path
) -> None:
    path = tmp_path / "users.csv"
    path.write_text("name,role\n" + "".join(f"user{i},admin\n" for i in range(30)))
    code, out, _ = send(lake, str(path))
    assert code == 1
    assert "sent 0 events" in out and "31 unreadable records, not sent" in out
    assert "… and 11 more (see --json)" in out
    assert "--format csv" in out and "--raw" in out
    code, out, _ = send(lake, str(path), "--format", "csv")
    assert code == 0 and "sent 30 events in 1 request" in out and "30 accepted, 0 rejected" in out


def test_a_binary_file_is_named_as_not_text(lake: RunningServer, tmp_path: Path) -> None:
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    code, _, err = send(lake, str(path))
    assert code == 2 and f"{path} is a binary file, not text" in err


def test_reading_standard_input_on_a_terminal_says_so(lake: RunningServer) -> None:
    code, out, _ = send(lake, tty="1", input='{"from": "terminal"}\n\x04', expect="standard input")
    assert code == 0, out
    assert "reading events from standard input (end with Ctrl-D)" in out
    assert "sent 1 event in 1 request" in out
