"""The catalog database: connectors and their API keys, API clients, tokens, stream sessions.

Shared by every worker and by the CLI (which may change it while the server runs;
workers notice through ``PRAGMA data_version`` and reload). Secrets are stored as
SHA-256 digests only (``auth/secrets.py``).
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from lakehose.auth import scopes as scope_names
from lakehose.auth import secrets
from lakehose.errors import ConflictError, LimitError, NotFoundError
from lakehose.storage import migrations
from lakehose.storage.sqlite import connect, connect_readonly

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
INDEX_RE = re.compile(r"^[a-z0-9_][a-z0-9_-]{0,79}$")
DEFAULT_INDEX = "main"


def check_name(kind: str, name: str) -> str:
    if not NAME_RE.match(name):
        raise ValueError(
            f"{kind} name {name!r} must be 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_index(name: str) -> str:
    if not INDEX_RE.match(name):
        raise ValueError(
            f"index name {name!r} must be 1-80 lower-case letters, digits, '_' or '-', "
            "not starting with '-'"
        )
    return name


@dataclass(frozen=True, slots=True)
class Connector:
    """A way in: a named HEC endpoint configuration with one or more API keys."""

    id: str
    name: str
    description: str = ""
    parser: str | None = None
    default_index: str | None = None
    default_source: str | None = None
    default_sourcetype: str | None = None
    default_host: str | None = None
    allowed_indexes: tuple[str, ...] = ()
    use_ack: bool = False
    allow_query_token: bool = False
    enabled: bool = True
    rate_rps: float | None = None
    rate_bps: float | None = None
    created_at: int = 0
    updated_at: int = 0

    @property
    def index(self) -> str:
        return self.default_index or DEFAULT_INDEX

    def allows_index(self, index: str) -> bool:
        """Any index unless ``allowed_indexes`` restricts them (then those and the default).

        Real senders name their own indexes (winston's ``winston-index``); refusing them
        would refuse every event, so only a connector that lists indexes enforces a list.
        """
        if index == self.index or not self.allowed_indexes:
            return True
        return index in self.allowed_indexes

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["allowed_indexes"] = list(self.allowed_indexes)
        return d


CONNECTOR_OPTIONS = (
    "description",
    "parser",
    "default_index",
    "default_source",
    "default_sourcetype",
    "default_host",
    "allowed_indexes",
    "use_ack",
    "allow_query_token",
    "enabled",
    "rate_rps",
    "rate_bps",
)


@dataclass(frozen=True, slots=True)
class ApiClient:
    """A way out: OAuth2 client credentials with scopes."""

    client_id: str
    name: str
    scopes: tuple[str, ...]
    created_at: int
    revoked_at: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["scopes"] = list(self.scopes)
        return d


@dataclass(frozen=True, slots=True)
class AccessToken:
    """What a valid bearer token grants."""

    client_id: str
    scopes: frozenset[str]
    issued_at: int
    expires_at: int
    digest: bytes = b""  # the token's SHA-256, to name it without the secret


@dataclass(frozen=True, slots=True)
class StreamSession:
    """A data-feed session: what a session token opens, until when (epoch seconds)."""

    client_id: str
    app_id: str
    partition: int
    issued_at: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class LoginLimit:
    """A token bucket of failed logins for one key (a client id or a source address)."""

    key: str
    burst: float
    per_second: float


@dataclass(slots=True)
class KeyIndex:
    """Digest of every HEC API key -> its connector; what the ingest path authenticates with."""

    by_digest: dict[bytes, Connector] = field(default_factory=dict)
    version: int = -1
    # digest -> epoch seconds after which the key stops working (rotated with a grace period)
    expires: dict[bytes, float] = field(default_factory=dict)

    def connector(self, digest: bytes, now: float) -> Connector | None:
        """The connector of a key digest, unless the key's grace period is over."""
        found = self.by_digest.get(digest)
        if found is not None and digest in self.expires and now >= self.expires[digest]:
            return None
        return found


class Catalog:
    """Access to ``catalog.db``. Thread-safe; every call is one short transaction."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        self._conn = connect_readonly(path) if readonly else connect(path)
        self._lock = threading.RLock()

    @classmethod
    def create(cls, path: Path) -> Catalog:
        """Open the catalog, creating and migrating it when needed."""
        conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            migrations.apply(conn, migrations.CATALOG_MIGRATIONS)
        finally:
            conn.close()
        return cls(path)

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def data_version(self) -> int:
        """Changes whenever another connection (another process, the CLI) commits."""
        with self._lock:
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    # settings --------------------------------------------------------------------------

    def get_setting(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM settings WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_setting(self, key: str, value: str) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def set_setting_once(self, key: str, value: str) -> str:
        """Store ``value`` unless ``key`` is set already; return the stored value."""
        with self._tx() as c:
            c.execute("INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)", (key, value))
            return str(c.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()[0])

    # connectors ------------------------------------------------------------------------

    _CONNECTOR_COLUMNS = (
        "id, name, description, parser, default_index, default_source, default_sourcetype, "
        "default_host, allowed_indexes, use_ack, allow_query_token, enabled, rate_rps, rate_bps, "
        "created_at, updated_at"
    )

    @staticmethod
    def _connector(row: tuple[Any, ...]) -> Connector:
        values = list(row)
        values[8] = tuple(orjson.loads(values[8]))
        values[9], values[10], values[11] = bool(values[9]), bool(values[10]), bool(values[11])
        return Connector(*values)

    @staticmethod
    def _check_options(options: dict[str, Any]) -> dict[str, Any]:
        unknown = set(options) - set(CONNECTOR_OPTIONS)
        if unknown:
            raise ValueError(f"unknown connector option(s): {', '.join(sorted(unknown))}")
        out = dict(options)
        if out.get("default_index") is not None:
            check_index(out["default_index"])
        if "allowed_indexes" in out:
            out["allowed_indexes"] = orjson.dumps(
                sorted({check_index(i) for i in out["allowed_indexes"] or ()})
            ).decode()
        for flag in ("use_ack", "allow_query_token", "enabled"):
            if flag in out:
                out[flag] = int(bool(out[flag]))
        for rate in ("rate_rps", "rate_bps"):
            if out.get(rate) is not None and float(out[rate]) <= 0:
                raise ValueError(f"{rate} must be positive")
        return out

    def create_connector(self, name: str, **options: Any) -> tuple[Connector, str]:
        """Create a connector with one API key; return it and the key (shown only now)."""
        check_name("connector", name)
        opts = self._check_options(options)
        opts.setdefault("allowed_indexes", "[]")
        now = int(time.time())
        cid = secrets.new_id(8)
        key = secrets.new_api_key()
        cols = ["id", "name", "created_at", "updated_at", *opts]
        with self._tx() as c:
            if c.execute("SELECT 1 FROM connectors WHERE name = ?", (name,)).fetchone():
                raise ConflictError("connector", name)
            c.execute(
                f"INSERT INTO connectors ({', '.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                (cid, name, now, now, *opts.values()),
            )
            c.execute(
                "INSERT INTO api_keys (key_hash, connector_id, hint, created_at) VALUES (?,?,?,?)",
                (secrets.digest(key), cid, secrets.hint(key), now),
            )
        return self.get_connector(name), key

    def get_connector(self, name_or_id: str) -> Connector:
        rows = self._query(
            f"SELECT {self._CONNECTOR_COLUMNS} FROM connectors WHERE name = ? OR id = ?",
            (name_or_id, name_or_id),
        )
        if not rows:
            raise NotFoundError("connector", name_or_id)
        return self._connector(rows[0])

    def list_connectors(self) -> list[Connector]:
        rows = self._query(f"SELECT {self._CONNECTOR_COLUMNS} FROM connectors ORDER BY name")
        return [self._connector(r) for r in rows]

    def update_connector(self, name_or_id: str, **options: Any) -> Connector:
        connector = self.get_connector(name_or_id)
        opts = self._check_options(options)
        if opts:
            sets = ", ".join(f"{k} = ?" for k in opts)
            with self._tx() as c:
                c.execute(
                    f"UPDATE connectors SET {sets}, updated_at = ? WHERE id = ?",
                    (*opts.values(), int(time.time()), connector.id),
                )
        return self.get_connector(connector.id)

    def rotate_key(self, name_or_id: str, grace: float = 0.0) -> tuple[Connector, str]:
        """Give a connector one new key; the old ones stop working now, or after ``grace``
        seconds (zero-downtime rotation: senders switch keys meanwhile)."""
        connector = self.get_connector(name_or_id)
        key = secrets.new_api_key()
        now = int(time.time())
        if grace < 0:
            raise ValueError("grace must not be negative")
        with self._tx() as c:
            c.execute(
                "DELETE FROM api_keys WHERE connector_id = ? AND expires_at <= ?",
                (connector.id, time.time()),
            )
            if grace > 0:
                c.execute(
                    "UPDATE api_keys SET expires_at = min(coalesce(expires_at, ?), ?) "
                    "WHERE connector_id = ?",
                    (time.time() + grace, time.time() + grace, connector.id),
                )
            else:
                c.execute("DELETE FROM api_keys WHERE connector_id = ?", (connector.id,))
            c.execute(
                "INSERT INTO api_keys (key_hash, connector_id, hint, created_at) VALUES (?,?,?,?)",
                (secrets.digest(key), connector.id, secrets.hint(key), now),
            )
            c.execute("UPDATE connectors SET updated_at = ? WHERE id = ?", (now, connector.id))
        return connector, key

    def key_hints(self, connector_id: str) -> list[str]:
        """The hints of a connector's live keys (``…1e2a``; ``until <time>`` when expiring)."""
        out = []
        for hint, expires_at in self._query(
            "SELECT hint, expires_at FROM api_keys WHERE connector_id = ? "
            "AND (expires_at IS NULL OR expires_at > ?) ORDER BY created_at",
            (connector_id, time.time()),
        ):
            if expires_at is None:
                out.append(hint)
            else:
                until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires_at))
                out.append(f"{hint} (until {until})")
        return out

    def delete_connector(self, name_or_id: str) -> Connector:
        connector = self.get_connector(name_or_id)
        with self._tx() as c:
            c.execute("DELETE FROM api_keys WHERE connector_id = ?", (connector.id,))
            c.execute("DELETE FROM connectors WHERE id = ?", (connector.id,))
        return connector

    def key_index(self) -> KeyIndex:
        """Every key digest with its connector, read in one snapshot."""
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
                connectors = {
                    row[0]: self._connector(row)
                    for row in self._conn.execute(
                        f"SELECT {self._CONNECTOR_COLUMNS} FROM connectors"
                    )
                }
                keys = self._conn.execute(
                    "SELECT key_hash, connector_id, expires_at FROM api_keys"
                ).fetchall()
            finally:
                self._conn.execute("COMMIT")
        return KeyIndex(
            {bytes(h): connectors[cid] for h, cid, _ in keys if cid in connectors},
            version,
            {bytes(h): float(exp) for h, _, exp in keys if exp is not None},
        )

    def connector_for_key(self, key: str) -> Connector | None:
        rows = self._query(
            "SELECT connector_id FROM api_keys WHERE key_hash = ? "
            "AND (expires_at IS NULL OR expires_at > ?)",
            (secrets.digest(key), time.time()),
        )
        return self.get_connector(rows[0][0]) if rows else None

    # API clients and tokens ------------------------------------------------------------

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

    # failed logins ---------------------------------------------------------------------

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

    # stream sessions -------------------------------------------------------------------

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

    def session_by_digest(self, token_digest: bytes) -> StreamSession | None:
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
                "(app_id, partition, owner, opened_at, heartbeat, position) VALUES (?, ?, ?, ?, ?, ?)",
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
