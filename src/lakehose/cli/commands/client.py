"""``lakehose client ...``: API clients (OAuth2 client credentials) for reading the lake."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from lakehose.auth.scopes import ALL_SCOPES
from lakehose.cli.commands.common import data_dir_options, json_option, settings_for
from lakehose.cli.output import emit_json, table
from lakehose.storage.catalog.base import Catalog
from lakehose.storage.lake import open_catalog


def _catalog(data_dir: str | None, config_file: str | None) -> Catalog:
    return open_catalog(settings_for(data_dir, config_file))


@click.group()
def client() -> None:
    """Create, list and revoke API clients (the way out: OAuth2 client credentials)."""


@client.command("create")
@click.argument("name")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(sorted(ALL_SCOPES)),
    help="a scope to grant (repeatable)",
)
@data_dir_options
@json_option
def create(
    name: str, scopes: tuple[str, ...], data_dir: str | None, config_file: str | None, as_json: bool
) -> None:
    """Create API client NAME; print its client_id and client_secret (shown only this once)."""
    created, secret = _catalog(data_dir, config_file).create_client(name, list(scopes))
    if as_json:
        emit_json({**created.to_dict(), "client_secret": secret})
        return
    click.echo(f"client {created.name}, scopes: {', '.join(created.scopes)}")
    click.echo(f"client_id:     {created.client_id}")
    click.echo(f"client_secret: {secret}   (shown only now)")


@client.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="include revoked clients")
@data_dir_options
@json_option
def list_(
    include_revoked: bool, data_dir: str | None, config_file: str | None, as_json: bool
) -> None:
    """List API clients (never their secrets)."""
    clients = [c.to_dict() for c in _catalog(data_dir, config_file).list_clients(include_revoked)]
    if as_json:
        emit_json(clients)
        return
    for c in clients:
        c["scopes"] = ", ".join(c["scopes"])
        c["created"] = datetime.fromtimestamp(c["created_at"], UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        c["state"] = "revoked" if c["revoked_at"] else "active"
    table(
        clients,
        [
            ("name", "NAME"),
            ("client_id", "CLIENT ID"),
            ("scopes", "SCOPES"),
            ("state", "STATE"),
            ("created", "CREATED"),
        ],
    )


@client.command("revoke")
@click.argument("name_or_id")
@data_dir_options
@json_option
def revoke(name_or_id: str, data_dir: str | None, config_file: str | None, as_json: bool) -> None:
    """Revoke an API client: its secret, tokens and stream sessions stop working."""
    revoked = _catalog(data_dir, config_file).revoke_client(name_or_id)
    if as_json:
        emit_json(revoked.to_dict())
    else:
        click.echo(f"client {revoked.name} revoked")
