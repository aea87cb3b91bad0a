"""Feed slots in KV: the one live data feed of an appId and partition, across the cluster.

``slot.<hex appId>.<partition>`` -> ``{"owner", "node", "opened_at", "heartbeat",
"position"}``: claimed with create, taken over from a dead owner (stale heartbeat) with
compare-and-set. ``node`` names the lakehose node that holds it, so a node that starts
releases only the slots of its own previous run, never another live node's feeds.
"""

from __future__ import annotations

import time

import orjson

from lakehose.storage.jetstream.kvstore import CasFailed, KvMirror, hex_key


class FeedSlots:
    """Feed slots over a :class:`KvMirror`; ``node`` names this lakehose node."""

    store: KvMirror
    node: str

    @staticmethod
    def _slot(app_id: str, partition: int) -> str:
        return f"slot.{hex_key(app_id)}.{partition}"

    def claim_connection(
        self,
        app_id: str,
        partition: int,
        owner: str,
        stale_after: float,
        position: int | None = None,
    ) -> bool:
        key = self._slot(app_id, partition)
        now = time.time()
        record = {
            "owner": owner,
            "node": self.node,
            "opened_at": now,
            "heartbeat": now,
            "position": position,
        }
        found = self.store.get(key)
        try:
            if found is None:
                self.store.create(key, orjson.dumps(record))
                return True
            if orjson.loads(found[0])["heartbeat"] < now - stale_after:
                self.store.update(key, orjson.dumps(record), found[1])
                return True
        except CasFailed:
            return False
        return False

    def heartbeat_connection(
        self, app_id: str, partition: int, owner: str, position: int | None = None
    ) -> bool:
        key = self._slot(app_id, partition)
        found = self.store.get(key)
        if found is None or orjson.loads(found[0])["owner"] != owner:
            return False
        record = orjson.loads(found[0]) | {"heartbeat": time.time()}
        if position is not None:
            record["position"] = position  # none: the last one stays
        try:
            self.store.update(key, orjson.dumps(record), found[1])
        except CasFailed:
            return False
        return True

    def open_connections(self) -> list[tuple[str, int, float, float, int | None]]:
        out = []
        for k, v, _ in self.store.items("slot."):
            _, app_hex, partition = k.split(".")
            r = orjson.loads(v)
            position = r.get("position")
            out.append(
                (
                    bytes.fromhex(app_hex).decode("utf-8", "surrogatepass"),
                    int(partition),
                    float(r["opened_at"]),
                    float(r["heartbeat"]),
                    None if position is None else int(position),
                )
            )
        return sorted(out, key=lambda c: (c[0], c[1]))

    def connection_owner(self, app_id: str, partition: int) -> str | None:
        found = self.store.get(self._slot(app_id, partition))
        return None if found is None else str(orjson.loads(found[0])["owner"])

    def release_connection(self, app_id: str, partition: int, owner: str) -> None:
        key = self._slot(app_id, partition)
        found = self.store.get(key)
        if found is not None and orjson.loads(found[0])["owner"] == owner:
            self.store.delete(key, found[1])

    def release_all_connections(self) -> None:
        """At a node's start: its previous run's feeds are dead; other nodes' are not."""
        for k, v, revision in self.store.items("slot."):
            if orjson.loads(v).get("node") == self.node:
                self.store.delete(k, revision)
