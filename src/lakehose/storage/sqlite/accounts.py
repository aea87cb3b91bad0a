"""``Accounts`` (``storage/accounts.py``) in the SQLite catalog database."""

from __future__ import annotations

import time
from typing import Any

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
from lakehose.storage.sqlite.catalog import SqliteCatalog


class SqliteAccounts:
    """Users, sessions and the audit log, kept in the catalog database."""

    _USER_COLUMNS = "name, role, disabled, created_at, last_login"

    def __init__(self, catalog: SqliteCatalog) -> None:
        self.catalog = catalog

    @staticmethod
    def _user(row: tuple[Any, ...]) -> ConsoleUser:
        return ConsoleUser(row[0], check_role(row[1]), bool(row[2]), row[3], row[4])

    # users -------------------------------------------------------------------------------

    def create_user(self, name: str, role: str, password_hash: str) -> ConsoleUser:
        check_name("user", name)
        check_role(role)
        with self.catalog._tx() as c:
            if c.execute("SELECT 1 FROM console_users WHERE name = ?", (name,)).fetchone():
                raise ConflictError("user", name)
            c.execute(
                "INSERT INTO console_users (name, role, password_hash, created_at) "
                "VALUES (?, ?, ?, ?)",
                (name, role, password_hash, int(time.time())),
            )
        return self.get_user(name)

    def get_user(self, name: str) -> ConsoleUser:
        rows = self.catalog._query(
            f"SELECT {self._USER_COLUMNS} FROM console_users WHERE name = ?", (name,)
        )
        if not rows:
            raise NotFoundError("user", name)
        return self._user(rows[0])

    def list_users(self) -> list[ConsoleUser]:
        rows = self.catalog._query(f"SELECT {self._USER_COLUMNS} FROM console_users ORDER BY name")
        return [self._user(r) for r in rows]

    def password_hash(self, name: str) -> str | None:
        """The stored hash of an enabled user, or None (unknown or disabled)."""
        rows = self.catalog._query(
            "SELECT password_hash FROM console_users WHERE name = ? AND disabled = 0", (name,)
        )
        return str(rows[0][0]) if rows else None

    def set_password(self, name: str, password_hash: str) -> ConsoleUser:
        """A new password; the user's sessions end (a stolen session dies with the old one)."""
        self.get_user(name)
        with self.catalog._tx() as c:
            c.execute(
                "UPDATE console_users SET password_hash = ? WHERE name = ?", (password_hash, name)
            )
            c.execute("DELETE FROM console_sessions WHERE username = ?", (name,))
        return self.get_user(name)

    def set_role(self, name: str, role: str) -> ConsoleUser:
        self.get_user(name)
        with self.catalog._tx() as c:
            c.execute("UPDATE console_users SET role = ? WHERE name = ?", (check_role(role), name))
        return self.get_user(name)

    def set_disabled(self, name: str, disabled: bool) -> ConsoleUser:
        self.get_user(name)
        with self.catalog._tx() as c:
            c.execute("UPDATE console_users SET disabled = ? WHERE name = ?", (int(disabled), name))
            if disabled:
                c.execute("DELETE FROM console_sessions WHERE username = ?", (name,))
        return self.get_user(name)

    def delete_user(self, name: str) -> ConsoleUser:
        user = self.get_user(name)
        with self.catalog._tx() as c:
            c.execute("DELETE FROM console_sessions WHERE username = ?", (name,))
            c.execute("DELETE FROM console_users WHERE name = ?", (name,))
        return user

    # sessions ----------------------------------------------------------------------------

    def create_session(self, name: str, address: str) -> tuple[str, ConsoleSession]:
        """Sign ``name`` in: a new session secret (for the cookie) and the session."""
        secret = secrets.new_secret(32)
        csrf = secrets.new_secret(24)
        now = time.time()
        with self.catalog._tx() as c:
            c.execute(
                "INSERT INTO console_sessions "
                "(id_hash, username, csrf_token, address, created_at, last_seen) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (secrets.digest(secret), name, csrf, address, now, now),
            )
            c.execute("UPDATE console_users SET last_login = ? WHERE name = ?", (int(now), name))
        return secret, ConsoleSession(self.get_user(name), csrf, address, now, now)

    def session(self, secret: str, idle: float, absolute: float) -> ConsoleSession | None:
        """The live session a cookie names (and mark it used), or None; ends expired ones."""
        digest = secrets.digest(secret)
        rows = self.catalog._query(
            f"SELECT s.csrf_token, s.address, s.created_at, s.last_seen, "
            f"{', '.join('u.' + c for c in self._USER_COLUMNS.split(', '))} "
            "FROM console_sessions s JOIN console_users u ON u.name = s.username "
            "WHERE s.id_hash = ? AND u.disabled = 0",
            (digest,),
        )
        if not rows:
            return None
        csrf, address, created, last_seen, *user = rows[0]
        now = time.time()
        if now - last_seen > idle or now - created > absolute:
            self.end_session(secret)
            return None
        if now - last_seen > TOUCH_EVERY:
            with self.catalog._tx() as c:
                c.execute(
                    "UPDATE console_sessions SET last_seen = ? WHERE id_hash = ?", (now, digest)
                )
            last_seen = now
        return ConsoleSession(self._user(tuple(user)), csrf, address, created, last_seen)

    def end_session(self, secret: str) -> bool:
        with self.catalog._tx() as c:
            cur = c.execute(
                "DELETE FROM console_sessions WHERE id_hash = ?", (secrets.digest(secret),)
            )
            return cur.rowcount > 0

    def sweep_sessions(self, idle: float, absolute: float) -> int:
        """Delete sessions past either expiry; how many."""
        now = time.time()
        with self.catalog._tx() as c:
            cur = c.execute(
                "DELETE FROM console_sessions WHERE last_seen < ? OR created_at < ?",
                (now - idle, now - absolute),
            )
            return cur.rowcount

    def session_count(self, name: str) -> int:
        rows = self.catalog._query(
            "SELECT count(*) FROM console_sessions WHERE username = ?", (name,)
        )
        return int(rows[0][0])

    # audit log ---------------------------------------------------------------------------

    def audit(
        self, username: str, action: str, target: str = "", detail: str = "", address: str = ""
    ) -> None:
        with self.catalog._tx() as c:
            c.execute(
                "INSERT INTO audit_log (at, username, action, target, detail, address) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (time.time(), username, action, target, detail, address),
            )

    def audit_entries(self, limit: int = 200, before: int | None = None) -> list[AuditEntry]:
        """The newest entries first; ``before`` pages back from an entry id."""
        sql = "SELECT id, at, username, action, target, detail, address FROM audit_log"
        args: tuple[Any, ...] = ()
        if before is not None:
            sql += " WHERE id < ?"
            args = (before,)
        rows = self.catalog._query(sql + " ORDER BY id DESC LIMIT ?", (*args, limit))
        return [AuditEntry(*r) for r in rows]
