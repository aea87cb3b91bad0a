"""The SDK against every sandbox fault: its HEC sender and StreamConsumer lose nothing and repeat
a bounded number of events; and StreamConsumer with positions kept by the server."""

from __future__ import annotations

import asyncio
import collections
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from lakehose.client import HEC, AsyncStreamConsumer, FileCheckpoint, StreamConsumer, StreamGroups
from lakehose.testing import RunningServer, run_server
from tests.client.consumerkit import api_client, atake, new_sourcetype, offsets, send, seqs, take
from tests.helpers import bearer_token, cli, stored_events, wait_for

BATCH = 10


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(
        tmp_path_factory.mktemp("lake") / "data",
        args=["--sandbox", "--heartbeat-interval", "0.5"],
    ) as s:
        yield s


@pytest.fixture(scope="module")
def admin(server: RunningServer) -> httpx.Client:
    token = bearer_token(server, "admin")
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as c:
        yield c


def arm(admin: httpx.Client, fault: str, **spec: Any) -> None:
    reply = admin.post("/api/v1/sandbox/faults", json={"fault": fault, **spec})
    assert reply.status_code == 201, reply.text


def fired(admin: httpx.Client, fault: str) -> int:
    state = admin.get("/api/v1/sandbox").json()["resources"][0]
    return sum(f["fired"] for f in state["faults"] if f["fault"] == fault)


# the HEC sender -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "spec", "repeats"),
    [
        ("hec_busy", {"count": 2}, 0),
        ("hec_throttle", {"count": 1, "retry_after": 1}, 0),
        ("hec_delay", {"count": 2, "seconds": 0.3}, 0),
        ("hec_close_before_commit", {"count": 2}, 0),
        ("hec_close_after_commit", {"count": 2}, 2 * BATCH),
    ],
)
def test_the_hec_sender_survives_each_fault_with_nothing_lost(
    server: RunningServer, admin: httpx.Client, fault: str, spec: dict[str, Any], repeats: int
) -> None:
    run = uuid.uuid4().hex[:8]
    before = fired(admin, fault)
    arm(admin, fault, **spec)
    with HEC(
        api_key=server.api_key,
        base_url=server.url,
        batch_size=BATCH,
        thread_count=1,
        retry_backoff=0.01,
    ) as hec:
        result = hec.send_events({"run": run, "n": n} for n in range(50))
    assert result.rejections == [] and result.accepted == 50
    counts = collections.Counter(
        e["event"]["n"] for e in stored_events(server.data_dir) if e["event"].get("run") == run
    )
    assert set(counts) == set(range(50))  # nothing lost
    assert sum(counts.values()) - 50 <= repeats  # each unanswered commit repeats one batch
    assert fired(admin, fault) - before == spec["count"]


def test_the_hec_sender_reports_a_500_per_event_so_nothing_is_lost_silently(
    server: RunningServer, admin: httpx.Client
) -> None:
    run = uuid.uuid4().hex[:8]
    arm(admin, "hec_error", count=1)
    events = [{"run": run, "n": n} for n in range(30)]
    with HEC(api_key=server.api_key, base_url=server.url, batch_size=BATCH, thread_count=1) as hec:
        result = hec.send_events(events)
        assert result.accepted == 20 and [r.status for r in result.rejections] == [500]
        refused = result.rejections[0]
        again = hec.send_events(events[refused.index : refused.index + refused.count])
    assert again.accepted == BATCH
    stored = [
        e["event"]["n"] for e in stored_events(server.data_dir) if e["event"].get("run") == run
    ]
    assert sorted(stored) == list(range(30))


# the stream consumer ---------------------------------------------------------------------


def consumer(server: RunningServer, sourcetype: str, **kw: Any) -> StreamConsumer:
    client_id, secret = api_client(server)
    return StreamConsumer(
        server.url,
        client_id=client_id,
        client_secret=secret,
        app_id=kw.pop("app_id", f"sdk-{uuid.uuid4().hex[:8]}"),
        event_types=[sourcetype],
        reconnect_backoff=0.05,
        max_backoff=0.5,
        **kw,
    )


@pytest.mark.parametrize(
    ("fault", "spec"),
    [
        ("discovery_refuse", {"count": 2}),
        ("feed_cut", {"count": 2}),
        ("feed_slow", {"count": 1, "rate": 40}),
    ],
)
def test_the_stream_consumer_survives_each_fault_without_loss_or_repeat(
    server: RunningServer, admin: httpx.Client, fault: str, spec: dict[str, Any]
) -> None:
    sourcetype = new_sourcetype()
    send(server, sourcetype, range(30))
    before = fired(admin, fault)
    arm(admin, fault, **spec)
    with consumer(server, sourcetype) as c:
        events = take(c, 30, timeout=60)
    assert seqs(events) == list(range(30))
    assert len(set(offsets(events))) == 30
    assert fired(admin, fault) - before == spec["count"]


