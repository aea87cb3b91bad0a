"""Options and helpers shared by commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from lakehose.config import Settings, load_settings

F = TypeVar("F", bound=Callable[..., Any])


# how admin commands reach a cluster: flags for files and names (a password or token is
# read from the config file or the environment: a flag shows in the process list)
CLUSTER_FLAGS = {
    "cluster_namespace": "the lake's name on the cluster, when it holds several (default: "
    "lakehose, or $LAKEHOSE_CLUSTER_NAMESPACE)",
    "cluster_creds": "NATS credentials file (.creds)",
    "cluster_nkey": "file holding a NATS user's NKey seed",
    "cluster_user": "NATS user (its password: cluster_password in the config file, or "
    "$LAKEHOSE_CLUSTER_PASSWORD)",
    "cluster_tls_ca": "PEM CA bundle of the NATS servers' certificates",
    "cluster_tls_cert": "PEM client certificate for NATS",
    "cluster_tls_key": "PEM private key of --cluster-tls-cert",
}


def _remember_cluster(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.meta[f"lakehose.{param.name}"] = value


def data_dir_options(fn: F) -> F:
    """``--data-dir``, ``--cluster`` and ``--config``, for commands that work on a lake.

    ``--cluster`` reaches :func:`settings_for` through the click context, so every
    command that takes ``--data-dir`` works on a cluster's lake alike.
    """
    for name, text in reversed(CLUSTER_FLAGS.items()):
        fn = click.option(
            "--" + name.replace("_", "-"), name, default=None, expose_value=False,
            callback=_remember_cluster, metavar="VALUE", help=text,
        )(fn)  # fmt: skip
    fn = click.option(
        "--cluster",
        "cluster",
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
    for name in ("cluster", *CLUSTER_FLAGS):
        given = ctx.meta.get(f"lakehose.{name}") if ctx is not None else None
        if given is not None:
            flags.setdefault(name, given)
    return load_settings({"data_dir": data_dir, **flags}, config_file=config_file)
