"""API clients, bearer tokens and failed-login limits in the SQLite catalog."""

from __future__ import annotations

import time
from typing import Any

import orjson

from lakehose.auth import scopes as scope_names
from lakehose.auth import secrets
from lakehose.errors import ConflictError, LimitError, NotFoundError
from lakehose.storage.catalog.clients import AccessToken, ApiClient, LoginLimit
from lakehose.storage.catalog.connectors import check_name
from lakehose.storage.sqlite.store import CatalogStore


class SqliteClients(CatalogStore):
    def create_client(self, name: str, scopes: list[str]) -> tuple[ApiClient, str]:
        """Create an API client; return it and its secret (shown only now)."""
        check_name("client", name)
        scope_list = scope_names.validate(scopes)
        if not scope_list:
            raise ValueError("an API client needs at least one scope")
        client_id = secrets.new_id(16)
        secret = secrets.new_secret(30)
        now = int(time.time())
        with self._tx() as c:
            if c.execute(
                "SELECT 1 FROM api_clients WHERE name = ? AND revoked_at IS NULL", (name,)
            ).fetchone():
                raise ConflictError("client", name)
            c.execute("DELETE FROM api_clients WHERE name = ?", (name,))
            c.execute(
                "INSERT INTO api_clients (client_id, name, secret_hash, scopes, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (client_id, name, secrets.digest(secret), orjson.dumps(scope_list).decode(), now),
            )
        return ApiClient(client_id, name, tuple(scope_list), now), secret

    @staticmethod
    def _client(row: tuple[Any, ...]) -> ApiClient:
        return ApiClient(row[0], row[1], tuple(orjson.loads(row[2])), row[3], row[4])

    def list_clients(self, include_revoked: bool = False) -> list[ApiClient]:
        sql = "SELECT client_id, name, scopes, created_at, revoked_at FROM api_clients"
        if not include_revoked:
            sql += " WHERE revoked_at IS NULL"
        return [self._client(r) for r in self._query(sql + " ORDER BY name")]

    def get_client(self, id_or_name: str) -> ApiClient:
        rows = self._query(
            "SELECT client_id, name, scopes, created_at, revoked_at FROM api_clients "
            "WHERE client_id = ? OR name = ?",
            (id_or_name, id_or_name),
        )
        if not rows:
            raise NotFoundError("client", id_or_name)
        return self._client(rows[0])

    def revoke_client(self, id_or_name: str) -> ApiClient:
        """Revoke a client and every token and stream session it holds."""
        client = self.get_client(id_or_name)
        with self._tx() as c:
            c.execute(
                "UPDATE api_clients SET revoked_at = ? WHERE client_id = ?",
                (int(time.time()), client.client_id),
            )
            c.execute(
                "UPDATE access_tokens SET revoked = 1 WHERE client_id = ?", (client.client_id,)
            )
            c.execute("DELETE FROM stream_sessions WHERE client_id = ?", (client.client_id,))
        return self.get_client(client.client_id)

    def rotate_client_secret(self, id_or_name: str) -> tuple[ApiClient, str]:
        """Give a client a new secret (shown only now); the old secret stops working, and so
        do the tokens issued with it."""
        client = self.get_client(id_or_name)
        if client.revoked_at is not None:
            raise ValueError(f"client {client.name!r} is revoked; create a new one")
        secret = secrets.new_secret(30)
        with self._tx() as c:
            c.execute(
                "UPDATE api_clients SET secret_hash = ? WHERE client_id = ?",
                (secrets.digest(secret), client.client_id),
            )
            c.execute(
                "UPDATE access_tokens SET revoked = 1 WHERE client_id = ?", (client.client_id,)
            )
        return client, secret

    def check_client_secret(self, client_id: str, secret: str) -> ApiClient | None:
        """The client if ``secret`` is right and the client is not revoked (constant time)."""
        rows = self._query(
            "SELECT secret_hash, client_id, name, scopes, created_at, revoked_at FROM api_clients "
            "WHERE client_id = ?",
            (client_id,),
        )
        stored = bytes(rows[0][0]) if rows else secrets.digest("\0" + client_id)
        ok = secrets.matches(secret, stored)
        if not rows or not ok or rows[0][5] is not None:
            return None
        return self._client(rows[0][1:])

    def issue_token(
        self, client: ApiClient, ttl: int, limit: int | None = None
    ) -> tuple[str, AccessToken]:
        """A new bearer token; LimitError when the client holds ``limit`` live ones already.

        Expired and revoked tokens are deleted here, so the table holds live ones only."""
        token = secrets.new_secret(32)
        now = int(time.time())
        info = AccessToken(client.client_id, frozenset(client.scopes), now, now + ttl)
        with self._tx() as c:
            c.execute("DELETE FROM access_tokens WHERE expires_at <= ? OR revoked = 1", (now,))
            if limit is not None:
                live, soonest = c.execute(
                    "SELECT COUNT(*), MIN(expires_at) FROM access_tokens WHERE client_id = ?",
                    (client.client_id,),
                ).fetchone()
                if live >= limit:
                    raise LimitError(
                        f"this client holds {live} live access tokens, its limit "
                        "(max_tokens_per_client); reuse one until it expires, or revoke one",
                        max(1.0, float(soonest - now)),
                    )
            c.execute(
                "INSERT INTO access_tokens (token_hash, client_id, scopes, issued_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    secrets.digest(token),
                    client.client_id,
                    orjson.dumps(sorted(client.scopes)).decode(),
                    now,
                    now + ttl,
                ),
            )
        return token, info

    def check_token(self, token: str) -> AccessToken | None:
        """What a bearer token grants, or None if unknown, expired or revoked."""
        token_digest = secrets.digest(token)
        rows = self._query(
            "SELECT client_id, scopes, issued_at, expires_at, revoked FROM access_tokens "
            "WHERE token_hash = ?",
            (token_digest,),
        )
        if not rows or rows[0][4] or rows[0][3] <= time.time():
            return None
        client_id, scopes, issued, expires, _ = rows[0]
        return AccessToken(
            client_id, frozenset(orjson.loads(scopes)), issued, expires, token_digest
        )

    def revoke_token(self, token: str, client_id: str | None = None) -> bool:
        """Revoke a bearer token (only if ``client_id`` holds it, when given), and end the
        stream sessions issued with it; True if it was live."""
        sql = "UPDATE access_tokens SET revoked = 1 WHERE token_hash = ? AND revoked = 0"
        token_digest = secrets.digest(token)
        args: tuple[Any, ...] = (token_digest,)
        if client_id is not None:
            sql += " AND client_id = ?"
            args += (client_id,)
        with self._tx() as c:
            live = c.execute(sql, args).rowcount > 0
            if live:
                c.execute("DELETE FROM stream_sessions WHERE issuer = ?", (token_digest,))
            return live

    def login_wait(self, limits: list[LoginLimit]) -> float:
        """Seconds until another login attempt is allowed under every limit (0: now)."""
        if not limits:
            return 0.0
        now = time.time()
        keys = [limit.key for limit in limits]
        rows = dict(
            (row[0], (row[1], row[2]))
            for row in self._query(
                f"SELECT key, tokens, stamp FROM login_failures WHERE key IN "
                f"({','.join('?' * len(keys))})",
                tuple(keys),
            )
        )
        wait = 0.0
        for limit in limits:
            if limit.key not in rows:
                continue
            tokens, stamp = rows[limit.key]
            level = min(limit.burst, tokens + (now - stamp) * limit.per_second)
            if level < 1.0:
                wait = max(wait, (1.0 - level) / limit.per_second)
        return wait

    def login_failed(self, limits: list[LoginLimit]) -> None:
        """Take one failed attempt from each limit's bucket; forget buckets that are full."""
        now = time.time()
        with self._tx() as c:
            for limit in limits:
                row = c.execute(
                    "SELECT tokens, stamp FROM login_failures WHERE key = ?", (limit.key,)
                ).fetchone()
                level = limit.burst
                if row is not None:
                    level = min(limit.burst, row[0] + (now - row[1]) * limit.per_second)
                c.execute(
                    "INSERT INTO login_failures (key, tokens, stamp) VALUES (?, ?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens, "
                    "stamp = excluded.stamp",
                    (limit.key, max(level - 1.0, 0.0), now),
                )
            longest = max((lim.burst / lim.per_second for lim in limits), default=0.0)
            c.execute("DELETE FROM login_failures WHERE stamp < ?", (now - max(longest, 3600),))

    def locked_out(self, prefix: str, per_second: float) -> dict[str, float]:
        """Keys starting with ``prefix`` whose bucket holds less than one attempt now, and
        the seconds until it will."""
        now = time.time()
        rows = self._query(
            "SELECT key, tokens, stamp FROM login_failures WHERE substr(key, 1, ?) = ? "
            "AND tokens + (? - stamp) * ? < 1.0",
            (len(prefix), prefix, now, per_second),
        )
        return {
            str(key)[len(prefix) :]: (1.0 - (tokens + (now - stamp) * per_second)) / per_second
            for key, tokens, stamp in rows
        }
