"""The ``lakehose`` command: ``serve``, ``connector``, ``client``, ``user``, ``send``, ``stream``, ``search``, ``collect``, ``compact``, ``dev-cluster``, ``migrate``."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

import lakehose
from lakehose.cli.commands import (
    client,
    collect,
    compact,
    connector,
    dev_cluster,
    migrate,
    sandbox,
    search,
    send,
    serve,
    status,
    stream,
    user,
)
from lakehose.errors import ConfigError, DataDirError, LakehoseError


class Group(click.Group):
    """Turns lakehose errors into one clear line on stderr and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (ConfigError, DataDirError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except (LakehoseError, ValueError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(lakehose.__version__, "-V", "--version", prog_name="lakehose")
def cli() -> None:
    """lakehose: collect events over HEC, keep them in a durable event lake, re-stream them.

    \b
    Shell completion (bash; zsh and fish alike, see docs/cli.md):
      eval "$(_LAKEHOSE_COMPLETE=bash_source lakehose)"
    """


@cli.command()
def version() -> None:
    """Print lakehose's version."""
    click.echo(f"lakehose, version {lakehose.__version__}")


cli.add_command(serve.serve)
cli.add_command(connector.connector)
cli.add_command(client.client)
cli.add_command(send.send)
cli.add_command(stream.stream)
cli.add_command(search.search)
cli.add_command(status.status)
cli.add_command(user.user)
cli.add_command(sandbox.sandbox)
cli.add_command(collect.collect)
cli.add_command(compact.compact)
cli.add_command(dev_cluster.dev_cluster)
cli.add_command(migrate.migrate)


def main() -> None:
    # everything lakehose creates (data directory, databases, key file) is its user's alone:
    # directories 0700, files 0600, whatever the shell's umask
    os.umask(0o077)
    cli(prog_name="lakehose")


if __name__ == "__main__":  # pragma: no cover
    main()
