"""Per-client limits that hold across nodes: a reservation ledger changed by compare-and-set.

Counting a client's live tokens or sessions in this node's mirror is not enough: two
nodes that count at once both see room and both issue. So every issue first *reserves*
in the client's ledger record (``<kind>lim.<client id>``), a list of reservations
``[id, at, count]``, written with the record's last revision (KV ``create``/``update``):
of two nodes racing, one write fails, and that node counts again with the winner's
reservation in it. A reservation counts ``count`` while it is young (``YOUNG`` seconds,
while its records may not have reached this node's mirror), then as many of its records
(tagged ``res``) as are still live; one with none left is dropped from the ledger.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import orjson

from lakehose.storage.jetstream.kvstore import KvMirror

YOUNG = 30.0  # seconds a reservation counts whole, whatever the mirror shows


def new_reservation() -> str:
    return os.urandom(8).hex()


def reserve(
    store: KvMirror,
    key: str,
    count: int,
    live_by_reservation: Callable[[], dict[str, int]],
    refuse: Callable[[int], None],
    reservation: str,
) -> None:
    """Add ``count`` under ``reservation`` to the ledger at ``key``, unless ``refuse``
    (called with how many are live now) raises; retried until no other writer raced."""

    def added(found: tuple[bytes, int] | None) -> bytes:
        now = time.time()
        entries: list[list[object]] = orjson.loads(found[0]) if found else []
        live = live_by_reservation()
        kept: list[list[object]] = []
        total = 0
        for rid, at, n in entries:
            assert isinstance(rid, str) and isinstance(at, float | int) and isinstance(n, int)
            records = live.pop(str(rid), 0)
            counted = n if at > now - YOUNG else records
            if counted:
                kept.append([rid, at, n])
                total += counted
        total += sum(live.values())  # records of no reservation (none are written so)
        refuse(total)
        kept.append([reservation, now, count])
        return orjson.dumps(kept)

    store.change(key, added)
