"""``lakehose client ...``: API clients (OAuth2 client credentials) for reading the lake."""

from __future__ import annotations

from typing import Any

import click

from lakehose.auth.scopes import ALL_SCOPES
from lakehose.cli.commands.common import data_dir_options, json_option, settings_for
from lakehose.cli.output import details, emit_json, table
from lakehose.storage.catalog.base import Catalog
from lakehose.storage.catalog.clients import ApiClient
from lakehose.storage.lake import open_catalog
from lakehose.storage.refusals import iso_time

_SHOW_KEYS = [
    ("name", "name"),
    ("client_id", "client_id"),
    ("scopes", "scopes"),
    ("state", "state"),
    ("created_at", "created"),
    ("revoked_at", "revoked"),
]


def _catalog(data_dir: str | None, config_file: str | None, *, readonly: bool = False) -> Catalog:
    return open_catalog(settings_for(data_dir, config_file), readonly=readonly)


def _view(client: ApiClient) -> dict[str, Any]:
    """A client for output: times in ISO 8601 UTC, as every command prints them."""
    view = client.to_dict()
    view["created_at"] = iso_time(client.created_at)
    view["revoked_at"] = iso_time(client.revoked_at) if client.revoked_at else None
    view["state"] = "revoked" if client.revoked_at else "active"
    return view


def export_option(fn: Any) -> Any:
    return click.option(
        "--export",
        "as_export",
        is_flag=True,
        help="print only `export LAKEHOSE_CLIENT_ID=… LAKEHOSE_CLIENT_SECRET=…`, for "
        'eval "$(...)" (stream and search read them)',
    )(fn)


def _print_secret(client: ApiClient, secret: str, as_json: bool, as_export: bool = False) -> None:
    if as_export:
        click.echo(f"export LAKEHOSE_CLIENT_ID={client.client_id} LAKEHOSE_CLIENT_SECRET={secret}")
        return
    if as_json:
        emit_json({**_view(client), "client_secret": secret})
        return
    click.echo(f"client {client.name}, scopes: {', '.join(client.scopes)}")
    click.echo(f"client_id:     {client.client_id}")
    click.echo(f"client_secret: {secret}   (shown only now)")


@click.group()
def client() -> None:
    """Create, show, rotate and revoke API clients (the way out: OAuth2 client credentials)."""


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
@export_option
def create(
    name: str,
    scopes: tuple[str, ...],
    data_dir: str | None,
    config_file: str | None,
    as_json: bool,
    as_export: bool,
) -> None:
    """Create API client NAME; print its client_id and client_secret (shown only this once)."""
    created, secret = _catalog(data_dir, config_file).create_client(name, list(scopes))
    _print_secret(created, secret, as_json, as_export)


@client.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="include revoked clients")
@data_dir_options
@json_option
def list_(
    include_revoked: bool, data_dir: str | None, config_file: str | None, as_json: bool
) -> None:
    """List API clients (never their secrets)."""
    catalog = _catalog(data_dir, config_file, readonly=True)
    clients = [_view(c) for c in catalog.list_clients(include_revoked)]
    if as_json:
        emit_json(clients)
        return
    table(
        [{**c, "scopes": ", ".join(c["scopes"])} for c in clients],
        [
            ("name", "NAME"),
            ("client_id", "CLIENT ID"),
            ("scopes", "SCOPES"),
            ("state", "STATE"),
            ("created_at", "CREATED"),
        ],
    )


@client.command("show")
@click.argument("name_or_id")
@data_dir_options
@json_option
def show(name_or_id: str, data_dir: str | None, config_file: str | None, as_json: bool) -> None:
    """Show one API client (never its secret)."""
    view = _view(_catalog(data_dir, config_file, readonly=True).get_client(name_or_id))
    if as_json:
        emit_json(view)
    else:
        details({**view, "revoked_at": view["revoked_at"] or "no"}, _SHOW_KEYS)


@client.command("rotate")
@click.argument("name_or_id")
@data_dir_options
@json_option
@export_option
def rotate(
    name_or_id: str, data_dir: str | None, config_file: str | None, as_json: bool, as_export: bool
) -> None:
    """Give an API client a new secret (printed once); the old secret and its tokens stop
    working."""
    changed, secret = _catalog(data_dir, config_file).rotate_client_secret(name_or_id)
    _print_secret(changed, secret, as_json, as_export)


@client.command("revoke")
@click.argument("name_or_id")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
@data_dir_options
@json_option
def revoke(
    name_or_id: str, yes: bool, data_dir: str | None, config_file: str | None, as_json: bool
) -> None:
    """Revoke an API client: its secret, tokens and stream sessions stop working."""
    catalog = _catalog(data_dir, config_file)
    found = catalog.get_client(name_or_id)
    if not yes and not as_json and not click.confirm(f"revoke client {found.name}?", default=False):
        raise SystemExit(1)
    revoked = catalog.revoke_client(found.client_id)
    if as_json:
        emit_json(_view(revoked))
    else:
        click.echo(f"client {revoked.name} revoked")
