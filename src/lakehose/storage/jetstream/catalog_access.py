"""API clients, bearer tokens, failed-login buckets, stream sessions and feed slots in KV.

Records (JSON), secrets only as SHA-256 digests: ``client.<id>``; ``token.<sha256 hex>``;
``sess.<sha256 hex>``; ``slot.<hex appId>.<partition>`` (the one live feed of an appId and
partition, claimed with create, taken over from a dead owner with compare-and-set);
``login.<hex key>`` (a token bucket of failed logins).

Limits that count records (tokens and sessions per client) hold across nodes: each
issue first reserves in the client's ledger by compare-and-set (``ledger.py``).
Feed slots are in ``catalog_slots.py``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson

from lakehose.auth import scopes as scope_names
from lakehose.auth import secrets
from lakehose.errors import ConflictError, LimitError, NotFoundError
from lakehose.storage.catalog.clients import AccessToken, ApiClient, LoginLimit
from lakehose.storage.catalog.connectors import check_name
from lakehose.storage.catalog.sessions import StreamSession
from lakehose.storage.jetstream.catalog_slots import FeedSlots
from lakehose.storage.jetstream.kvstore import CasFailed, KvMirror, hex_key
from lakehose.storage.jetstream.ledger import new_reservation, reserve


def _client(value: bytes) -> ApiClient:
    d = orjson.loads(value)
    return ApiClient(
        d["client_id"], d["name"], tuple(d["scopes"]), d["created_at"], d["revoked_at"]
    )


class AccessRecords(FeedSlots):
    """Clients, tokens, logins, sessions and slots over a :class:`KvMirror`."""

    store: KvMirror
    _local: threading.local

    @property
    def _reserved(self) -> dict[str, str]:
        """client id -> this thread's last session reservation."""
        found: dict[str, str] | None = getattr(self._local, "reserved", None)
        if found is None:
            found = self._local.reserved = {}
        return found

    # clients ------------------------------------------------------------------------------

    def create_client(self, name: str, scopes: list[str]) -> tuple[ApiClient, str]:
        check_name("client", name)
        scope_list = scope_names.validate(scopes)
        if not scope_list:
            raise ValueError("an API client needs at least one scope")
        if any(c.name == name for c in self.list_clients()):
            raise ConflictError("client", name)
        for k, v, _ in self.store.items("client.", sync=False):
            if orjson.loads(v)["name"] == name:
                self.store.delete(k)  # a revoked client of the same name goes
        client = ApiClient(secrets.new_id(16), name, tuple(scope_list), int(time.time()))
        secret = secrets.new_secret(30)
        record = client.to_dict() | {"secret": secrets.digest(secret).hex()}
        self.store.put("client." + client.client_id, orjson.dumps(record))
        return client, secret

    def list_clients(self, include_revoked: bool = False) -> list[ApiClient]:
        found = [_client(v) for _, v, _ in self.store.items("client.")]
        return sorted(
            (c for c in found if include_revoked or c.revoked_at is None), key=lambda c: c.name
        )

    def get_client(self, id_or_name: str) -> ApiClient:
        for client in self.list_clients(include_revoked=True):
            if id_or_name in (client.client_id, client.name):
                return client
        raise NotFoundError("client", id_or_name)

    def revoke_client(self, id_or_name: str) -> ApiClient:
        client = self.get_client(id_or_name)
        found = self.store.get("client." + client.client_id, sync=False)
        assert found is not None
        record = orjson.loads(found[0]) | {"revoked_at": int(time.time())}
        self.store.put("client." + client.client_id, orjson.dumps(record))
        for prefix in ("token.", "sess."):
            for k, v, _ in self.store.items(prefix, sync=False):
                if orjson.loads(v)["client_id"] == client.client_id:
                    self.store.delete(k)
        return self.get_client(client.client_id)

    def check_client_secret(self, client_id: str, secret: str) -> ApiClient | None:
        safe = client_id.isascii() and client_id.isalnum()
        found = self.store.get("client." + client_id) if safe else None
        record = orjson.loads(found[0]) if found else None
        stored = bytes.fromhex(record["secret"]) if record else secrets.digest("\0" + client_id)
        ok = secrets.matches(secret, stored)
        if record is None or not ok or record["revoked_at"] is not None:
            return None
        return _client(found[0]) if found else None  # found is set when record is

    def rotate_client_secret(self, id_or_name: str) -> tuple[ApiClient, str]:
        """A new secret (shown only now); the old one and the tokens issued with it stop."""
        while True:
            client = self.get_client(id_or_name)
            if client.revoked_at is not None:
                raise ValueError(f"client {client.name!r} is revoked; create a new one")
            found = self.store.get("client." + client.client_id, sync=False)
            assert found is not None
            secret = secrets.new_secret(30)
            record = orjson.loads(found[0]) | {"secret": secrets.digest(secret).hex()}
            try:
                self.store.update("client." + client.client_id, orjson.dumps(record), found[1])
                break
            except CasFailed:
                continue
        for k, v, _ in self.store.items("token.", sync=False):
            if orjson.loads(v)["client_id"] == client.client_id:
                self.store.delete(k)
        return client, secret

    # tokens -------------------------------------------------------------------------------

    def issue_token(
        self, client: ApiClient, ttl: int, limit: int | None = None
    ) -> tuple[str, AccessToken]:
        token = secrets.new_secret(32)
        now = int(time.time())
        res = new_reservation()

        def live() -> dict[str, int]:
            out: dict[str, int] = {}
            for k, v, _ in self.store.items("token.", sync=False):
                record = orjson.loads(v)
                if record["expires_at"] <= now:
                    self.store.delete(k)
                elif record["client_id"] == client.client_id:
                    rid = str(record.get("res", ""))
                    out[rid] = out.get(rid, 0) + 1
            return out

        def refuse(live_count: int) -> None:
            if limit is not None and live_count + 1 > limit:
                raise LimitError(
                    f"this client holds {live_count} live access tokens, its limit "
                    "(max_tokens_per_client); reuse one until it expires, or revoke one",
                    1.0,
                )

        reserve(self.store, "tlim." + client.client_id, 1, live, refuse, res)
        record = {
            "client_id": client.client_id,
            "scopes": sorted(client.scopes),
            "issued_at": now,
            "expires_at": now + ttl,
            "res": res,
        }
        self.store.put("token." + secrets.digest(token).hex(), orjson.dumps(record))
        return token, AccessToken(client.client_id, frozenset(client.scopes), now, now + ttl)

    def check_token(self, token: str) -> AccessToken | None:
        digest = secrets.digest(token)
        found = self.store.get("token." + digest.hex())
        if found is None:
            return None
        r = orjson.loads(found[0])
        if r["expires_at"] <= time.time():
            return None
        return AccessToken(
            r["client_id"], frozenset(r["scopes"]), r["issued_at"], r["expires_at"], digest
        )

    def revoke_token(self, token: str, client_id: str | None = None) -> bool:
        digest = secrets.digest(token)
        found = self.store.get("token." + digest.hex())
        if found is None:
            return False
        if client_id is not None and orjson.loads(found[0])["client_id"] != client_id:
            return False
        if not self.store.delete("token." + digest.hex(), found[1]):
            return False
        for k, v, _ in self.store.items("sess.", sync=False):
            if orjson.loads(v).get("issuer") == digest.hex():
                self.store.delete(k)
        return True

    # failed logins ------------------------------------------------------------------------

    def login_wait(self, limits: list[LoginLimit]) -> float:
        now = time.time()
        wait = 0.0
        for limit in limits:
            found = self.store.get("login." + hex_key(limit.key))
            if found is None:
                continue
            tokens, stamp = orjson.loads(found[0])
            level = min(limit.burst, tokens + (now - stamp) * limit.per_second)
            if level < 1.0:
                wait = max(wait, (1.0 - level) / limit.per_second)
        return wait

    def login_failed(self, limits: list[LoginLimit]) -> None:
        for limit in limits:

            def drained(found: tuple[bytes, int] | None, limit: LoginLimit = limit) -> bytes:
                now = time.time()
                level = limit.burst
                if found is not None:
                    tokens, stamp = orjson.loads(found[0])
                    level = min(limit.burst, tokens + (now - stamp) * limit.per_second)
                return orjson.dumps([max(level - 1.0, 0.0), now])

            self.store.change("login." + hex_key(limit.key), drained)

    def locked_out(self, prefix: str, per_second: float) -> dict[str, float]:
        now = time.time()
        out = {}
        for k, v, _ in self.store.items("login." + hex_key(prefix)):
            name = bytes.fromhex(k[len("login.") :]).decode()
            tokens, stamp = orjson.loads(v)
            level = tokens + (now - stamp) * per_second
            if name.startswith(prefix) and level < 1.0:
                out[name[len(prefix) :]] = (1.0 - level) / per_second
        return out

    # stream sessions ----------------------------------------------------------------------

    def create_session(
        self,
        client_id: str,
        app_id: str,
        partition: int,
        ttl: float,
        issuer: bytes | None = None,
    ) -> tuple[str, StreamSession]:
        token = secrets.new_secret(32)
        now = time.time()
        session = StreamSession(client_id, app_id, partition, now, now + ttl)
        record: dict[str, Any] = {
            "client_id": client_id,
            "app_id": app_id,
            "partition": partition,
            "issued_at": now,
            "expires_at": now + ttl,
            "issuer": issuer.hex() if issuer else None,
            "res": self._reserved.get(client_id, ""),
        }
        self.store.put("sess." + secrets.digest(token).hex(), orjson.dumps(record))
        return token, session

    def _sessions(self) -> list[tuple[str, dict[str, Any], int]]:
        return [(k, orjson.loads(v), r) for k, v, r in self.store.items("sess.")]

    def reserve_sessions(self, client_id: str, count: int, limit: int, grace: float) -> None:
        """Reserve ``count`` sessions in the client's ledger; the sessions this thread
        creates next carry the reservation's id (discovery reserves, then creates)."""
        now = time.time()
        res = new_reservation()
        soonest: list[float] = []

        def live() -> dict[str, int]:
            out: dict[str, int] = {}
            soonest.clear()
            for k, s, _ in self._sessions():
                if s["expires_at"] < now - grace:
                    self.store.delete(k)
                elif s["client_id"] == client_id:
                    rid = str(s.get("res") or "")
                    out[rid] = out.get(rid, 0) + 1
                    soonest.append(s["expires_at"])
            return out

        def refuse(live_count: int) -> None:
            if live_count + count > limit:
                raise LimitError(
                    f"this client holds {live_count} live stream sessions; {count} more would "
                    "pass its limit (max_sessions_per_client); reuse a session (refresh it) "
                    "instead of discovering again",
                    max(1.0, float(min(soonest, default=now) + grace - now)),
                )

        reserve(self.store, "slim." + client_id, count, live, refuse, res)
        self._reserved[client_id] = res

    def open_feeds(self, slot_prefix: str) -> int:
        return sum(
            1
            for k, _, _ in self.store.items("slot.")
            if bytes.fromhex(k.split(".")[1]).decode().startswith(slot_prefix)
        )

    def check_session(self, token: str) -> StreamSession | None:
        return self.session_by_digest(secrets.digest(token))

    def session_by_digest(self, token_digest: bytes, fresh: bool = True) -> StreamSession | None:
        found = self.store.get("sess." + token_digest.hex(), sync=fresh)
        if found is None:
            return None
        s = orjson.loads(found[0])
        return StreamSession(
            s["client_id"], s["app_id"], s["partition"], s["issued_at"], s["expires_at"]
        )

    def refresh_sessions(self, client_id: str, app_id: str, ttl: float, grace: float = 0.0) -> int:
        now = time.time()
        renewed = 0
        for k, s, r in self._sessions():
            if (
                s["client_id"] == client_id
                and s["app_id"] == app_id
                and s["expires_at"] > now - grace
            ):
                s["expires_at"] = now + ttl
                try:
                    self.store.update(k, orjson.dumps(s), r)
                    renewed += 1
                except CasFailed:
                    continue  # revoked or renewed meanwhile
        return renewed
