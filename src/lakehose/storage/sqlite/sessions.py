"""Stream sessions and connection slots in the SQLite catalog."""

from __future__ import annotations

import time

from lakehose.auth import secrets
from lakehose.errors import LimitError
from lakehose.storage.catalog.sessions import StreamSession
from lakehose.storage.sqlite.store import CatalogStore


class SqliteSessions(CatalogStore):
    def create_session(
        self,
        client_id: str,
        app_id: str,
        partition: int,
        ttl: float,
        issuer: bytes | None = None,
    ) -> tuple[str, StreamSession]:
        """A new session token for ``(client, appId, partition)``, valid ``ttl`` seconds;
        ``issuer`` is the digest of the bearer token that asked (revoking it ends the session)."""
        token = secrets.new_secret(32)
        now = time.time()
        session = StreamSession(client_id, app_id, partition, now, now + ttl)
        with self._tx() as c:
            c.execute("DELETE FROM stream_sessions WHERE expires_at < ?", (now - 3600,))
            c.execute(
                "INSERT INTO stream_sessions "
                "(token_hash, client_id, app_id, partition, issued_at, expires_at, issuer) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (secrets.digest(token), client_id, app_id, partition, now, now + ttl, issuer),
            )
        return token, session

    def reserve_sessions(self, client_id: str, count: int, limit: int, grace: float) -> None:
        """Delete sessions past their grace; LimitError if ``count`` more would exceed
        ``limit`` live sessions of the client."""
        now = time.time()
        with self._tx() as c:
            c.execute("DELETE FROM stream_sessions WHERE expires_at < ?", (now - grace,))
            live, soonest = c.execute(
                "SELECT COUNT(*), MIN(expires_at) FROM stream_sessions WHERE client_id = ?",
                (client_id,),
            ).fetchone()
        if live + count > limit:
            raise LimitError(
                f"this client holds {live} live stream sessions; {count} more would pass its "
                "limit (max_sessions_per_client); reuse a session (refresh it) instead of "
                "discovering again",
                max(1.0, float(soonest + grace - now)),
            )

    def open_feeds(self, slot_prefix: str) -> int:
        """How many feed slots whose name starts with ``slot_prefix`` are held."""
        rows = self._query(
            "SELECT COUNT(*) FROM stream_connections WHERE substr(app_id, 1, ?) = ?",
            (len(slot_prefix), slot_prefix),
        )
        return int(rows[0][0])

    def check_session(self, token: str) -> StreamSession | None:
        """The session a token names (expired or not), or None if unknown or revoked."""
        return self.session_by_digest(secrets.digest(token))

    def session_by_digest(self, token_digest: bytes, fresh: bool = True) -> StreamSession | None:
        rows = self._query(
            "SELECT client_id, app_id, partition, issued_at, expires_at FROM stream_sessions "
            "WHERE token_hash = ?",
            (token_digest,),
        )
        return StreamSession(*rows[0]) if rows else None

    def refresh_sessions(self, client_id: str, app_id: str, ttl: float, grace: float = 0.0) -> int:
        """Extend every live session of ``(client, appId)``, all partitions; return how many.

        A session is live until ``grace`` seconds past its expiry. One refresh renews the
        whole appId, because some consumers only ever refresh partition 0.
        """
        now = time.time()
        with self._tx() as c:
            cur = c.execute(
                "UPDATE stream_sessions SET expires_at = ? WHERE client_id = ? AND app_id = ? "
                "AND expires_at > ?",
                (now + ttl, client_id, app_id, now - grace),
            )
            return cur.rowcount

    def claim_connection(
        self,
        app_id: str,
        partition: int,
        owner: str,
        stale_after: float,
        position: int | None = None,
    ) -> bool:
        """Take the one live feed slot of ``(appId, partition)``; False if someone holds it.

        A slot whose heartbeat is older than ``stale_after`` seconds belonged to a process
        that died, and is taken over.
        """
        now = time.time()
        with self._tx() as c:
            c.execute(
                "DELETE FROM stream_connections WHERE app_id = ? AND partition = ? "
                "AND heartbeat < ?",
                (app_id, partition, now - stale_after),
            )
            cur = c.execute(
                "INSERT OR IGNORE INTO stream_connections "
                "(app_id, partition, owner, opened_at, heartbeat, position) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (app_id, partition, owner, now, now, position),
            )
            return cur.rowcount == 1

    def heartbeat_connection(
        self, app_id: str, partition: int, owner: str, position: int | None = None
    ) -> bool:
        """Mark the slot alive (and note the feed's next offset); False if ``owner`` no longer
        holds it."""
        with self._tx() as c:
            cur = c.execute(
                "UPDATE stream_connections SET heartbeat = ?, position = coalesce(?, position) "
                "WHERE app_id = ? AND partition = ? AND owner = ?",
                (time.time(), position, app_id, partition, owner),
            )
            return cur.rowcount == 1

    def open_connections(self) -> list[tuple[str, int, float, float, int | None]]:
        """Open data feeds: ``(app_id, partition, opened_at, last heartbeat, next offset as of
        that heartbeat)``, times in epoch s."""
        rows = self._query(
            "SELECT app_id, partition, opened_at, heartbeat, position FROM stream_connections "
            "ORDER BY app_id, partition"
        )
        return [
            (str(r[0]), int(r[1]), float(r[2]), float(r[3]), None if r[4] is None else int(r[4]))
            for r in rows
        ]

    def connection_owner(self, app_id: str, partition: int) -> str | None:
        """Who holds the feed slot of ``(appId, partition)``, if anyone."""
        rows = self._query(
            "SELECT owner FROM stream_connections WHERE app_id = ? AND partition = ?",
            (app_id, partition),
        )
        return str(rows[0][0]) if rows else None

    def release_connection(self, app_id: str, partition: int, owner: str) -> None:
        with self._tx() as c:
            c.execute(
                "DELETE FROM stream_connections WHERE app_id = ? AND partition = ? AND owner = ?",
                (app_id, partition, owner),
            )

    def release_all_connections(self) -> None:
        """At start-up: no feed connection of a previous run is alive."""
        with self._tx() as c:
            c.execute("DELETE FROM stream_connections")
