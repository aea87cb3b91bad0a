"""Console users, their sessions and the audit log in the cluster's catalog bucket.

Records (JSON): ``user.<hex name>`` ``{"role", "hash", "disabled", "created_at",
"last_login"}``; ``csess.<sha256 hex>`` a console session (the cookie only as its digest);
``audit.<20-digit ns>`` one audit line (ids are the time in ns, so they sort and page).
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from lakehose.auth import secrets
from lakehose.errors import ConflictError, NotFoundError
from lakehose.storage.accounts import (
    TOUCH_EVERY,
    AuditEntry,
    ConsoleSession,
    ConsoleUser,
    check_role,
)
from lakehose.storage.catalog.connectors import check_name
from lakehose.storage.jetstream.kvstore import CasFailed, KvMirror, hex_key


def _user(name: str, r: dict[str, Any]) -> ConsoleUser:
    return ConsoleUser(
        name, check_role(r["role"]), bool(r["disabled"]), r["created_at"], r["last_login"]
    )


class ClusterAccounts:
    """``Accounts`` (``storage/accounts.py``) over the catalog's mirrored bucket."""

    def __init__(self, store: KvMirror) -> None:
        self.store = store

    def _record(self, name: str) -> tuple[dict[str, Any], int]:
        found = self.store.get("user." + hex_key(name))
        if found is None:
            raise NotFoundError("user", name)
        return orjson.loads(found[0]), found[1]

    def _change(self, name: str, **changes: Any) -> ConsoleUser:
        while True:
            record, revision = self._record(name)
            record.update(changes)
            try:
                self.store.update("user." + hex_key(name), orjson.dumps(record), revision)
                return _user(name, record)
            except CasFailed:
                continue

    def _end_sessions_of(self, name: str) -> None:
        for k, v, _ in self.store.items("csess.", sync=False):
            if orjson.loads(v)["user"] == name:
                self.store.delete(k)

    # users -------------------------------------------------------------------------------

    def create_user(self, name: str, role: str, password_hash: str) -> ConsoleUser:
        check_name("user", name)
        record = {
            "role": check_role(role),
            "hash": password_hash,
            "disabled": False,
            "created_at": int(time.time()),
            "last_login": None,
        }
        try:
            self.store.create("user." + hex_key(name), orjson.dumps(record))
        except CasFailed:
            raise ConflictError("user", name) from None
        return _user(name, record)

    def get_user(self, name: str) -> ConsoleUser:
        return _user(name, self._record(name)[0])

    def list_users(self) -> list[ConsoleUser]:
        found = [
            _user(bytes.fromhex(k[len("user.") :]).decode(), orjson.loads(v))
            for k, v, _ in self.store.items("user.")
        ]
        return sorted(found, key=lambda u: u.name)

    def password_hash(self, name: str) -> str | None:
        try:
            record = self._record(name)[0]
        except NotFoundError:
            return None
        return None if record["disabled"] else str(record["hash"])

    def set_password(self, name: str, password_hash: str) -> ConsoleUser:
        user = self._change(name, hash=password_hash)
        self._end_sessions_of(name)
        return user

    def set_role(self, name: str, role: str) -> ConsoleUser:
        return self._change(name, role=check_role(role))

    def set_disabled(self, name: str, disabled: bool) -> ConsoleUser:
        user = self._change(name, disabled=bool(disabled))
        if disabled:
            self._end_sessions_of(name)
        return user

    def delete_user(self, name: str) -> ConsoleUser:
        user = self.get_user(name)
        self._end_sessions_of(name)
        self.store.delete("user." + hex_key(name))
        return user

    # sessions ----------------------------------------------------------------------------

    def create_session(self, name: str, address: str) -> tuple[str, ConsoleSession]:
        secret = secrets.new_secret(32)
        csrf = secrets.new_secret(24)
        now = time.time()
        record = {"user": name, "csrf": csrf, "address": address, "created": now, "seen": now}
        self.store.put("csess." + secrets.digest(secret).hex(), orjson.dumps(record))
        user = self._change(name, last_login=int(now))
        return secret, ConsoleSession(user, csrf, address, now, now)

    def session(self, secret: str, idle: float, absolute: float) -> ConsoleSession | None:
        key = "csess." + secrets.digest(secret).hex()
        found = self.store.get(key)
        if found is None:
            return None
        s = orjson.loads(found[0])
        try:
            record = self._record(s["user"])[0]
        except NotFoundError:
            return None
        if record["disabled"]:
            return None
        now = time.time()
        if now - s["seen"] > idle or now - s["created"] > absolute:
            self.store.delete(key)
            return None
        if now - s["seen"] > TOUCH_EVERY:
            s["seen"] = now
            try:
                self.store.update(key, orjson.dumps(s), found[1])
            except CasFailed:
                pass  # touched by another request meanwhile
        user = _user(s["user"], record)
        return ConsoleSession(user, s["csrf"], s["address"], s["created"], s["seen"])

    def end_session(self, secret: str) -> bool:
        key = "csess." + secrets.digest(secret).hex()
        if self.store.get(key) is None:
            return False
        return self.store.delete(key)

    def sweep_sessions(self, idle: float, absolute: float) -> int:
        now = time.time()
        swept = 0
        for k, v, _ in self.store.items("csess."):
            s = orjson.loads(v)
            if s["seen"] < now - idle or s["created"] < now - absolute:
                self.store.delete(k)
                swept += 1
        return swept

    def session_count(self, name: str) -> int:
        return sum(1 for _, v, _ in self.store.items("csess.") if orjson.loads(v)["user"] == name)

    # audit log ---------------------------------------------------------------------------

    def audit(
        self, username: str, action: str, target: str = "", detail: str = "", address: str = ""
    ) -> None:
        while True:
            at = time.time_ns()
            record = [username, action, target, detail, address]
            try:
                self.store.create(f"audit.{at:020d}", orjson.dumps(record))
                return
            except CasFailed:
                continue  # the same ns on another node: take the next

    def audit_entries(self, limit: int = 200, before: int | None = None) -> list[AuditEntry]:
        out = []
        for k, v, _ in sorted(self.store.items("audit."), reverse=True):
            at = int(k[len("audit.") :])
            if before is not None and at >= before:
                continue
            out.append(AuditEntry(at, at / 1e9, *orjson.loads(v)))
            if len(out) >= limit:
                break
        return out
