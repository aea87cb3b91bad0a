"""``lakehose compact``: compact record batches into the columnar tier now, then show the tiers."""

from __future__ import annotations

import time

import click
import orjson

from lakehose.cli.commands.common import data_dir_options, json_option, settings_for
from lakehose.cli.output import table


@click.command()
@data_dir_options
@json_option
@click.option(
    "--older-than",
    default="0s",
    show_default=True,
    help="compact batches accepted longer ago than this (default: every batch)",
)
def compact(data_dir: str | None, config_file: str | None, as_json: bool, older_than: str) -> None:
    """Compact record batches into the columnar tier (Parquet) now, with or without a server
    running (the server's compactor waits its turn); print each tier's size."""
    from lakehose.config import parse_duration
    from lakehose.errors import ConfigError
    from lakehose.storage.columnar.compactor import Compactor
    from lakehose.storage.lake import open_catalog, stored_partitions, tier_sizes

    settings = settings_for(data_dir, config_file)
    if settings.cluster:
        raise ConfigError(
            "the columnar tier is a single-node feature: a cluster's lake is searched in its "
            "streams (README, Cluster deployment)"
        )
    catalog = open_catalog(settings)
    try:
        partitions = stored_partitions(settings, catalog)
    finally:
        catalog.close()
    started = time.process_time()
    done = Compactor(settings.data_dir, partitions, parse_duration(older_than)).run_once()
    cpu = time.process_time() - started
    sizes = tier_sizes(settings.data_dir, partitions)
    report = {
        "compacted_events": done.events,
        "files_written": done.files,
        "cpu_seconds": round(cpu, 3),
        "tiers": sizes,
    }
    if as_json:
        click.echo(orjson.dumps(report).decode())
        return
    click.echo(f"compacted {done.events} events into {done.files} file(s) in {cpu:.2f} CPU-s")
    table(
        sizes,
        [
            ("tier", "TIER"),
            ("partition", "PARTITION"),
            ("events", "EVENTS"),
            ("bytes", "BYTES"),
            ("bytes_per_event", "BYTES/EVENT"),
        ],
    )
