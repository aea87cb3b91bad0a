"""Console accounts in the catalog: sessions end on idle and absolute expiry, and with their user."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lakehose.auth import passwords
from lakehose.errors import ConflictError
from lakehose.storage.sqlite.accounts import SqliteAccounts
from lakehose.storage.sqlite.catalog import SqliteCatalog


@pytest.fixture
def accounts(tmp_path: Path) -> SqliteAccounts:
    return SqliteAccounts(SqliteCatalog.create(tmp_path / "catalog.db"))


def backdate(accounts: SqliteAccounts, seconds: float, column: str) -> None:
    """Make every session older by ``seconds`` (rather than waiting)."""
    with accounts.catalog._tx() as c:
        c.execute(f"UPDATE console_sessions SET {column} = {column} - ?", (seconds,))


def test_a_session_ends_after_idle_time_and_after_its_absolute_lifetime(
    accounts: SqliteAccounts,
) -> None:
    accounts.create_user("ann", "analyst", passwords.hash_password("long enough"))
    secret, _ = accounts.create_session("ann", "127.0.0.1")
    assert accounts.session(secret, idle=60, absolute=3600) is not None
    backdate(accounts, 61, "last_seen")
    assert accounts.session(secret, idle=60, absolute=3600) is None
    assert accounts.session_count("ann") == 0  # ended, not just refused

    busy, _ = accounts.create_session("ann", "127.0.0.1")
    backdate(accounts, 3601, "created_at")  # used a moment ago, but signed in too long ago
    assert accounts.session(busy, idle=60, absolute=3600) is None


def test_sessions_end_with_a_new_password_a_disable_or_a_delete(accounts: SqliteAccounts) -> None:
    accounts.create_user("bo", "admin", passwords.hash_password("long enough"))
    for end in (
        lambda: accounts.set_password("bo", passwords.hash_password("another one")),
        lambda: accounts.set_disabled("bo", True),
        lambda: accounts.delete_user("bo"),
    ):
        if "bo" not in [u.name for u in accounts.list_users()]:
            accounts.create_user("bo", "admin", passwords.hash_password("long enough"))
        accounts.set_disabled("bo", False)
        secret, _ = accounts.create_session("bo", "::1")
        assert accounts.session(secret, 60, 3600) is not None
        end()
        assert accounts.session(secret, 60, 3600) is None


def test_the_catalog_keeps_digests_of_session_ids_and_argon2id_hashes(
    accounts: SqliteAccounts, tmp_path: Path
) -> None:
    accounts.create_user("cy", "analyst", passwords.hash_password("cy's password"))
    secret, session = accounts.create_session("cy", "10.1.2.3")
    dump = "\n".join(sqlite3.connect(tmp_path / "catalog.db").iterdump())
    assert secret not in dump and "cy's password" not in dump
    assert "$argon2id$" in dump and session.csrf_token in dump
    assert passwords.verify(accounts.password_hash("cy"), "cy's password")
    assert not passwords.verify(accounts.password_hash("cy"), "cy's passwore")
    assert not passwords.verify(None, "anything")
    with pytest.raises(ConflictError):
        accounts.create_user("cy", "admin", "x")
    with pytest.raises(ValueError, match="role"):
        accounts.create_user("dee", "root", "x")
