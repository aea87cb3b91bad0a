"""Options and helpers shared by commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from lakehose.config import Settings, load_settings

F = TypeVar("F", bound=Callable[..., Any])


def data_dir_options(fn: F) -> F:
    """``--data-dir`` and ``--config``, for commands that work on a data directory."""
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
    return load_settings({"data_dir": data_dir, **flags}, config_file=config_file)
