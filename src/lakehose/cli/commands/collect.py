"""``lakehose collect``: run the collector, ``validate`` its YAML, ``status`` of a running one."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Any

import click
import httpx

from lakehose.cli.output import emit_json, table
from lakehose.errors import ConfigError

_CONFIG = click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The collector's YAML file (LogScale Collector schema).",
)


class _AnyEnvironment(dict[str, str]):
    """For ``status``: a ``${TOKEN}`` it does not need may be unset where it runs."""

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: str) -> str:
        return "unset"


def _load(path: Path, lenient: bool = False) -> Any:
    from lakehose.collector.config import load_config
    from lakehose.config import process_environment

    environ = process_environment()
    return load_config(path, _AnyEnvironment(environ) if lenient else environ)


def _open_delivery() -> Any:
    import importlib

    try:
        return importlib.import_module("lakehose.collector.sink").open_delivery
    except (ImportError, AttributeError) as exc:  # pragma: no cover - shipped with lakehose
        raise ConfigError(f"the collector's HEC sink is not available: {exc}") from exc


@click.group(invoke_without_command=True)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The collector's YAML file (LogScale Collector schema).",
)
@click.pass_context
def collect(ctx: click.Context, config_path: Path | None) -> None:
    """Run the collector: sources (syslog, files, journald, commands, stdin) to HEC sinks.

    The YAML follows the Falcon LogScale Collector's schema: dataDirectory, logLevel,
    sources.<name> and sinks.<name>. ${VAR} is replaced from the environment. Stops
    cleanly on SIGTERM or Ctrl-C; with only a stdin source, once stdin is delivered.
    """
    if ctx.invoked_subcommand is not None:
        return
    if config_path is None:
        raise click.UsageError("--config is required (or a subcommand: validate, status)")
    from lakehose.collector.runner import Collector
    from lakehose.config import process_environment
    from lakehose.logs import configure_logging

    config = _load(config_path)
    configure_logging("debug" if config.log_level == "trace" else config.log_level)
    if config.log_level != "trace":  # one line per request is the sink's job, not httpx's
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.WARNING)

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        collector = Collector(config, _open_delivery(), process_environment())
        return await collector.run(stop)

    ctx.exit(asyncio.run(main()))


@collect.command()
@_CONFIG
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def validate(config_path: Path, as_json: bool) -> None:
    """Check a collector YAML file; list every problem with its YAML path (exit 2 if any)."""
    from lakehose.collector.config import CollectorConfigError

    try:
        config = _load(config_path)
    except CollectorConfigError as exc:
        if as_json:
            emit_json({"valid": False, "problems": exc.problems})
            raise SystemExit(2) from None
        raise
    if as_json:
        emit_json({"valid": True, "sources": sorted(config.sources), "sinks": sorted(config.sinks)})
        return
    click.echo(
        f"{config_path}: valid ({len(config.sources)} source"
        f"{'' if len(config.sources) == 1 else 's'}, {len(config.sinks)} sink"
        f"{'' if len(config.sinks) == 1 else 's'})"
    )


@collect.command()
@_CONFIG
@click.option("--json", "as_json", is_flag=True, help="Print the status document as JSON.")
def status(config_path: Path, as_json: bool) -> None:
    """Show a running collector's counters (from its local status endpoint)."""
    from lakehose.collector.runner import read_state

    config = _load(config_path, lenient=True)
    state = read_state(config.data_directory)
    if state is not None:
        url = str(state["status_url"])
    else:
        url = f"http://{config.status.bind}:{config.status.port}"
    try:
        reply = httpx.get(url + "/status", timeout=10)
        reply.raise_for_status()
    except httpx.HTTPError as exc:
        raise ConfigError(f"no collector answers on {url} ({exc}); is it running?") from exc
    doc = reply.json()
    if as_json:
        emit_json(doc)
        return
    click.echo(f"collector pid {doc['pid']} on {doc['host']}, up {doc['uptime_seconds']:.0f} s")
    rows = [{"name": n, **v} for n, v in doc["sources"].items()]
    table(
        rows,
        [("name", "SOURCE"), ("type", "TYPE"), ("sink", "SINK"), ("events", "EVENTS"),
         ("bytes", "BYTES"), ("filtered", "FILTERED"), ("errors", "ERRORS"),
         ("lag_bytes", "LAG BYTES")],
    )  # fmt: skip
    sinks = [{"name": n, **v} for n, v in doc["sinks"].items()]
    table(
        sinks,
        [("name", "SINK"), ("sent", "SENT"), ("refused", "REFUSED"), ("retries", "RETRIES"),
         ("dead_lettered", "DEAD-LETTERED"), ("dropped", "DROPPED"),
         ("queue_events", "QUEUED"), ("queue_bytes", "QUEUE BYTES")],
    )  # fmt: skip
