"""``lakehose user ...``: console accounts (admin or analyst), with argon2-hashed passwords."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from lakehose.auth import passwords
from lakehose.cli.commands.common import data_dir_options, json_option, settings_for
from lakehose.cli.output import emit_json, table
from lakehose.storage.accounts import ROLES, Accounts, ConsoleUser
from lakehose.storage.lake import open_accounts, open_catalog


def _accounts(data_dir: str | None, config_file: str | None) -> Accounts:
    return open_accounts(open_catalog(settings_for(data_dir, config_file)))


def _password(from_stdin: bool) -> str:
    """The new password: the first line of standard input, or asked for twice without echo."""
    if from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        if password.endswith("\r"):
            password = password[:-1]
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return passwords.check_strength(password)


def _print(user: ConsoleUser, what: str, as_json: bool) -> None:
    if as_json:
        emit_json(user.to_dict())
    else:
        click.echo(f"user {user.name} ({user.role}) {what}")


password_stdin = click.option(
    "--password-stdin",
    is_flag=True,
    help="read the password from the first line of standard input (for scripts)",
)


@click.group()
def user() -> None:
    """Console users: create, list, change passwords, disable, enable, delete."""


@user.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="admin or analyst")
@password_stdin
@data_dir_options
@json_option
def create(
    name: str,
    role: str,
    password_stdin: bool,
    data_dir: str | None,
    config_file: str | None,
    as_json: bool,
) -> None:
    """Create console user NAME with a role; the password is asked for (or read from stdin).

    admin manages connectors, API clients and users; analyst searches and views.
    """
    accounts = _accounts(data_dir, config_file)
    hashed = passwords.hash_password(_password(password_stdin))
    created = accounts.create_user(name, role, hashed)
    accounts.audit("-", "user create", name, f"role {role} (CLI)", "cli")
    _print(created, "created", as_json)


@user.command("list")
@data_dir_options
@json_option
def list_(data_dir: str | None, config_file: str | None, as_json: bool) -> None:
    """List console users (never their password hashes)."""
    users = [u.to_dict() for u in _accounts(data_dir, config_file).list_users()]
    if as_json:
        emit_json(users)
        return
    for u in users:
        u["state"] = "disabled" if u["disabled"] else "enabled"
        for key in ("created_at", "last_login"):
            if u[key]:
                u[key] = datetime.fromtimestamp(u[key], UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    table(
        users,
        [
            ("name", "NAME"),
            ("role", "ROLE"),
            ("state", "STATE"),
            ("created_at", "CREATED"),
            ("last_login", "LAST SIGN-IN"),
        ],
    )


@user.command("passwd")
@click.argument("name")
@password_stdin
@data_dir_options
@json_option
def passwd(
    name: str, password_stdin: bool, data_dir: str | None, config_file: str | None, as_json: bool
) -> None:
    """Set a new password for NAME; their open console sessions end."""
    accounts = _accounts(data_dir, config_file)
    accounts.get_user(name)
    changed = accounts.set_password(name, passwords.hash_password(_password(password_stdin)))
    accounts.audit("-", "user passwd", name, "(CLI)", "cli")
    _print(changed, "has a new password", as_json)


@user.command("disable")
@click.argument("name")
@data_dir_options
@json_option
def disable(name: str, data_dir: str | None, config_file: str | None, as_json: bool) -> None:
    """Disable NAME: they cannot sign in, and their open sessions end."""
    accounts = _accounts(data_dir, config_file)
    changed = accounts.set_disabled(name, True)
    accounts.audit("-", "user disable", name, "(CLI)", "cli")
    _print(changed, "disabled", as_json)


@user.command("enable")
@click.argument("name")
@data_dir_options
@json_option
def enable(name: str, data_dir: str | None, config_file: str | None, as_json: bool) -> None:
    """Enable NAME again."""
    accounts = _accounts(data_dir, config_file)
    changed = accounts.set_disabled(name, False)
    accounts.audit("-", "user enable", name, "(CLI)", "cli")
    _print(changed, "enabled", as_json)


@user.command("delete")
@click.argument("name")
@data_dir_options
@json_option
def delete(name: str, data_dir: str | None, config_file: str | None, as_json: bool) -> None:
    """Delete NAME and end their sessions."""
    accounts = _accounts(data_dir, config_file)
    deleted = accounts.delete_user(name)
    accounts.audit("-", "user delete", name, "(CLI)", "cli")
    _print(deleted, "deleted", as_json)
