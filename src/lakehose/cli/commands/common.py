"""Options and helpers shared by commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from lakehose.config import Settings, load_settings

F = TypeVar("F", bound=Callable[..., Any])


def _remember_cluster(ctx: click.Context, _: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.meta["lakehose.cluster"] = value


def data_dir_options(fn: F) -> F:
    """``--data-dir``, ``--cluster`` and ``--config``, for commands that work on a lake.

    ``--cluster`` reaches :func:`settings_for` through the click context, so every
    command that takes ``--data-dir`` works on a cluster's lake alike.
    """
    fn = click.option(
        "--cluster",
        default=None,
        expose_value=False,
        callback=_remember_cluster,
        metavar="URLS",
        help="the lake on this NATS cluster (nats://h1:4222,nats://h2:4222) in place of "
        "--data-dir (default: $LAKEHOSE_CLUSTER)",
    )(fn)
    fn = click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False),
        default=None,
        help="TOML configuration file (default: $LAKEHOSE_CONFIG, else ./lakehose.toml if present)",
    )(fn)
    fn = click.option(
        "--data-dir",
        default=None,
        help="data directory (default: $LAKEHOSE_DATA_DIR, else ./lakehose-data)",
    )(fn)
    return fn


def json_option(fn: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")(fn)


def settings_for(data_dir: str | None, config_file: str | None, **flags: Any) -> Settings:
    ctx = click.get_current_context(silent=True)
    cluster = ctx.meta.get("lakehose.cluster") if ctx is not None else None
    if cluster is not None:
        flags.setdefault("cluster", cluster)
    return load_settings({"data_dir": data_dir, **flags}, config_file=config_file)
