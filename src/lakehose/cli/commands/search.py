"""``lakehose search QUERY``: search the lake, on the local data directory or a server (``--url``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import click
import orjson
from click.core import ParameterSource

from lakehose.cli.commands.common import data_dir_options, settings_for
from lakehose.cli.rows import plural, print_rows
from lakehose.errors import QueryError


class _Summary:
    """What to say under the table: rows shown, events matched and scanned, time taken."""

    def __init__(self) -> None:
        self.matched = 0
        self.scanned = 0
        self.took_ms = 0.0
        self.warnings: list[str] = []

    def add(self, stats: dict[str, Any]) -> None:
        self.matched += int(stats.get("events_matched", 0))
        self.scanned += int(stats.get("events_scanned", 0)) + int(
            stats.get("events_from_summaries", 0)
        )
        self.took_ms += float(stats.get("took_ms", 0.0))
        for warning in stats.get("warnings") or ():
            if warning not in self.warnings:
                self.warnings.append(str(warning))


Found = tuple[Iterator[dict[str, Any]], str, list[str], _Summary]


def _local(
    query: str,
    start: str | None,
    end: str | None,
    limit: int,
    data_dir: str | None,
    config_file: str | None,
) -> Found:
    from lakehose.query import plan_query, time_range
    from lakehose.search.run import start_search
    from lakehose.storage.lake import lake_address, open_columnar, open_readers, require_lake

    plan = plan_query(query)
    span = time_range(start, end)
    settings = settings_for(data_dir, config_file)
    require_lake(settings)
    data = lake_address(settings)
    search, found = start_search(
        lambda: open_readers(data, readonly=True),
        plan,
        span,
        limit=limit,
        columnar=lambda: open_columnar(data),
    )
    summary = _Summary()

    def rows() -> Iterator[dict[str, Any]]:
        try:
            yield from found
        finally:
            summary.add(search.stats.to_dict())

    return rows(), plan.kind, list(plan.columns), summary


def _remote(
    query: str,
    start: str | None,
    end: str | None,
    limit: int,
    url: str,
    client_id: str,
    client_secret: str,
) -> Found:
    from lakehose.client import Search

    client = Search(client_id=client_id, client_secret=client_secret, base_url=url)
    try:
        first = client.query(query, start=start, end=end, limit=min(limit, 10_000))
    except BaseException:
        client.close()
        raise
    summary = _Summary()
    summary.add(first.stats)

    def rows() -> Iterator[dict[str, Any]]:
        try:
            yield from first.rows
            left = limit - len(first.rows)
            cursor = first.next_cursor
            while cursor and left > 0:
                page = client.query(
                    query, start=start, end=end, limit=min(left, 10_000), cursor=cursor
                )
                summary.add(page.stats)
                yield from page.rows
                left -= len(page.rows)
                cursor = page.next_cursor if page.rows else None
        finally:
            client.close()

    return rows(), first.kind, first.columns, summary


def _show_error(query: str, exc: QueryError) -> None:
    click.echo(f"error: {exc}", err=True)
    if exc.column and exc.line >= 1:
        lines = query.split("\n")
        if exc.line <= len(lines):
            click.echo(f"  {lines[exc.line - 1]}", err=True)
            click.echo("  " + " " * (exc.column - 1) + "^", err=True)


@click.command()
@click.argument("query", default="")
@click.option("--since", help="search from this long ago: 15m, 24h, 7d (default: all time)")
@click.option("--from", "start", help="start: 24h (ago), 2024-05-01T00:00:00Z, or epoch seconds")
@click.option("--to", "end", help="end (exclusive), in the same forms (default: no end)")
@click.option(
    "--limit",
    type=click.IntRange(1, None),
    default=200,
    show_default=True,
    help="most rows to print",
)
@click.option(
    "--url",
    envvar="LAKEHOSE_URL",
    help="search this server instead of the local data directory (or $LAKEHOSE_URL, used "
    "when a client id is given too)",
)
@click.option(
    "--client-id",
    envvar="LAKEHOSE_CLIENT_ID",
    help="API client id, with --url; needs the search:read scope (or $LAKEHOSE_CLIENT_ID)",
)
@click.option(
    "--client-secret",
    envvar="LAKEHOSE_CLIENT_SECRET",
    help="API client secret (or $LAKEHOSE_CLIENT_SECRET, which keeps it out of ps; asked for "
    "on a terminal when missing)",
)
@click.option("--json", "as_json", is_flag=True, help="print NDJSON, one row per line")
@data_dir_options
def search(
    query: str,
    since: str | None,
    start: str | None,
    end: str | None,
    limit: int,
    url: str | None,
    client_id: str | None,
    client_secret: str | None,
    as_json: bool,
    data_dir: str | None,
    config_file: str | None,
) -> None:
    """Search the lake with a LogScale-style QUERY, newest events first.

    \b
    Examples:
      lakehose search 'failed'
      lakehose search '#connector=firewall action=deny | groupBy(src_ip)' --since 24h
      lakehose search 'status>=500 | count()' --url http://127.0.0.1:8088 --client-id ID
    """
    if since is not None and start is not None:
        raise click.UsageError("use --since or --from, not both")
    start = since if since is not None else start
    from_env = click.get_current_context().get_parameter_source("url")
    if url is not None and not client_id and from_env == ParameterSource.ENVIRONMENT:
        url = None  # $LAKEHOSE_URL alone (set for `send`) does not move search off the lake
    try:
        if url is not None:
            if not client_id:
                raise click.UsageError(
                    "--url needs --client-id (or $LAKEHOSE_CLIENT_ID) and the client's secret"
                )
            if client_secret is None:
                if not sys.stdin.isatty():
                    raise click.UsageError(
                        "no client secret: set $LAKEHOSE_CLIENT_SECRET (or --client-secret)"
                    )
                client_secret = click.prompt("client secret", hide_input=True, err=True)
            rows, kind, columns, summary = _remote(
                query, start, end, limit, url, client_id, client_secret
            )
        else:
            rows, kind, columns, summary = _local(query, start, end, limit, data_dir, config_file)
        if as_json:
            out = sys.stdout.buffer
            for row in rows:
                out.write(orjson.dumps(row) + b"\n")
            out.flush()
            return
        shown = list(rows)
        print_rows(shown, kind, columns, sys.stdout, sys.stdout.isatty())
        sys.stdout.flush()
        click.echo(
            f"{plural(len(shown), 'row')}; {summary.matched:,} of "
            f"{plural(summary.scanned, 'event')} matched; {summary.took_ms:.0f} ms",
            err=True,
        )
        for warning in summary.warnings:
            click.echo(f"note: {warning}", err=True)
    except QueryError as exc:
        _show_error(query, exc)
        sys.exit(1)
