"""``lakehose connector ...``: manage connectors (the ways in) in a data directory.

These commands change ``catalog.db`` directly; a running server picks the change
up within a second.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import click

from lakehose.cli.commands.common import data_dir_options, json_option, settings_for
from lakehose.cli.output import details, emit_json, table
from lakehose.config import Settings, parse_duration
from lakehose.parsers.formats import ParserRegistry
from lakehose.storage.catalog.base import Catalog
from lakehose.storage.catalog.connectors import Connector
from lakehose.storage.lake import connector_stats, connector_view, hec_url, open_catalog
from lakehose.storage.refusals import connector_refusals, iso_time

_SHOW_KEYS = [
    ("name", "name"),
    ("id", "id"),
    ("status", "status"),
    ("description", "description"),
    ("hec_url", "HEC URL"),
    ("parser", "parser"),
    ("index", "index"),
    ("allowed_indexes", "allowed indexes"),
    ("source", "source"),
    ("sourcetype", "sourcetype"),
    ("host", "host"),
    ("use_ack", "indexer acks"),
    ("allow_query_token", "?token= allowed"),
    ("rate_rps", "rate limit (req/s)"),
    ("rate_bps", "rate limit (bytes/s)"),
    ("event_count", "events"),
    ("byte_count", "bytes"),
    ("last_event_time", "last event"),
    ("api_keys", "API keys"),
    ("created_at", "created"),
    ("updated_at", "updated"),
]
# What a connector without a default host files events under (README, "HEC endpoints").
HOST_DEFAULT = "(the event's own, else the address senders use)"
_ANY_INDEX = "(any)"


def _open(
    data_dir: str | None, config_file: str | None, *, readonly: bool = False
) -> tuple[Settings, Catalog]:
    settings = settings_for(data_dir, config_file)
    return settings, open_catalog(settings, readonly=readonly)


def _view(settings: Settings, catalog: Catalog, connector: Connector) -> dict[str, Any]:
    stats = connector_stats(settings, catalog).get(connector.name)
    view = connector_view(connector, stats, catalog.key_hints(connector.id), hec_url(settings))
    return _for_output(view)


def _for_output(view: dict[str, Any]) -> dict[str, Any]:
    """One time convention in every output: ISO 8601 UTC (``2026-12-05T15:17:32.000Z``)."""
    view["created_at"] = iso_time(view["created_at"])
    view["updated_at"] = iso_time(view["updated_at"])
    last = view["last_event_time"]
    view["last_event_time"] = iso_time(last / 1e9) if last else None
    view["host"] = view["default_host"]
    return view


def _human(view: dict[str, Any]) -> dict[str, Any]:
    """What people read: the effective value where a setting is unset, never a bare dash."""
    return {
        **view,
        "host": view["host"] or HOST_DEFAULT,
        "allowed_indexes": view["allowed_indexes"] or [_ANY_INDEX],
        "parser": view["parser"] or "(by sourcetype)",
        "last_event_time": view["last_event_time"] or "never",
        "description": view["description"] or "(none)",
        "rate_rps": view["rate_rps"] or "(no limit)",
        "rate_bps": view["rate_bps"] or "(no limit)",
    }


def _check_parser(settings: Settings, parser: str | None) -> None:
    if parser is None:
        return
    from lakehose.storage.lake import load_parser_file

    path = settings.data_dir / "parsers.toml"
    registry = ParserRegistry.build(load_parser_file(path) if path.exists() else None)
    if parser not in registry.parsers:
        raise click.BadParameter(
            f"unknown parser {parser!r}; known: {', '.join(registry.names())}",
            param_hint="--parser",
        )


def export_option(fn: Any) -> Any:
    return click.option(
        "--export",
        "as_export",
        is_flag=True,
        help='print only `export LAKEHOSE_TOKEN=KEY`, for eval "$(...)" (lakehose send reads it)',
    )(fn)


def settings_options(creating: bool) -> Callable[[Any], Any]:
    """A connector's settings as options, one list for ``create`` (unset: the defaults) and
    ``update`` (unset: unchanged; the switches come in on/off pairs)."""
    if creating:
        switches = [
            click.option(
                "--ack", is_flag=True, help="turn on indexer acknowledgement (channels required)"
            ),
            click.option("--allow-query-token", is_flag=True, help="accept the key as ?token="),
        ]
    else:
        switches = [
            click.option("--ack/--no-ack", default=None, help="indexer acknowledgement"),
            click.option(
                "--allow-query-token/--no-allow-query-token", default=None, help="accept ?token="
            ),
        ]
    allowed = (
        "another index senders may name"
        if creating
        else "replace the allowed indexes (repeatable; --allowed-index '' allows any)"
    )
    options = [
        click.option("--description", default="" if creating else None, help="free text"),
        click.option(
            "--parser", default=None, help="parser for events without a more specific sourcetype"
        ),
        click.option("--index", default=None, help=_default("default index", "main", creating)),
        click.option("--allowed-index", "allowed", multiple=True, help=allowed),
        click.option(
            "--source", default=None, help=_default("default source", "http:NAME", creating)
        ),
        click.option(
            "--sourcetype", default=None, help=_default("default sourcetype", "httpevent", creating)
        ),
        click.option("--host", default=None, help="default host"),
        *switches,
        click.option("--rate-rps", type=float, default=None, help="limit requests per second"),
        click.option("--rate-bps", type=float, default=None, help="limit body bytes per second"),
    ]

    def apply(fn: Any) -> Any:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return apply


def _default(text: str, value: str, creating: bool) -> str:
    return f"{text} (default: {value})" if creating else text


def _print_key(view: dict[str, Any], key: str, as_json: bool, as_export: bool = False) -> None:
    if as_export:
        click.echo(f"export LAKEHOSE_TOKEN={key}")
        return
    if as_json:
        emit_json({**view, "api_key": key})
        return
    click.echo(f"connector {view['name']} ({view['id']})")
    click.echo(f"API key (shown only now): {key}")
    click.echo(f"HEC URL: {view['hec_url']}")
    click.echo(
        f"try: curl {view['hec_url']} -H 'Authorization: Splunk {key}' -d '{{\"event\": \"hello\"}}'"
    )


@click.group()
def connector() -> None:
    """Create and manage connectors: named HEC endpoints with their own API keys."""


@connector.command("create")
@click.argument("name")
@settings_options(creating=True)
@data_dir_options
@json_option
@export_option
def create(
    name: str,
    description: str,
    parser: str | None,
    index: str | None,
    allowed: tuple[str, ...],
    source: str | None,
    sourcetype: str | None,
    host: str | None,
    ack: bool,
    allow_query_token: bool,
    rate_rps: float | None,
    rate_bps: float | None,
    data_dir: str | None,
    config_file: str | None,
    as_json: bool,
    as_export: bool,
) -> None:
    """Create connector NAME and print its API key (shown only this once)."""
    settings, catalog = _open(data_dir, config_file)
    _check_parser(settings, parser)
    created, key = catalog.create_connector(
        name,
        description=description,
        parser=parser,
        default_index=index,
        allowed_indexes=list(allowed),
        default_source=source,
        default_sourcetype=sourcetype,
        default_host=host,
        use_ack=ack,
        allow_query_token=allow_query_token,
        rate_rps=rate_rps,
        rate_bps=rate_bps,
    )
    _print_key(_view(settings, catalog, created), key, as_json, as_export)


@connector.command("list")
@data_dir_options
@json_option
def list_(data_dir: str | None, config_file: str | None, as_json: bool) -> None:
    """List connectors with their status and counts."""
    settings, catalog = _open(data_dir, config_file, readonly=True)
    stats = connector_stats(settings, catalog)
    url = hec_url(settings)
    views = []
    for c in catalog.list_connectors():
        view = connector_view(c, stats.get(c.name), catalog.key_hints(c.id), url)
        views.append(_for_output(view))
    if as_json:
        emit_json(views)
        return
    table(
        [_human(v) | {"description": v["description"]} for v in views],
        [
            ("name", "NAME"),
            ("status", "STATUS"),
            ("index", "INDEX"),
            ("source", "SOURCE"),
            ("sourcetype", "SOURCETYPE"),
            ("event_count", "EVENTS"),
            ("last_event_time", "LAST EVENT"),
            ("description", "DESCRIPTION"),
        ],
    )


@connector.command("show")
@click.argument("name")
@data_dir_options
@json_option
def show(name: str, data_dir: str | None, config_file: str | None, as_json: bool) -> None:
    """Show one connector: settings, status, event and byte counts, key hints."""
    settings, catalog = _open(data_dir, config_file, readonly=True)
    view = _view(settings, catalog, catalog.get_connector(name))
    if as_json:
        emit_json(view)
    else:
        details(_human(view), _SHOW_KEYS)


def _switch(command: str, enabled: bool, summary: str) -> None:
    """``connector disable`` and ``connector enable``: one body, the word decides."""

    @connector.command(command, help=summary)
    @click.argument("name")
    @data_dir_options
    @json_option
    def switch(name: str, data_dir: str | None, config_file: str | None, as_json: bool) -> None:
        settings, catalog = _open(data_dir, config_file)
        changed = catalog.update_connector(name, enabled=enabled)
        view = _view(settings, catalog, changed)
        if as_json:
            emit_json(view)
        else:
            click.echo(f"connector {changed.name} is {command}d")


_switch(
    "disable", False, "Refuse events sent with this connector's keys (403 code 1) until enabled."
)
_switch("enable", True, "Accept events for a disabled connector again.")


@connector.command("rotate")
@click.argument("name")
@click.option(
    "--grace",
    default="0",
    metavar="DURATION",
    help="keep the old keys working this long (e.g. 10m, 24h): zero-downtime rotation",
)
@data_dir_options
@json_option
@export_option
def rotate(
    name: str,
    grace: str,
    data_dir: str | None,
    config_file: str | None,
    as_json: bool,
    as_export: bool,
) -> None:
    """Give the connector a new API key (printed once); old keys stop working now, or after
    --grace."""
    seconds = parse_duration(grace)
    settings, catalog = _open(data_dir, config_file)
    changed, key = catalog.rotate_key(name, grace=seconds)
    view = _view(settings, catalog, changed)
    view["old_keys_until"] = iso_time(time.time() + seconds) if seconds else None
    _print_key(view, key, as_json, as_export)
    if seconds and not as_json and not as_export:
        click.echo(f"old keys keep working until {view['old_keys_until']}")


@connector.command("update")
@click.argument("name")
@settings_options(creating=False)
@data_dir_options
@json_option
def update(
    name: str,
    description: str | None,
    parser: str | None,
    index: str | None,
    allowed: tuple[str, ...],
    source: str | None,
    sourcetype: str | None,
    host: str | None,
    ack: bool | None,
    allow_query_token: bool | None,
    rate_rps: float | None,
    rate_bps: float | None,
    data_dir: str | None,
    config_file: str | None,
    as_json: bool,
) -> None:
    """Change a connector's settings (only the options given); its keys stay."""
    settings, catalog = _open(data_dir, config_file)
    _check_parser(settings, parser)
    options: dict[str, Any] = {
        "description": description,
        "parser": parser,
        "default_index": index,
        "default_source": source,
        "default_sourcetype": sourcetype,
        "default_host": host,
        "use_ack": ack,
        "allow_query_token": allow_query_token,
        "rate_rps": rate_rps,
        "rate_bps": rate_bps,
    }
    options = {k: v for k, v in options.items() if v is not None}
    if allowed:
        options["allowed_indexes"] = [i for i in allowed if i]
    if not options:
        raise click.UsageError("nothing to change; give at least one option (see --help)")
    changed = catalog.update_connector(name, **options)
    view = _view(settings, catalog, changed)
    if as_json:
        emit_json(view)
    else:
        click.echo(f"connector {changed.name} updated")
        details(_human(view), _SHOW_KEYS)


