"""Server-kept consumer positions, and the console's views, in the cluster's catalog bucket.

``pos.<hex appId>.<partition>`` ``{"committed", "client_id", "at", "commits"}``: a commit
from any node is seen by every node's mirror within the watch's delay.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import orjson

from lakehose.storage.consumer_groups import CommitRequest, Position
from lakehose.storage.jetstream.kvstore import KvMirror, hex_key


def _position(key: str, value: bytes) -> Position:
    _, app_hex, partition = key.split(".")
    r = orjson.loads(value)
    return Position(
        bytes.fromhex(app_hex).decode(),
        int(partition),
        int(r["committed"]),
        str(r["client_id"]),
        float(r["at"]),
        int(r["commits"]),
    )


class ClusterConsumerGroups:
    """``ConsumerGroups`` (``storage/consumer_groups.py``) over the catalog's bucket."""

    def __init__(self, store: KvMirror) -> None:
        self.store = store

    def close(self) -> None:
        pass

    def commit(self, requests: Iterable[CommitRequest]) -> int:
        done = 0
        for r in requests:
            key = f"pos.{hex_key(r.app_id)}.{r.partition}"

            def position(found: tuple[bytes, int] | None, r: CommitRequest = r) -> bytes:
                commits = orjson.loads(found[0])["commits"] + 1 if found else 1
                return orjson.dumps(
                    {"committed": r.committed, "client_id": r.client_id, "at": time.time(),
                     "commits": commits}
                )  # fmt: skip

            self.store.change(key, position, sync=False)
            done += 1
        return done

    def all_positions(self) -> list[Position]:
        return [_position(k, v) for k, v, _ in self.store.items("pos.")]

    def positions(self, app_id: str) -> list[Position]:
        found = [_position(k, v) for k, v, _ in self.store.items(f"pos.{hex_key(app_id)}.")]
        return sorted(found, key=lambda p: p.partition)

    def committed(self, app_id: str, partition: int) -> int | None:
        found = self.store.get(f"pos.{hex_key(app_id)}.{partition}")
        return None if found is None else int(orjson.loads(found[0])["committed"])

    def owner(self, app_id: str) -> str | None:
        found = sorted(self.positions(app_id), key=lambda p: p.committed_at)
        return found[0].client_id if found else None

    def delete(self, app_id: str) -> int:
        gone = 0
        for k, _, _ in self.store.items(f"pos.{hex_key(app_id)}."):
            self.store.delete(k)
            gone += 1
        return gone


class ClusterConsoleViews:
    """``ConsoleViews`` (``storage/console_views.py``) over the catalog's bucket."""

    def __init__(self, store: KvMirror) -> None:
        self.store = store

    def refused_counts(self, since: float) -> dict[str, int] | None:
        out: dict[str, int] = {}
        for k, v, _ in self.store.items("refused."):
            n = sum(1 for r in orjson.loads(v) if r[0] >= since)
            if n:
                out[k[len("refused.") :]] = n
        return out

    def consumer_positions(self) -> dict[tuple[str, int], dict[str, Any]]:
        return {
            (p.app_id, p.partition): {
                "committed": p.committed,
                "client_id": p.client_id,
                "committed_at": p.committed_at,
            }
            for p in ClusterConsumerGroups(self.store).all_positions()
        }

    def live_session_clients(self, now: float) -> dict[tuple[str, int], str]:
        out = {}
        for _, v, _ in self.store.items("sess."):
            s = orjson.loads(v)
            if s["expires_at"] > now:
                out[(s["app_id"], int(s["partition"]))] = s["client_id"]
        return out
