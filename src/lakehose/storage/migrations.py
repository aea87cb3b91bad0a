"""Named schema migrations, applied once each and recorded in a ``migrations`` table.

Append new migrations to the end of a list; never edit or reorder one that shipped.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence

Migration = tuple[str, Callable[[sqlite3.Connection], None]]


def _script(sql: str) -> Callable[[sqlite3.Connection], None]:
    def run(conn: sqlite3.Connection) -> None:
        for statement in sql.split(";"):
            if statement.strip():
                conn.execute(statement)

    return run


PARTITION_MIGRATIONS: Sequence[Migration] = (
    (
        "0001_record_batches",
        _script(
            """
            CREATE TABLE batches (
                first_offset INTEGER PRIMARY KEY,
                count        INTEGER NOT NULL,
                min_time     INTEGER NOT NULL,
                max_time     INTEGER NOT NULL,
                ingest_time  INTEGER NOT NULL,
                connector    TEXT NOT NULL,
                idx          TEXT NOT NULL,
                sourcetype   TEXT NOT NULL,
                raw_bytes    INTEGER NOT NULL,
                stored_bytes INTEGER NOT NULL
            );
            CREATE INDEX batches_max_time ON batches(max_time);
            CREATE INDEX batches_ingest_time ON batches(ingest_time);
            CREATE TABLE batch_data (
                first_offset INTEGER PRIMARY KEY,
                data         BLOB NOT NULL
            );
            CREATE TABLE state (
                id           INTEGER PRIMARY KEY CHECK (id = 0),
                next_offset  INTEGER NOT NULL,
                start_offset INTEGER NOT NULL,
                stored_bytes INTEGER NOT NULL
            );
            INSERT INTO state VALUES (0, 0, 0, 0);
            CREATE TABLE connector_totals (
                connector       TEXT PRIMARY KEY,
                events          INTEGER NOT NULL,
                bytes           INTEGER NOT NULL,
                last_event_time INTEGER NOT NULL
            );
            CREATE TABLE ack_channels (
                channel   TEXT PRIMARY KEY,
                next_id   INTEGER NOT NULL,
                last_used INTEGER NOT NULL
            );
            CREATE TABLE pending_acks (
                channel TEXT NOT NULL,
                ack_id  INTEGER NOT NULL,
                created INTEGER NOT NULL,
                PRIMARY KEY (channel, ack_id)
            ) WITHOUT ROWID
            """
        ),
    ),
)

CATALOG_MIGRATIONS: Sequence[Migration] = (
    (
        "0001_connectors",
        _script(
            """
            CREATE TABLE connectors (
                id                 TEXT PRIMARY KEY,
                name               TEXT NOT NULL UNIQUE,
                description        TEXT NOT NULL DEFAULT '',
                parser             TEXT,
                default_index      TEXT,
                default_source     TEXT,
                default_sourcetype TEXT,
                default_host       TEXT,
                allowed_indexes    TEXT NOT NULL DEFAULT '[]',
                use_ack            INTEGER NOT NULL DEFAULT 0,
                allow_query_token  INTEGER NOT NULL DEFAULT 0,
                enabled            INTEGER NOT NULL DEFAULT 1,
                rate_rps           REAL,
                rate_bps           REAL,
                created_at         INTEGER NOT NULL,
                updated_at         INTEGER NOT NULL
            );
            CREATE TABLE api_keys (
                key_hash     BLOB PRIMARY KEY,
                connector_id TEXT NOT NULL REFERENCES connectors(id) ON DELETE CASCADE,
                hint         TEXT NOT NULL,
                created_at   INTEGER NOT NULL
            );
            CREATE INDEX api_keys_connector ON api_keys(connector_id);
            CREATE TABLE settings (
                key   TEXT PRIMARY KEY,
                value TEXT NOT NULL
            )
            """
        ),
    ),
    (
        "0002_clients_tokens_sessions",
        _script(
            """
            CREATE TABLE api_clients (
                client_id   TEXT PRIMARY KEY,
                name        TEXT NOT NULL UNIQUE,
                secret_hash BLOB NOT NULL,
                scopes      TEXT NOT NULL,
                created_at  INTEGER NOT NULL,
                revoked_at  INTEGER
            );
            CREATE TABLE access_tokens (
                token_hash BLOB PRIMARY KEY,
                client_id  TEXT NOT NULL,
                scopes     TEXT NOT NULL,
                issued_at  INTEGER NOT NULL,
                expires_at INTEGER NOT NULL,
                revoked    INTEGER NOT NULL DEFAULT 0
            );
            CREATE INDEX access_tokens_expiry ON access_tokens(expires_at);
            CREATE TABLE stream_sessions (
                token_hash BLOB PRIMARY KEY,
                client_id  TEXT NOT NULL,
                app_id     TEXT NOT NULL,
                partition  INTEGER NOT NULL,
                issued_at  INTEGER NOT NULL,
                expires_at INTEGER NOT NULL
            );
            CREATE INDEX stream_sessions_app ON stream_sessions(app_id, partition);
            CREATE TABLE stream_connections (
                app_id     TEXT NOT NULL,
                partition  INTEGER NOT NULL,
                owner      TEXT NOT NULL,
                opened_at  INTEGER NOT NULL,
                heartbeat  INTEGER NOT NULL,
                PRIMARY KEY (app_id, partition)
            )
            """
        ),
    ),
    (
        "0003_login_failures",
        _script(
            """
            CREATE TABLE login_failures (
                key    TEXT PRIMARY KEY,
                tokens REAL NOT NULL,
                stamp  REAL NOT NULL
            )
            """
        ),
    ),
    (
        # the bearer token a stream session was issued with: revoking it ends the session
        "0004_session_issuer",
        _script(
            """
            ALTER TABLE stream_sessions ADD COLUMN issuer BLOB;
            CREATE INDEX stream_sessions_issuer ON stream_sessions(issuer);
            CREATE INDEX stream_sessions_client ON stream_sessions(client_id, expires_at);
            CREATE INDEX access_tokens_client ON access_tokens(client_id, expires_at)
            """
        ),
    ),
    (
        "0004_console_users_sessions_audit",
        _script(
            """
            CREATE TABLE console_users (
                name          TEXT PRIMARY KEY,
                role          TEXT NOT NULL,
                password_hash TEXT NOT NULL,
                disabled      INTEGER NOT NULL DEFAULT 0,
                created_at    INTEGER NOT NULL,
                last_login    INTEGER
            );
            CREATE TABLE console_sessions (
                id_hash    BLOB PRIMARY KEY,
                username   TEXT NOT NULL,
                csrf_token TEXT NOT NULL,
                address    TEXT NOT NULL,
                created_at REAL NOT NULL,
                last_seen  REAL NOT NULL
            );
            CREATE INDEX console_sessions_user ON console_sessions(username);
            CREATE TABLE audit_log (
                id       INTEGER PRIMARY KEY AUTOINCREMENT,
                at       REAL NOT NULL,
                username TEXT NOT NULL,
                action   TEXT NOT NULL,
                target   TEXT NOT NULL DEFAULT '',
                detail   TEXT NOT NULL DEFAULT '',
                address  TEXT NOT NULL DEFAULT ''
            );
            CREATE INDEX audit_log_at ON audit_log(at)
            """
        ),
    ),
    (
        "0005_consumer_positions",
        _script(
            """
            CREATE TABLE consumer_positions (
                app_id       TEXT NOT NULL,
                partition    INTEGER NOT NULL,
                committed    INTEGER NOT NULL,
                client_id    TEXT NOT NULL,
                committed_at REAL NOT NULL,
                commits      INTEGER NOT NULL DEFAULT 1,
                PRIMARY KEY (app_id, partition)
            ) WITHOUT ROWID
            """
        ),
    ),
    (
        "0006_sandbox_faults",
        _script(
            """
            CREATE TABLE sandbox_faults (
                id        INTEGER PRIMARY KEY,
                fault     TEXT NOT NULL,
                params    TEXT NOT NULL DEFAULT '{}',
                remaining INTEGER,
                until     REAL,
                fired     INTEGER NOT NULL DEFAULT 0,
                created   REAL NOT NULL
            )
            """
        ),
    ),
    (
        # `connector rotate --grace`: an old key keeps working until expires_at (epoch s)
        "0007_api_key_expiry",
        _script("ALTER TABLE api_keys ADD COLUMN expires_at REAL"),
    ),
    (
        # `connector errors NAME`: each connector's most recent refused requests (a ring)
        "0008_connector_refusals",
        _script(
            """
            CREATE TABLE connector_refusals (
                id           INTEGER PRIMARY KEY AUTOINCREMENT,
                connector_id TEXT NOT NULL,
                time         REAL NOT NULL,
                client       TEXT NOT NULL,
                status       INTEGER NOT NULL,
                code         INTEGER NOT NULL,
                text         TEXT NOT NULL,
                event_number INTEGER,
                excerpt      TEXT NOT NULL,
                path         TEXT NOT NULL
            );
            CREATE INDEX connector_refusals_by_connector ON connector_refusals(connector_id, id)
            """
        ),
    ),
    (
        # `lakehose status`: the next offset each open data feed will send (at its heartbeat)
        "0009_stream_connection_position",
        _script("ALTER TABLE stream_connections ADD COLUMN position INTEGER"),
    ),
)


def apply(conn: sqlite3.Connection, migrations: Sequence[Migration]) -> list[str]:
    """Apply the migrations not yet recorded, each in its own transaction; return their names."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT name FROM migrations")}
    applied = []
    for name, run in migrations:
        if name in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("SELECT 1 FROM migrations WHERE name = ?", (name,)).fetchone():
                conn.execute("ROLLBACK")
                continue
            run(conn)
            conn.execute(
                "INSERT INTO migrations (name, applied_at) VALUES (?, ?)", (name, int(time.time()))
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied
