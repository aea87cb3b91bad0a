"""The embedded log's group commit: how long a commit waits for the rest of a crowd.

A commit after a shared one may wait up to ``commit_gather`` for as many hand-overs
as that one held; it must stop waiting as soon as they are there, and a commit after
a lone one must not wait at all. The window here is a minute, so a test that took it
would hit the bound below (a liveness bound, far from any expected time).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from lakehose.models import AppendResult
from lakehose.storage.sqlite.log import SqliteEventLog
from lakehose.storage.sqlite.partition import create_partition
from tests.storage.backendkit import pending

WINDOW = 60.0
BOUND = 20.0


async def _log(tmp_path: Path) -> SqliteEventLog:
    create_partition(tmp_path, 0)
    log = SqliteEventLog(tmp_path, 1, durability="fsync", commit_gather=WINDOW)
    await log.start(asyncio.get_running_loop())
    return log


async def _hold(log: SqliteEventLog) -> tuple[asyncio.Future[None], threading.Event]:
    """Keep the commit thread busy in a call until the returned event is set, so what is
    submitted meanwhile is taken at once when it is (the future ends with the call)."""
    entered, held = threading.Event(), threading.Event()

    def hold(_: object) -> None:
        entered.set()
        held.wait(BOUND)

    blocker = asyncio.ensure_future(log.committers[0].call(hold))
    assert await asyncio.to_thread(entered.wait, BOUND)  # the commit thread is in the call
    return blocker, held


async def _shared_commit(log: SqliteEventLog) -> None:
    """Two hand-overs committed together: the next commit expects a crowd of two."""
    committer = log.committers[0]
    blocker, held = await _hold(log)
    first = committer.submit(pending("a", 1), 100)
    committer.hand_over()
    second = committer.submit(pending("b", 1), 100)
    committer.hand_over()
    held.set()
    await asyncio.wait_for(asyncio.gather(blocker, first, second), BOUND)


async def _waiting_for_a_crowd(log: SqliteEventLog) -> asyncio.Future[AppendResult]:
    """After a shared commit, one hand-over: the commit thread takes it and waits (up to
    the minute's window) for one more; its future, not done."""
    await _shared_commit(log)
    committer = log.committers[0]
    one = committer.submit(pending("c", 1), 100)
    committer.hand_over()
    await asyncio.sleep(0.05)  # the commit thread has taken it and waits for one more
    assert not one.done()
    return one


def test_a_gathering_commit_stops_waiting_once_the_crowd_is_back(tmp_path: Path) -> None:
    async def main() -> None:
        log = await _log(tmp_path)
        one = await _waiting_for_a_crowd(log)
        two = log.committers[0].submit(pending("d", 1), 100)
        done = await asyncio.wait_for(asyncio.gather(one, two), BOUND)
        assert [r.first_offset for r in done] == [2, 3]
        await log.close()

    asyncio.run(main())


def test_a_commit_after_a_lone_one_does_not_wait(tmp_path: Path) -> None:
    async def main() -> None:
        log = await _log(tmp_path)
        for tag in ("a", "b", "c"):  # each alone: no commit expects a crowd
            result = await asyncio.wait_for(log.append(0, pending(tag, 2), 100), BOUND)
            assert result.count == 2
        await log.close()

    asyncio.run(main())


def test_a_groups_callbacks_run_in_order_and_see_its_end(tmp_path: Path) -> None:
    async def main() -> None:
        log = await _log(tmp_path)
        committer = log.committers[0]
        blocker, held = await _hold(log)
        heard: list[tuple[str, object, int]] = []
        finished = asyncio.Event()
        for tag in ("a", "b", "c"):  # one loop turn: one hand-over, one commit

            def done(outcome: object, tag: str = tag) -> None:
                heard.append((tag, outcome, log.end_offset(0)))
                if len(heard) == 3:
                    finished.set()

            committer.submit_then(pending(tag, 2), 100, done)
        held.set()
        await asyncio.wait_for(asyncio.gather(blocker, finished.wait()), BOUND)
        assert [tag for tag, _, _ in heard] == ["a", "b", "c"]
        assert [getattr(r, "first_offset", r) for _, r, _ in heard] == [0, 2, 4]
        assert [end for _, _, end in heard] == [6, 6, 6]  # the group's end, before any answer
        await log.close()

    asyncio.run(main())


def test_closing_wakes_a_commit_thread_that_waits_for_a_crowd(tmp_path: Path) -> None:
    async def main() -> None:
        log = await _log(tmp_path)
        one = await _waiting_for_a_crowd(log)
        await asyncio.wait_for(log.close(), BOUND)
        assert one.done() and one.result().first_offset == 2

    asyncio.run(main())
