"""Consumers across server crashes and restarts, and over two partitions (each test its own server)."""

from __future__ import annotations

import asyncio
import uuid
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from lakehose.client import AsyncStreamConsumer, FileCheckpoint, StreamConsumer
from lakehose.errors import AuthError
from lakehose.testing import RunningServer, run_server
from tests.client.consumerkit import (
    api_client,
    atake,
    new_sourcetype,
    offsets,
    send,
    seqs,
    stream_threads,
    take,
)
from tests.helpers import bearer_token, cli_json, create_connector


def consumer(server: RunningServer, credentials: tuple[str, str], **kwargs: Any) -> StreamConsumer:
    return StreamConsumer(
        server.url,
        client_id=credentials[0],
        client_secret=credentials[1],
        app_id=kwargs.pop("app_id", "restarts"),
        reconnect_backoff=0.2,
        max_backoff=2.0,
        **kwargs,
    )


def test_a_consumer_reads_on_after_the_server_is_killed_and_restarted(data_dir: Path) -> None:
    st = new_sourcetype()
    with run_server(data_dir) as server:
        credentials = api_client(server)
        send(server, st, range(50))
        with consumer(server, credentials, checkpoint=data_dir.parent / "cp.json") as c:
            got = take(c, 30)
            server.kill()  # a crash: connections reset, nothing shut down cleanly
            server.restart()
            send(server, st, range(50, 100))
            got += take(c, 70)
            assert c.poll(0.5) is None
            assert c.stats.connections >= 2
        assert seqs(got) == list(range(100))
        assert offsets(got) == list(range(100))  # one sourcetype, one partition: dense
        assert FileCheckpoint(data_dir.parent / "cp.json").load() == {0: 99}
    assert stream_threads() == []


def test_a_consumer_started_while_the_server_is_down_waits_for_it(data_dir: Path) -> None:
    st = new_sourcetype()
    with run_server(data_dir) as server:
        credentials = api_client(server)
        send(server, st, range(5))
        server.kill()
        with consumer(server, credentials) as c:
            assert c.poll(0.5) is None
            server.restart()
            assert seqs(take(c, 5)) == list(range(5))


def test_two_partitions_on_two_workers_are_both_read_in_order(data_dir: Path) -> None:
    with run_server(data_dir, workers=2, args=["--partitions", "2"]) as server:
        credentials = api_client(server)
        admin = httpx.Client(
            base_url=server.url,
            headers={"Authorization": f"Bearer {bearer_token(server, 'admin')}"},
        )
        with admin:
            key = create_connector(admin, "acked", ack=True)  # channels pick partitions
        channels: dict[int, str] = {}
        while len(channels) < 2:  # a channel for each partition (crc32 of the channel, mod 2)
            channel = str(uuid.uuid4())
            channels.setdefault(zlib.crc32(channel.encode()) % 2, channel)
        st = new_sourcetype()
        for n in range(0, 60, 10):
            send(server, st, range(n, n + 10), key=key, channel=channels[(n // 10) % 2])
        with consumer(server, credentials, app_id="two-parts") as c:
            events = take(c, 60)
            assert c.partitions == [0, 1]
        by_partition: dict[int, list[int]] = {0: [], 1: []}
        for e in events:
            by_partition[e["metadata"]["partition"]].append(e["event"]["seq"])
        assert by_partition[0] == [n for n in range(60) if (n // 10) % 2 == 0]
        assert by_partition[1] == [n for n in range(60) if (n // 10) % 2 == 1]
        assert {e["metadata"]["offset"] for e in events} == set(range(30))


def test_the_async_consumer_reads_in_order_resumes_and_survives_a_restart(
    data_dir: Path,
) -> None:
    st = new_sourcetype()
    path = data_dir.parent / "async.json"
    with run_server(data_dir) as server:
        credentials = api_client(server)
        send(server, st, range(20))

        def make() -> AsyncStreamConsumer:
            return AsyncStreamConsumer(
                server.url,
                client_id=credentials[0],
                client_secret=credentials[1],
                app_id="async",
                checkpoint=path,
                reconnect_backoff=0.2,
                max_backoff=2.0,
            )

        async def first_run() -> list[Any]:
            async with make() as c:
                got = await atake(c, 10)
                await c.commit()
                return got

        async def second_run() -> list[Any]:
            async with make() as c:
                got = await atake(c, 10)
                server.kill()
                server.restart()
                send(server, st, range(20, 30))
                got += await atake(c, 10)
                seen = []
                async for event in c:
                    seen.append(event)
                    break
                return got + seen

        first = asyncio.run(first_run())
        assert seqs(first) == list(range(10))
        send(server, st, [30])
        rest = asyncio.run(second_run())
        assert seqs(rest) == [*range(10, 20), 30, *range(20, 30)]  # in offset order
        assert FileCheckpoint(path).load() == {0: 30}


def test_a_revoked_client_stops_the_consumer_with_an_auth_error(data_dir: Path) -> None:
    st = new_sourcetype()
    with run_server(data_dir, args=["--heartbeat-interval", "0.5"]) as server:
        client_id, secret = api_client(server)
        send(server, st, range(3))
        with consumer(server, (client_id, secret)) as c:
            take(c, 3)
            cli_json("client", "revoke", client_id, data_dir=server.data_dir)
            with pytest.raises(AuthError):
                take(c, 1)
    assert stream_threads() == []
