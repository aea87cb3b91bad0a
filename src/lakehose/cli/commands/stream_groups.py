"""``lakehose stream groups ...``: consumer groups (server-kept positions) in a data directory.

A lakehose extension. These commands read and change ``catalog.db`` directly, with
or without a server running on the data directory; a running server uses the new
positions from the next connection of the group.
"""

from __future__ import annotations

from typing import Any

import click

from lakehose.cli.commands.common import data_dir_options, json_option, settings_for
from lakehose.cli.output import emit_json, table
from lakehose.config import Settings
from lakehose.errors import NotFoundError
from lakehose.server import feed_start
from lakehose.server.consumer_lag import all_groups, group_view
from lakehose.server.feed_options import FeedOptions, start_spec
from lakehose.server.routes import stream_params
from lakehose.storage.consumer_groups import CommitRequest
from lakehose.storage.lake import (
    lake_address,
    open_catalog,
    open_consumer_groups,
    open_readers,
    stored_partitions,
)


class _Lake:
    """The groups and the partition readers of a data directory."""

    def __init__(self, settings: Settings, *, readonly: bool = False) -> None:
        catalog = open_catalog(settings, readonly=readonly)
        self.partitions = stored_partitions(settings, catalog)
        self.groups = open_consumer_groups(
            settings.catalog_path, readonly=readonly, catalog=catalog
        )
        if not settings.cluster:
            catalog.close()  # a cluster's groups live in its catalog's bucket
        self.readers = {
            r.partition: r
            for r in open_readers(lake_address(settings), self.partitions, readonly=readonly)
        }

    def close(self) -> None:
        self.groups.close()
        for reader in self.readers.values():
            reader.close()

    def view(self, app_id: str) -> dict[str, Any]:
        positions = self.groups.positions(app_id)
        if not positions:
            raise NotFoundError("consumer group", app_id)
        return group_view(app_id, positions, self.readers)


def lake_group_views(settings: Settings) -> list[dict[str, Any]]:
    """Every consumer group of a data directory with its lag (for ``lakehose status``, which
    only reads: it works on a read-only data directory)."""
    lake = _Lake(settings, readonly=True)
    try:
        return all_groups(lake.groups, lake.readers)
    finally:
        lake.close()


def _open(data_dir: str | None, config_file: str | None) -> _Lake:
    return _Lake(settings_for(data_dir, config_file))


def _app(value: str) -> str:
    try:
        return stream_params.app_id(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="APPID") from None


_COLUMNS = [
    ("partition", "partition"),
    ("committed", "committed"),
    ("lag_events", "lag (events)"),
    ("lag_seconds", "lag (s)"),
]


def _print(view: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(view)
        return
    click.echo(f"consumer group {view['app_id']} (API client {view['client_id']})")
    table(view["partitions"], _COLUMNS)


@click.group("groups")
def groups() -> None:
    """Consumer groups: the positions the server keeps per appId (a lakehose extension)."""


@groups.command("list")
@data_dir_options
@json_option
def list_groups(data_dir: str | None, config_file: str | None, as_json: bool) -> None:
    """List every consumer group with its lag."""
    views = lake_group_views(settings_for(data_dir, config_file))
    if as_json:
        emit_json(views)
        return
    rows = [
        {
            "app_id": v["app_id"],
            "partitions": len(v["partitions"]),
            "lag_events": v["lag_events"],
            "lag_seconds": v["lag_seconds"],
            "client_id": v["client_id"],
        }
        for v in views
    ]
    table(
        rows,
        [
            ("app_id", "appId"),
            ("partitions", "partitions"),
            ("lag_events", "lag (events)"),
            ("lag_seconds", "lag (s)"),
            ("client_id", "API client"),
        ],
    )


@groups.command("show")
@click.argument("app_id", metavar="APPID")
@data_dir_options
@json_option
def show(app_id: str, data_dir: str | None, config_file: str | None, as_json: bool) -> None:
    """Show a group's committed offset and lag (events, seconds) per partition."""
    lake = _open(data_dir, config_file)
    try:
        view = lake.view(_app(app_id))
    finally:
        lake.close()
    _print(view, as_json)


@groups.command("reset")
@click.argument("app_id", metavar="APPID")
@click.option(
    "--start",
    "spec",
    required=True,
    metavar="SPEC",
    help="earliest, latest, offset:N or time:<RFC 3339 time or epoch seconds>",
)
@click.option(
    "--partition",
    "partitions",
    type=click.IntRange(min=0),
    multiple=True,
    help="only this partition (repeat for several; default: all)",
)
@data_dir_options
@json_option
def reset(
    app_id: str,
    spec: str,
    partitions: tuple[int, ...],
    data_dir: str | None,
    config_file: str | None,
    as_json: bool,
) -> None:
    """Move a group to a start position: its next connection starts there."""
    app = _app(app_id)
    try:
        start = start_spec(spec)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--start") from None
    if start.kind == "committed":
        raise click.BadParameter(
            "a group cannot be reset to its own position", param_hint="--start"
        )
    lake = _open(data_dir, config_file)
    try:
        owner = lake.groups.owner(app)
        if owner is None:
            raise NotFoundError("consumer group", app)
        requests = []
        for p in partitions or sorted(lake.readers):
            reader = lake.readers.get(p)
            if reader is None:
                raise click.BadParameter(f"no partition {p}", param_hint="--partition")
            try:
                resolved = feed_start.resolve(
                    reader,
                    explicit_offset=None,
                    tail=False,
                    options=FeedOptions(start=start),
                    committed=None,
                )
            except feed_start.OutOfRange as exc:
                raise click.ClickException(str(exc)) from None
            requests.append(CommitRequest(app, p, resolved.offset - 1, owner))
        lake.groups.commit(requests)
        view = lake.view(app)
    finally:
        lake.close()
    _print(view, as_json)


@groups.command("delete")
@click.argument("app_id", metavar="APPID")
@data_dir_options
def delete(app_id: str, data_dir: str | None, config_file: str | None) -> None:
    """Forget a group and its positions."""
    app = _app(app_id)
    lake = _open(data_dir, config_file)
    try:
        removed = lake.groups.delete(app)
    finally:
        lake.close()
    if not removed:
        raise NotFoundError("consumer group", app)
    click.echo(f"deleted consumer group {app} ({removed} position(s))")
