"""The ``lakehose`` command: ``serve``, ``connector``, ``client``, ``user``, ``send``, ``stream``, ``search``, ``collect``, ``compact``, ``dev-cluster``, ``migrate``."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

import lakehose
from lakehose.errors import ConfigError, DataDirError, LakehoseError

COMMANDS = {
    "serve": "serve",
    "connector": "connector",
    "client": "client",
    "send": "send",
    "stream": "stream",
    "search": "search",
    "status": "status",
    "user": "user",
    "sandbox": "sandbox",
    "collect": "collect",
    "compact": "compact",
    "dev-cluster": "dev_cluster",
    "migrate": "migrate",
}
"""Each command and its module in ``lakehose.cli.commands`` (which defines it under its name):
imported only when the command runs or help lists it, so that ``lakehose collect`` does not
pay for the server's, the SDK's and the search engine's imports at every start."""


class Group(click.Group):
    """Turns lakehose errors into one clear line on stderr and an exit code; imports a
    command's module only when the command is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module = importlib.import_module(f"lakehose.cli.commands.{COMMANDS[cmd_name]}")
            self.add_command(getattr(module, cmd_name.replace("-", "_")), cmd_name)
        return super().get_command(ctx, cmd_name)

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


def subcommands(group: click.Group) -> dict[str, click.Command]:
    """Every subcommand of ``group`` by name, imported (for the docs and their test)."""
    ctx = click.Context(group)
    found = {name: group.get_command(ctx, name) for name in group.list_commands(ctx)}
    return {name: command for name, command in found.items() if command is not None}


def main() -> None:
    # everything lakehose creates (data directory, databases, key file) is its user's alone:
    # directories 0700, files 0600, whatever the shell's umask
    os.umask(0o077)
    cli(prog_name="lakehose")


if __name__ == "__main__":  # pragma: no cover
    main()
