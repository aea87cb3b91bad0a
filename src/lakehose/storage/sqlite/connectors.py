"""Connectors and their HEC API keys in the SQLite catalog."""

from __future__ import annotations

import time
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
from lakehose.storage.sqlite.store import CatalogStore


class SqliteConnectors(CatalogStore):
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
        check_grace(grace)
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
