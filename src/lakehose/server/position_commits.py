"""Group commit of consumer positions: concurrent commits share one transaction and one fsync.

A commit queues its rows and awaits a future. While no write runs, the first
commit starts one (on a thread, as SQLite blocks); commits arriving meanwhile
queue up and go together in the next write. One consumer alone waits one fsync;
a hundred committing at once wait two, so throughput grows with concurrency
instead of stopping at the disk's fsync rate.
"""

from __future__ import annotations

import asyncio
import logging

from lakehose.storage.consumer_groups import CommitRequest, ConsumerGroups

log = logging.getLogger(__name__)


class PositionCommits:
    """One per worker process; use from its event loop."""

    def __init__(self, groups: ConsumerGroups) -> None:
        self.groups = groups
        self._pending: list[tuple[list[CommitRequest], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.commits = 0
        self.writes = 0

    async def commit(self, requests: list[CommitRequest]) -> None:
        """Return once ``requests`` are durable in the catalog."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((requests, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())
        await asyncio.shield(future)

    async def _write(self) -> None:
        try:
            while self._pending:
                group, self._pending = self._pending, []
                rows = [r for requests, _ in group for r in requests]
                try:
                    await asyncio.to_thread(self.groups.commit, rows)
                except Exception as exc:
                    log.error("committing %d consumer positions failed: %s", len(rows), exc)
                    for _, future in group:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                self.commits += len(group)
                self.writes += 1
                for _, future in group:
                    if not future.done():
                        future.set_result(None)
        finally:
            self._writer = None
