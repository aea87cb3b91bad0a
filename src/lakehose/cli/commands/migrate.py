"""``lakehose migrate --to URLS``: copy a single-node lake into a NATS cluster, offsets kept."""

from __future__ import annotations

import fcntl
import os

import click

from lakehose.cli.commands.common import settings_for
from lakehose.cli.output import emit_json
from lakehose.errors import DataDirError


@click.command()
@click.option("--to", "to", required=True, metavar="URLS",
              help="the NATS cluster to copy into (nats://h1:4222,nats://h2:4222)")  # fmt: skip
@click.option("--data-dir", default=None, help="the lake to copy (default: $LAKEHOSE_DATA_DIR, "
              "else ./lakehose-data)")  # fmt: skip
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="TOML configuration file (cluster_namespace, cluster_replicas, the "
              "cluster_* credentials and TLS files)")  # fmt: skip
@click.option("--cluster-namespace", default=None,
              help="name of the new lake in the cluster (default: lakehose)")  # fmt: skip
@click.option("--cluster-replicas", type=int, default=None,
              help="copies of every stream (default: 3)")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of text")
def migrate(
    to: str,
    data_dir: str | None,
    config_file: str | None,
    cluster_namespace: str | None,
    cluster_replicas: int | None,
    as_json: bool,
) -> None:
    """Copy a single-node lake (catalog and every partition's events) into a new lake on a
    NATS cluster, with the same offsets; then start nodes with lakehose serve --cluster.

    Stop the server on the data directory first. Access tokens and stream sessions are not
    copied (clients get new ones); nothing is deleted from the data directory.
    """
    from lakehose.storage.cluster.migrate import migrate as copy_lake
    from lakehose.storage.jetstream.auth import register
    from lakehose.storage.jetstream.link import set_connect_wait
    from lakehose.storage.lake import cluster_auth, require_lake

    settings = settings_for(
        data_dir, config_file, cluster_namespace=cluster_namespace,
        cluster_replicas=cluster_replicas,
    )  # fmt: skip
    require_lake(settings)
    register(to, cluster_auth(settings))  # the cluster_* credentials and TLS of the config
    set_connect_wait(to, settings.cluster_connect_timeout)
    run = settings.run_dir
    run.mkdir(parents=True, exist_ok=True)
    fd = os.open(run / "serve.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataDirError(
                str(settings.data_dir), "a lakehose server is using it; stop it first"
            ) from None
        counts, copied = copy_lake(
            settings.data_dir, to, settings.cluster_namespace, settings.cluster_replicas
        )
    finally:
        os.close(fd)
    if as_json:
        emit_json(
            {
                "catalog": counts,
                "partitions": [
                    {
                        "partition": c.partition,
                        "start_offset": c.start,
                        "end_offset": c.end,
                        "messages": c.messages,
                    }
                    for c in copied
                ],
            }  # fmt: skip
        )
        return
    click.echo(", ".join(f"{n} {kind}" for kind, n in counts.items()) + " copied")
    for c in copied:
        click.echo(f"partition {c.partition}: offsets {c.start}-{c.end} in {c.messages} messages")
    click.echo(
        f"done: lakehose serve --cluster {to} --cluster-namespace {settings.cluster_namespace}"
    )
