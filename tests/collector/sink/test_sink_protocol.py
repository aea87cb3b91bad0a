"""The sink's HTTP behaviour: retries and Retry-After, acks, proxies, TLS, auth schemes."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import orjson
import pytest
import trustme

from lakehose.collector.delivery import CollectedEvent, QueueConfig, SinkConfig
from lakehose.collector.sink import open_delivery
from lakehose.testing import RunningServer, run_server
from tests.collector.sink.conftest import ScriptedHEC
from tests.collector.sink.sinktools import lake_numbers, marked, sink_for
from tests.helpers import create_connector

OK = (200, b'{"text":"Success","code":0}', {})


def deliver(sink: SinkConfig, data_dir: Path, events: list[CollectedEvent]) -> dict[str, int]:
    """Put ``events``, wait for the receipt, close; the stats."""

    async def main() -> dict[str, int]:
        delivery = await open_delivery(sink, data_dir)
        await asyncio.wait_for(await delivery.put(events), 60)
        stats = dict(delivery.stats())
        await delivery.aclose()
        return stats

    return asyncio.run(main())


def scripted_sink(scripted: ScriptedHEC, **options: object) -> SinkConfig:
    config = SinkConfig(
        name="scripted",
        url=scripted.url,
        token="tok",
        queue=QueueConfig(flush_timeout_ms=10),
    )
    from dataclasses import replace

    return replace(config, **options)  # type: ignore[arg-type]


def test_429_and_503_are_retried_after_retry_after(scripted: ScriptedHEC, tmp_path: Path) -> None:
    scripted.script = [
        (429, b'{"text":"HEC queue is at capacity","code":26}', {"Retry-After": "1"}),
        (503, b'{"text":"Server is busy","code":9}', {"Retry-After": "1"}),
        (0, b"", {}),  # a dropped connection: backoff
    ]
    stats = deliver(scripted_sink(scripted), tmp_path, [CollectedEvent("one")])
    seen = scripted.seen
    assert len(seen) == 4 and stats["retries"] == 3 and stats["sent"] == 1
    assert seen[1].at - seen[0].at >= 1.0 and seen[2].at - seen[1].at >= 1.0
    assert all(s.body == seen[0].body for s in seen)  # the same events each time
    assert seen[0].headers["Authorization"] == "Bearer tok"


def test_server_errors_and_bad_tokens_are_retried_never_dropped(
    scripted: ScriptedHEC, tmp_path: Path
) -> None:
    scripted.script = [
        (500, b'{"text":"Internal server error","code":8}', {}),
        (403, b'{"text":"Invalid token","code":4}', {}),
    ]
    stats = deliver(scripted_sink(scripted), tmp_path, [CollectedEvent("kept")])
    assert len(scripted.seen) == 3 and stats["sent"] == 1 and stats["dead_lettered"] == 0


def test_splunk_refusing_bearer_gets_the_splunk_scheme(
    scripted: ScriptedHEC, tmp_path: Path
) -> None:
    scripted.script = [(401, b'{"text":"Invalid authorization","code":3}', {})]
    deliver(scripted_sink(scripted), tmp_path, [CollectedEvent("x")])
    assert [s.headers["Authorization"] for s in scripted.seen] == ["Bearer tok", "Splunk tok"]


def test_a_refusal_without_event_number_is_narrowed_down_by_halves(
    scripted: ScriptedHEC, tmp_path: Path
) -> None:
    """An all-or-nothing HEC (no invalid-event-number): split until the bad event is alone."""
    bad = (400, b'{"text":"Invalid data format","code":6}', {})
    scripted.script = [bad, OK, bad, bad, OK]  # 4 events: [0,1] ok; [2,3] bad; 2 bad; 3 ok
    sink = scripted_sink(scripted)
    stats = deliver(sink, tmp_path, [CollectedEvent(f"e{i}") for i in range(4)])
    sizes = [len(s.body.splitlines()) for s in scripted.seen]
    assert sizes == [4, 2, 2, 1, 1]
    letters = (tmp_path / "sinks" / "scripted" / "deadletter.ndjson").read_bytes().splitlines()
    assert [orjson.loads(x)["event"]["event"] for x in letters] == ["e2"]
    assert stats["sent"] == 3 and stats["refused"] == 1


def test_use_ack_polls_until_the_ack_is_true(scripted: ScriptedHEC, tmp_path: Path) -> None:
    scripted.script = [
        (200, b'{"text":"Success","code":0,"ackId":7}', {}),
        (200, b'{"acks":{"7":false}}', {}),
        (200, b'{"acks":{"7":true}}', {}),
    ]
    stats = deliver(scripted_sink(scripted, use_ack=True), tmp_path, [CollectedEvent("a")])
    paths = [s.path for s in scripted.seen]
    assert paths == ["/services/collector", "/services/collector/ack", "/services/collector/ack"]
    assert orjson.loads(scripted.seen[1].body) == {"acks": [7]}
    channel = scripted.seen[0].headers["X-Splunk-Request-Channel"]
    assert str(uuid.UUID(channel)) == channel
    assert all(s.headers["X-Splunk-Request-Channel"] == channel for s in scripted.seen)
    assert stats["sent"] == 1


def test_use_ack_against_a_lakehose_ack_connector(
    server: RunningServer, admin: httpx.Client, tmp_path: Path
) -> None:
    key = create_connector(admin, f"acks-{uuid.uuid4().hex[:6]}", use_ack=True)
    run = uuid.uuid4().hex[:12]
    sink = sink_for(server, token=key, use_ack=True, max_batch_size=4096)
    stats = deliver(sink, tmp_path, marked(run, 0, 500))
    assert lake_numbers(server, run) == {n: 1 for n in range(500)}
    assert stats["sent"] == 500


@pytest.mark.parametrize("how", ["url", "system"])
def test_a_proxy_carries_the_requests(
    scripted: ScriptedHEC, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """The scripted HEC as a forward proxy: it sees absolute request URIs."""
    monkeypatch.setenv("HTTP_PROXY", scripted.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    proxy = scripted.url if how == "url" else "system"
    sink = scripted_sink(scripted, url="http://hec.example.invalid:8088", proxy=proxy)
    deliver(sink, tmp_path, [CollectedEvent("via proxy")])
    assert [s.path for s in scripted.seen] == ["http://hec.example.invalid:8088/services/collector"]


def test_proxy_none_ignores_the_environment(
    scripted: ScriptedHEC, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    deliver(scripted_sink(scripted, proxy="none"), tmp_path, [CollectedEvent("direct")])
    assert [s.path for s in scripted.seen] == ["/services/collector"]


def test_tls_with_ca_file_or_insecure_and_never_without_trust(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_path, key_path, ca_path = (tmp_path / n for n in ("cert.pem", "key.pem", "ca.pem"))
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    ca.cert_pem.write_to_path(str(ca_path))
    args = ["--tls-cert", str(cert_path), "--tls-key", str(key_path)]
    with run_server(tmp_path / "lake", args=args) as server:
        assert server.url.startswith("https://")
        run = uuid.uuid4().hex[:12]
        deliver(sink_for(server, ca_file=ca_path), tmp_path / "a", marked(run, 0, 1))
        deliver(sink_for(server, tls_insecure=True), tmp_path / "b", marked(run, 1, 2))

        async def untrusted() -> dict[str, int]:
            delivery = await open_delivery(sink_for(server), tmp_path / "c")
            receipt = await delivery.put(marked(run, 2, 3))
            while delivery.stats()["retries"] < 2:
                await asyncio.sleep(0.05)
            stats = dict(delivery.stats())
            await delivery.aclose()
            assert receipt.done() and receipt.exception() is not None
            return stats

        stats = asyncio.run(untrusted())
        assert stats["sent"] == 0
        assert lake_numbers(server, run) == {0: 1, 1: 1}


def test_a_rate_limited_connector_answers_503_and_everything_arrives(
    server: RunningServer, admin: httpx.Client, tmp_path: Path
) -> None:
    """lakehose's own back-pressure (503 code 9 with Retry-After) against a real sink."""
    key = create_connector(admin, f"slow-{uuid.uuid4().hex[:6]}", rate_rps=2)
    run = uuid.uuid4().hex[:12]
    sink = sink_for(server, token=key, max_batch_size=2048)
    stats = deliver(sink, tmp_path, marked(run, 0, 300))
    assert lake_numbers(server, run) == {n: 1 for n in range(300)}
    assert stats["retries"] > 0
