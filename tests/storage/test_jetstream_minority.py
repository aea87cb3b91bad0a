"""A NATS node cut off (stopped with SIGSTOP, as a partition looks from a client connected
only to it): a writer on it gets an error, never an acknowledgement; a writer on the
majority carries on; nothing acknowledged is lost when the node comes back."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import nats.errors
import pytest

from lakehose.errors import StorageError
from lakehose.storage.jetstream.devcluster import DevCluster
from lakehose.storage.jetstream.layout import Layout
from lakehose.storage.jetstream.link import link_for
from lakehose.storage.jetstream.log import JetStreamEventLog, ensure_streams, open_readers
from tests.storage.backendkit import pending, read_all


async def _append(urls: str, tag: str, deadline: float) -> tuple[int, int]:
    log = JetStreamEventLog(urls, 1, namespace="minority", append_deadline=deadline)
    await log.start(asyncio.get_running_loop())
    result = await log.append(0, pending(tag, 5), 100)
    return result.first_offset, result.count


def _read_back(urls: str) -> list[tuple[int, dict[str, object]]]:
    """Every stored event; a request the cluster times out while the resumed node rejoins
    (seen under load) is asked again."""
    for attempt in range(3):
        try:
            (reader,) = open_readers(urls, "minority", 1)
            return read_all(reader)
        except nats.errors.TimeoutError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def test_a_writer_on_a_stopped_node_is_refused_and_the_majority_acknowledges(
    tmp_path: Path,
) -> None:
    with DevCluster(tmp_path / "nats", nodes=3) as cluster:
        victim, *majority = cluster.nodes
        rest = ",".join(n.url for n in majority)
        link = link_for(cluster.urls)
        link.call(ensure_streams(link, Layout("minority"), 1, 3))
        assert asyncio.run(_append(victim.url, "before", 8.0)) == (0, 5)

        async def start_on_victim() -> JetStreamEventLog:
            log = JetStreamEventLog(victim.url, 1, namespace="minority", append_deadline=8.0)
            await log.start(asyncio.get_running_loop())
            return log

        async def cut_off_then_append() -> None:
            log = await start_on_victim()  # connected, in sync, then cut off
            victim.signal(signal.SIGSTOP)
            with pytest.raises(StorageError):
                await log.append(0, pending("minority", 5), 100)

        try:
            asyncio.run(cut_off_then_append())
            first, count = asyncio.run(_append(rest, "majority", 30.0))  # the quorum acks
        finally:
            victim.signal(signal.SIGCONT)
        assert count == 5
        stored = _read_back(rest)
    tags = [str(e["tag"]) for _, e in stored]
    assert tags[:5] == ["before"] * 5
    assert tags[first : first + 5] == ["majority"] * 5  # where it was acknowledged
    assert [o for o, _ in stored] == list(range(len(stored)))  # dense
