"""Consumer groups: the positions the server keeps per appId and partition (a lakehose extension).

Theory of operation
-------------------
A *group* is an appId. Its position on a partition is ``committed``: the offset of
the last event the consumer has processed, so it resumes at ``committed + 1`` and
never sees that event again (-1: nothing processed yet, resume at 0). A commit is
one ``INSERT ... ON CONFLICT`` in ``catalog.db`` (``consumer_positions``), so
positions survive restarts and are shared by every worker. Concurrent commits
share one transaction and one fsync (``server/position_commits.py``), which is how
commit throughput goes past the disk's fsync rate.

A group belongs to the API client that first committed for it: another client's
commit is refused (an admin token may do anything). Deleting a group deletes its
positions; resetting sets them anew.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Position:
    """One group's committed position on one partition."""

    app_id: str
    partition: int
    committed: int
    client_id: str
    committed_at: float
    commits: int


@dataclass(frozen=True, slots=True)
class CommitRequest:
    """``committed`` for ``(app_id, partition)``, by ``client_id``."""

    app_id: str
    partition: int
    committed: int
    client_id: str


_COLUMNS = "app_id, partition, committed, client_id, committed_at, commits"


class ConsumerGroups(Protocol):
    """What a catalog offers for consumer_groups (SQLite: ``storage/sqlite/consumer_groups.py``)."""

    def close(self) -> None: ...

    def commit(self, requests: Iterable[CommitRequest]) -> int:
        """Store every request in one transaction (one fsync); return how many."""
        ...

    def positions(self, app_id: str) -> list[Position]:
        """The group's positions, by partition (empty when it has none)."""
        ...

    def committed(self, app_id: str, partition: int) -> int | None: ...

    def owner(self, app_id: str) -> str | None:
        """The API client the group belongs to (the first to commit), or None."""
        ...

    def all_positions(self) -> list[Position]: ...

    def delete(self, app_id: str) -> int:
        """Forget the group; return how many positions it had."""
        ...