@connector.command("errors")
@click.argument("name")
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@data_dir_options
@json_option
def errors(
    name: str, limit: int, data_dir: str | None, config_file: str | None, as_json: bool
) -> None:
    """Show the connector's most recent refused requests, newest first: when, from where,
    the HEC code and text, which event, and its first bytes (credentials masked)."""
    _, catalog = _open(data_dir, config_file, readonly=True)
    refusals = [r.to_dict() for r in connector_refusals(catalog, name, limit)]
    if as_json:
        emit_json(refusals)
        return
    if not refusals:
        click.echo(f"connector {name}: no refused requests recorded")
        return
    for r in refusals:
        number = "" if r["event_number"] is None else f" event #{r['event_number']}"
        click.echo(
            f"{r['time']} {r['client']} {r['path']} {r['status']} code {r['code']}: "
            f"{r['text']}{number}"
        )
        if r["excerpt"]:
            click.echo(f"    {r['excerpt']}")


@connector.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
@data_dir_options
@json_option
def delete(
    name: str, yes: bool, data_dir: str | None, config_file: str | None, as_json: bool
) -> None:
    """Delete a connector and its keys. Events it received stay in the lake."""
    settings, catalog = _open(data_dir, config_file)
    catalog.get_connector(name)
    if not yes and not as_json and not click.confirm(f"delete connector {name}?", default=False):
        raise SystemExit(1)
    gone = catalog.delete_connector(name)
    if as_json:
        emit_json({"id": gone.id, "name": gone.name, "deleted": True})
    else:
        click.echo(f"connector {gone.name} deleted")
