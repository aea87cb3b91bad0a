"""``lakehose sandbox ...``: arm faults in a server started with ``--sandbox`` (integration tests).

These commands change ``catalog.db`` of the data directory directly; the server's
workers pick the change up at their next request. Faults only fire in a server
started with ``lakehose serve --sandbox``.
"""

from __future__ import annotations

import time

import click

from lakehose.cli.commands.common import data_dir_options, json_option, settings_for
from lakehose.cli.output import emit_json, table
from lakehose.storage.catalog.base import Catalog
from lakehose.storage.faults import FAULTS, FaultTable
from lakehose.storage.lake import open_catalog, open_faults


def _table(data_dir: str | None, config_file: str | None) -> tuple[FaultTable, Catalog, float]:
    settings = settings_for(data_dir, config_file)
    catalog = open_catalog(settings)
    return open_faults(catalog), catalog, float(settings.session_grace)


@click.group("sandbox")
def sandbox() -> None:
    """Inject faults into a server started with --sandbox (for integration tests)."""


@sandbox.command("arm")
@click.argument("fault", type=click.Choice([f for f in FAULTS if f != "session_expire"]))
@click.option("--count", type=click.IntRange(min=1), default=None, help="for the next N requests")
@click.option("--duration", type=float, default=None, help="for this many seconds")
@click.option("--seconds", type=float, default=None, help="hec_delay: how long to wait")
@click.option("--retry-after", type=float, default=None, help="hec_throttle: Retry-After seconds")
@click.option("--rate", type=float, default=None, help="feed_slow: events per second")
@data_dir_options
@json_option
def arm(
    fault: str,
    count: int | None,
    duration: float | None,
    seconds: float | None,
    retry_after: float | None,
    rate: float | None,
    data_dir: str | None,
    config_file: str | None,
    as_json: bool,
) -> None:
    """Arm FAULT for the next --count requests (default 1) or for --duration seconds."""
    params = {
        k: v
        for k, v in (("seconds", seconds), ("retry_after", retry_after), ("rate", rate))
        if v is not None
    }
    faults, catalog, _ = _table(data_dir, config_file)
    try:
        armed = faults.arm(fault, count=count, duration=duration, params=params)
    finally:
        catalog.close()
    if as_json:
        emit_json(armed.to_dict())
    else:
        click.echo(f"armed {armed.fault} (id {armed.id}): {FAULTS[armed.fault]}")


@sandbox.command("list")
@data_dir_options
@json_option
def list_faults(data_dir: str | None, config_file: str | None, as_json: bool) -> None:
    """Faults armed or fired, with how often each fired, and the sandbox clock."""
    faults, catalog, _ = _table(data_dir, config_file)
    try:
        now = time.time()
        rows = [f.to_dict(now) for f in faults.list()]
        offset = faults.clock_offset()
    finally:
        catalog.close()
    if as_json:
        emit_json({"faults": rows, "clock_offset_seconds": offset})
        return
    table(
        rows,
        [
            ("id", "id"),
            ("fault", "fault"),
            ("remaining", "left"),
            ("fired", "fired"),
            ("armed", "armed"),
        ],
    )
    click.echo(f"clock offset: {offset:g} s")


@sandbox.command("clear")
@data_dir_options
def clear(data_dir: str | None, config_file: str | None) -> None:
    """Disarm and forget every fault."""
    faults, catalog, _ = _table(data_dir, config_file)
    try:
        removed = faults.clear()
    finally:
        catalog.close()
    click.echo(f"cleared {removed} fault(s)")


@sandbox.command("expire-sessions")
@data_dir_options
def expire_sessions(data_dir: str | None, config_file: str | None) -> None:
    """Expire every stream session now: open feeds end, refreshes answer 404."""
    faults, catalog, grace = _table(data_dir, config_file)
    try:
        count = faults.expire_sessions(grace)
        faults.record("session_expire")
    finally:
        catalog.close()
    click.echo(f"expired {count} session(s)")


@sandbox.command("clock")
@click.argument("offset_seconds", type=float)
@data_dir_options
def clock(offset_seconds: float, data_dir: str | None, config_file: str | None) -> None:
    """Stamp new batches with now + OFFSET_SECONDS (negative: the past). Tests only."""
    faults, catalog, _ = _table(data_dir, config_file)
    try:
        faults.set_clock_offset(offset_seconds)
    finally:
        catalog.close()
    click.echo(f"sandbox clock offset: {offset_seconds:g} s")