def test_the_stream_consumer_lives_through_expired_sessions(
    server: RunningServer, admin: httpx.Client
) -> None:
    sourcetype = new_sourcetype()
    send(server, sourcetype, range(10))
    with consumer(server, sourcetype) as c:
        first = take(c, 10)
        reply = admin.post("/api/v1/sandbox/sessions/expire")
        assert reply.status_code == 200 and reply.json()["resources"][0]["expired"] >= 1
        # the feed ends cleanly; the consumer discovers again and reconnects after its last
        wait_for(lambda: c.stats.discoveries >= 2 and c.stats.connections >= 2, timeout=20)
        send(server, sourcetype, range(10, 20))
        rest = take(c, 10, timeout=60)
    assert seqs(first + rest) == list(range(20))


# server-kept positions --------------------------------------------------------------------


def test_commit_server_resumes_a_new_consumer_without_a_repeat(server: RunningServer) -> None:
    sourcetype = new_sourcetype()
    send(server, sourcetype, range(20))
    app = f"srv-{uuid.uuid4().hex[:8]}"
    client_id, secret = api_client(server)
    common = {
        "client_id": client_id,
        "client_secret": secret,
        "app_id": app,
        "event_types": [sourcetype],
        "commit": "server",
        "auto_commit": False,
    }
    with StreamConsumer(server.url, **common) as c:
        first = take(c, 12)
        c.commit()
    with StreamGroups(client_id=client_id, client_secret=secret, base_url=server.url) as groups:
        group = groups.get(app)
        assert group is not None
        assert group["partitions"][0]["committed"] == first[-1]["metadata"]["offset"]
    with StreamConsumer(server.url, **common) as c:  # no file anywhere: the server knows
        rest = take(c, 8)
    assert seqs(first + rest) == list(range(20))


def test_commit_both_keeps_a_file_and_the_server_in_step(
    server: RunningServer, tmp_path: Any
) -> None:
    sourcetype = new_sourcetype()
    send(server, sourcetype, range(5))
    path = tmp_path / "offsets.json"
    with consumer(server, sourcetype, commit="both", checkpoint=path, app_id="both-1") as c:
        events = take(c, 5)
        c.commit()
    last = events[-1]["metadata"]["offset"]
    assert FileCheckpoint(path).load() == {0: last}
    shown = cli("stream", "groups", "show", "both-1", "--json", data_dir=server.data_dir)
    assert f'"committed": {last}' in shown.stdout


def test_start_and_filter_keywords_reach_the_server(server: RunningServer) -> None:
    sourcetype = new_sourcetype()
    send(server, sourcetype, range(10))
    with consumer(server, sourcetype, start="latest") as c:
        assert c.poll(0.5) is None  # nothing old
        send(server, sourcetype, range(10, 12))
        assert seqs(take(c, 2)) == [10, 11]
    with consumer(server, sourcetype, start="earliest", filter="seq>=7 and seq<9") as c:
        assert seqs(take(c, 2)) == [7, 8]
        assert c.poll(0.5) is None


def test_the_async_consumer_uses_server_positions_too(server: RunningServer) -> None:
    sourcetype = new_sourcetype()
    send(server, sourcetype, range(6))
    client_id, secret = api_client(server)
    common: dict[str, Any] = {
        "client_id": client_id,
        "client_secret": secret,
        "app_id": f"async-{uuid.uuid4().hex[:8]}",
        "event_types": [sourcetype],
        "commit": "server",
    }

    async def main() -> list[Any]:
        async with AsyncStreamConsumer(server.url, **common) as c:
            first = await atake(c, 3)
            await c.commit()
        async with AsyncStreamConsumer(server.url, **common) as c:
            rest = await atake(c, 3)
        return first + rest

    assert seqs(asyncio.run(main())) == list(range(6))


def test_the_cli_streams_with_start_filter_and_server_commits(server: RunningServer) -> None:
    sourcetype = new_sourcetype()
    send(server, sourcetype, range(10))
    client_id, secret = api_client(server)
    args = [
        "stream",
        "--url",
        server.url,
        "--client-id",
        client_id,
        "--client-secret",
        secret,
        "--app-id",
        "cli-group",
        "--start",
        "earliest",
        "--filter",
        f"#sourcetype={sourcetype} and seq>=5",
        "--commit",
        "server",
        "--max-events",
        "3",
    ]
    first = cli(*args)
    assert [line.count('"seq"') for line in first.stdout.splitlines()] == [1, 1, 1]
    assert '"seq":5' in first.stdout.replace(" ", "")
    second = cli(*args[:-2], "--max-events", "2")  # --start applies only without a position
    got = second.stdout.replace(" ", "")
    assert '"seq":8' in got and '"seq":9' in got and '"seq":5' not in got
