"""``lakehose user ...``: console accounts from the command line, on a real data directory."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.helpers import cli, cli_json, new_lake


@pytest.fixture
def lake_dir(data_dir: Path) -> Path:
    """A lake as ``serve`` makes it (only ``serve`` creates one)."""
    return new_lake(data_dir)


def test_user_create_list_passwd_disable_enable_delete(lake_dir: Path) -> None:
    data_dir = lake_dir
    created = cli(
        "user", "create", "alice", "--role", "admin", "--password-stdin", "--json",
        data_dir=data_dir, input="s3cret-pass\n",
    )  # fmt: skip
    assert '"role": "admin"' in created.stdout
    listed = cli_json("user", "list", data_dir=data_dir)
    assert listed == [
        {
            "name": "alice",
            "role": "admin",
            "disabled": False,
            "created_at": listed[0]["created_at"],
            "last_login": None,
        }
    ]
    stored = sqlite3.connect(data_dir / "catalog.db").execute(
        "SELECT password_hash FROM console_users"
    )
    hashed = stored.fetchone()[0]
    assert hashed.startswith("$argon2id$") and "s3cret-pass" not in hashed

    cli("user", "passwd", "alice", "--password-stdin", data_dir=data_dir, input="another-pass\n")
    assert sqlite3.connect(data_dir / "catalog.db").execute(
        "SELECT password_hash FROM console_users"
    ).fetchone()[0] not in (hashed,)
    assert cli_json("user", "disable", "alice", data_dir=data_dir)["disabled"] is True
    assert cli_json("user", "enable", "alice", data_dir=data_dir)["disabled"] is False
    cli("user", "delete", "alice", data_dir=data_dir)
    assert cli_json("user", "list", data_dir=data_dir) == []


def test_user_create_refuses_a_short_password_and_a_taken_name(lake_dir: Path) -> None:
    data_dir = lake_dir
    cli("user", "create", "bob", "--role", "analyst", "--password-stdin",
        data_dir=data_dir, input="long enough\n")  # fmt: skip
    short = cli(
        "user", "create", "carl", "--role", "analyst", "--password-stdin",
        data_dir=data_dir, input="short\n", check=False,
    )  # fmt: skip
    assert short.returncode == 1 and "at least 8 characters" in short.stderr
    again = cli(
        "user", "create", "bob", "--role", "admin", "--password-stdin",
        data_dir=data_dir, input="long enough\n", check=False,
    )  # fmt: skip
    assert again.returncode == 1 and "already exists" in again.stderr
