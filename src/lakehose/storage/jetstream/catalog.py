"""The replicated catalog: connectors, keys and settings in a JetStream KV bucket.

Every node reads its own watched mirror of the bucket (``kvstore.py``), so a connector
created through one node opens ingest on every other within a watch's delay (no
polling), and ``data_version`` moves on any change, whoever made it. Clients, tokens,
sessions and slots are in ``catalog_access.py``; this class joins them.

Records (JSON): ``conn.<id>`` a connector; ``cname.<hex name>`` -> its id (the unique
name, claimed first with create); ``key.<sha256 hex>`` -> ``{"c": id, "hint", "at"}``
(a HEC key, stored only as its digest); ``set.<hex key>`` a setting.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import asdict
from typing import Any

import orjson

from lakehose.auth import secrets
from lakehose.errors import ConflictError, NotFoundError
from lakehose.storage.catalog.connectors import (
    CONNECTOR_OPTIONS,
    Connector,
    KeyIndex,
    check_grace,
    check_index,
    check_name,
)
from lakehose.storage.jetstream.catalog_access import AccessRecords
from lakehose.storage.jetstream.kvstore import CasFailed, KvMirror, hex_key
from lakehose.storage.jetstream.layout import Layout
from lakehose.storage.jetstream.link import link_for
from lakehose.storage.refusals import Refusal


def _check_options(options: dict[str, Any]) -> dict[str, Any]:
    unknown = set(options) - set(CONNECTOR_OPTIONS)
    if unknown:
        raise ValueError(f"unknown connector option(s): {', '.join(sorted(unknown))}")
    out = dict(options)
    if out.get("default_index") is not None:
        check_index(out["default_index"])
    if "allowed_indexes" in out:
        out["allowed_indexes"] = sorted({check_index(i) for i in out["allowed_indexes"] or ()})
    for flag in ("use_ack", "allow_query_token", "enabled"):
        if flag in out:
            out[flag] = bool(out[flag])
    for rate in ("rate_rps", "rate_bps"):
        if out.get(rate) is not None and float(out[rate]) <= 0:
            raise ValueError(f"{rate} must be positive")
    return out


def _safe(text: str) -> bool:
    return text.isascii() and text.isalnum()


def _connector(value: bytes) -> Connector:
    d = orjson.loads(value)
    d["allowed_indexes"] = tuple(d.get("allowed_indexes") or ())
    return Connector(**d)


class JetStreamCatalog(AccessRecords):
    """The catalog of a lake on a NATS cluster, as one process sees it. Thread-safe."""

    readonly = False  # (``Catalog``) every process may write to the cluster's buckets

    def __init__(
        self,
        urls: str,
        namespace: str = "lakehose",
        replicas: int = 3,
        node: str | None = None,
    ) -> None:
        """``node`` names this lakehose node (the feed slots it holds); the host name by
        default, so two nodes on one host need names of their own."""
        self.urls = urls
        self.node = node or socket.gethostname()
        self._local = threading.local()
        self.layout = Layout(namespace)
        self.store = KvMirror(link_for(urls), self.layout.bucket("CATALOG"), replicas)

    def close(self) -> None:
        pass  # the mirror is the process's, shared by every user of the link

    # settings -----------------------------------------------------------------------------

    def data_version(self) -> int:
        return self.store.sync()

    def get_setting(self, key: str) -> str | None:
        found = self.store.get("set." + hex_key(key))
        return None if found is None else found[0].decode()

    def set_setting(self, key: str, value: str) -> None:
        self.store.put("set." + hex_key(key), value.encode())

    def set_setting_once(self, key: str, value: str) -> str:
        return self.store.create_or_get("set." + hex_key(key), value.encode()).decode()

    # connectors ---------------------------------------------------------------------------

    def create_connector(self, name: str, **options: Any) -> tuple[Connector, str]:
        check_name("connector", name)
        opts = _check_options(options)
        now = int(time.time())
        connector = Connector(
            id=secrets.new_id(8), name=name, created_at=now, updated_at=now, **opts
        )
        try:
            self.store.create("cname." + hex_key(name), connector.id.encode())
        except CasFailed:
            raise ConflictError("connector", name) from None
        self.store.put("conn." + connector.id, orjson.dumps(connector.to_dict()))
        key = self._add_key(connector.id, now)
        return connector, key

    def _add_key(self, connector_id: str, now: int) -> str:
        key = secrets.new_api_key()
        record = {"c": connector_id, "hint": secrets.hint(key), "at": now}
        self.store.put("key." + secrets.digest(key).hex(), orjson.dumps(record))
        return key

    def get_connector(self, name_or_id: str) -> Connector:
        found = self.store.get("conn." + name_or_id) if _safe(name_or_id) else None
        if found is None:
            named = self.store.get("cname." + hex_key(name_or_id), sync=False)
            if named is not None:
                found = self.store.get("conn." + named[0].decode(), sync=False)
        if found is None:
            raise NotFoundError("connector", name_or_id)
        return _connector(found[0])

    def list_connectors(self) -> list[Connector]:
        found = [_connector(v) for _, v, _ in self.store.items("conn.")]
        return sorted(found, key=lambda c: c.name)

    def update_connector(self, name_or_id: str, **options: Any) -> Connector:
        opts = _check_options(options)
        while True:
            connector = self.get_connector(name_or_id)
            found = self.store.get("conn." + connector.id, sync=False)
            if found is None:
                raise NotFoundError("connector", name_or_id)
            if not opts:
                return connector
            d = orjson.loads(found[0])
            d.update(opts, updated_at=int(time.time()))
            try:
                self.store.update("conn." + connector.id, orjson.dumps(d), found[1])
            except CasFailed:
                continue
            return self.get_connector(connector.id)

    def _keys_of(self, connector_id: str) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for k, v, _ in self.store.items("key."):
            record = orjson.loads(v)
            if record["c"] == connector_id:
                out.append((k, record))
        return sorted(out, key=lambda kr: (kr[1]["at"], "until" not in kr[1]))

    def rotate_key(self, name_or_id: str, grace: float = 0.0) -> tuple[Connector, str]:
        check_grace(grace)
        connector = self.get_connector(name_or_id)
        now = time.time()
        old = self._keys_of(connector.id)
        key = self._add_key(connector.id, int(now))
        for k, record in old:
            ends = record.get("until")
            if grace > 0 and (ends is None or ends > now):
                until = now + grace if ends is None else min(float(ends), now + grace)
                self.store.put(k, orjson.dumps(record | {"until": until}))
            else:
                self.store.delete(k)
        return connector, key

    def key_hints(self, connector_id: str) -> list[str]:
        out = []
        now = time.time()
        for _, record in self._keys_of(connector_id):
            until = record.get("until")
            if until is None:
                out.append(str(record["hint"]))
            elif until > now:
                stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(until))
                out.append(f"{record['hint']} (until {stamp})")
        return out

    def delete_connector(self, name_or_id: str) -> Connector:
        connector = self.get_connector(name_or_id)
        for k, _ in self._keys_of(connector.id):
            self.store.delete(k)  # keys first: a crash leaves no key to a half-deleted one
        self.store.delete("conn." + connector.id)
        self.store.delete("cname." + hex_key(connector.name))
        return connector

    def key_index(self) -> KeyIndex:
        version = self.store.sync()
        connectors = {
            k[len("conn.") :]: _connector(v) for k, v, _ in self.store.items("conn.", sync=False)
        }
        by_digest = {}
        expires = {}
        for k, v, _ in self.store.items("key.", sync=False):
            record = orjson.loads(v)
            if record["c"] in connectors:
                digest = bytes.fromhex(k[len("key.") :])
                by_digest[digest] = connectors[record["c"]]
                if record.get("until") is not None:
                    expires[digest] = float(record["until"])
        return KeyIndex(by_digest, version, expires)

    def connector_for_key(self, key: str) -> Connector | None:
        found = self.store.get("key." + secrets.digest(key).hex())
        if found is None:
            return None
        record = orjson.loads(found[0])
        if record.get("until") is not None and record["until"] <= time.time():
            return None
        try:
            return self.get_connector(record["c"])
        except NotFoundError:
            return None

    # refused requests ---------------------------------------------------------------------

    def record_refusals(self, entries: list[tuple[str, Refusal]], ring_size: int) -> None:
        """One ring per connector (``refused.<id>``: a list, oldest first), by
        compare-and-set, so workers on several nodes append without losing each other's."""
        by_connector: dict[str, list[Refusal]] = {}
        for cid, refusal in entries:
            by_connector.setdefault(cid, []).append(refusal)
        for cid, new in by_connector.items():
            key = "refused." + cid if _safe(cid) else "refused." + hex_key(cid)

            def appended(found: tuple[bytes, int] | None, new: list[Refusal] = new) -> bytes:
                ring = orjson.loads(found[0]) if found else []
                return orjson.dumps((ring + [asdict(r) for r in new])[-ring_size:])

            self.store.change(key, appended)

    def refusals(self, connector_id: str, limit: int) -> list[Refusal]:
        key = (
            "refused." + connector_id if _safe(connector_id) else "refused." + hex_key(connector_id)
        )
        found = self.store.get(key)
        ring = orjson.loads(found[0]) if found else []
        return [Refusal(**r) for r in reversed(ring)][:limit]
