"""How commands print: a table for people, JSON with ``--json``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import click
import orjson


def emit_json(value: Any) -> None:
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def fmt_time_ns(ns: int | None) -> str:
    if not ns:
        return "-"
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> None:
    """Print ``rows`` under ``(key, header)`` columns: padded on a terminal, tab-separated
    when piped, never truncated (see ``cli/rows.py``)."""
    from lakehose.cli.rows import cell, print_table

    print_table(
        [h for _, h in columns],
        [[cell(row.get(k)) for k, _ in columns] for row in rows],
        sys.stdout,
        sys.stdout.isatty(),
    )


def details(row: dict[str, Any], keys: Sequence[tuple[str, str]]) -> None:
    width = max(len(label) for _, label in keys)
    for key, label in keys:
        value = row.get(key)
        if isinstance(value, list | tuple):
            value = ", ".join(map(str, value)) or "-"
        click.echo(f"{label:<{width}}  {'-' if value in (None, '') else value}")
