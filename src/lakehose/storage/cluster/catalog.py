"""The catalog a cluster node holds: the JetStream catalog and the records a node adds.

Beside :class:`JetStreamCatalog` (connectors, keys, clients, tokens, sessions, slots):
each connector's ring of recent refusals (``refused.<id>``, one JSON list, newest last),
client secret rotation, and feed slots that carry the feed's position (``open_connections``
lists every node's feeds, so the console of any node shows them all).
"""

from __future__ import annotations

import dataclasses
import time

import orjson

from lakehose.auth import secrets
from lakehose.storage.catalog.clients import ApiClient
from lakehose.storage.catalog.connectors import Connector, KeyIndex
from lakehose.storage.jetstream.catalog import JetStreamCatalog
from lakehose.storage.jetstream.kvstore import CasFailed
from lakehose.storage.refusals import Refusal


class ClusterCatalog(JetStreamCatalog):
    """The replicated catalog, complete: what ``storage/lake.py`` hands out in cluster mode."""

    def __init__(
        self, urls: str, namespace: str = "lakehose", replicas: int = 3, readonly: bool = False
    ) -> None:
        super().__init__(urls, namespace, replicas)
        self.readonly = readonly

    # refusals -----------------------------------------------------------------------------

    def record_refusals(self, entries: list[tuple[str, Refusal]], ring_size: int) -> None:
        for cid in dict.fromkeys(cid for cid, _ in entries):
            new = [list(dataclasses.astuple(r)) for c, r in entries if c == cid]
            key = "refused." + cid
            while True:
                found = self.store.get(key)
                ring = orjson.loads(found[0]) if found else []
                value = orjson.dumps((ring + new)[-ring_size:])
                try:
                    if found is None:
                        self.store.create(key, value)
                    else:
                        self.store.update(key, value, found[1])
                    break
                except CasFailed:
                    continue

    def refusals(self, connector_id: str, limit: int) -> list[Refusal]:
        found = self.store.get("refused." + connector_id)
        ring = orjson.loads(found[0]) if found else []
        return [Refusal(*r) for r in reversed(ring)][:limit]

    # connector keys, with a grace period on rotation --------------------------------------------

    def rotate_key(self, name_or_id: str, grace: float = 0.0) -> tuple[Connector, str]:
        """A new key; the old ones stop working now, or after ``grace`` seconds (their
        records then carry ``exp``)."""
        if grace < 0:
            raise ValueError("grace must not be negative")
        connector = self.get_connector(name_or_id)
        old = self._keys_of(connector.id)
        key = self._add_key(connector.id, int(time.time()))
        now = time.time()
        for k, record in old:
            if grace > 0 and record.get("exp", now + grace) > now:
                record["exp"] = min(record.get("exp", now + grace), now + grace)
                self.store.put(k, orjson.dumps(record))
            else:
                self.store.delete(k)
        return connector, key

    def key_hints(self, connector_id: str) -> list[str]:
        out = []
        now = time.time()
        for _, record in self._keys_of(connector_id):
            exp = record.get("exp")
            if exp is None:
                out.append(str(record["hint"]))
            elif exp > now:
                until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(exp))
                out.append(f"{record['hint']} (until {until})")
        return out

    def key_index(self) -> KeyIndex:
        index = super().key_index()
        for k, v, _ in self.store.items("key.", sync=False):
            exp = orjson.loads(v).get("exp")
            if exp is not None:
                index.expires[bytes.fromhex(k[len("key.") :])] = float(exp)
        return index

    def connector_for_key(self, key: str) -> Connector | None:
        found = self.store.get("key." + secrets.digest(key).hex())
        if found is not None and orjson.loads(found[0]).get("exp", float("inf")) <= time.time():
            return None
        return super().connector_for_key(key)

    # clients ------------------------------------------------------------------------------

    def rotate_client_secret(self, id_or_name: str) -> tuple[ApiClient, str]:
        client = self.get_client(id_or_name)
        if client.revoked_at is not None:
            raise ValueError(f"client {client.name!r} is revoked; create a new one")
        secret = secrets.new_secret(30)
        found = self.store.get("client." + client.client_id, sync=False)
        assert found is not None
        record = orjson.loads(found[0]) | {"secret": secrets.digest(secret).hex()}
        self.store.put("client." + client.client_id, orjson.dumps(record))
        for k, v, _ in self.store.items("token.", sync=False):
            if orjson.loads(v)["client_id"] == client.client_id:
                self.store.delete(k)
        return client, secret

    # feed slots, with the feed's position -----------------------------------------------------

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
        value = orjson.dumps(
            {"owner": owner, "opened_at": now, "heartbeat": now, "position": position}
        )
        found = self.store.get(key)
        try:
            if found is None:
                self.store.create(key, value)
                return True
            if orjson.loads(found[0])["heartbeat"] < now - stale_after:
                self.store.update(key, value, found[1])
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
            record["position"] = position
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
            pos = r.get("position")
            out.append(
                (
                    bytes.fromhex(app_hex).decode(),
                    int(partition),
                    float(r["opened_at"]),
                    float(r["heartbeat"]),
                    None if pos is None else int(pos),
                )
            )
        return sorted(out)

    def release_all_connections(self) -> None:
        """Nothing: other nodes' feeds are alive; a dead node's slots go stale and are taken
        over (``claim_connection``)."""
