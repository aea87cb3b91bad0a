"""Write docs/cli.md from the CLI's own --help texts: ``python scripts/cli_reference.py``.

``tests/test_docs.py`` fails when docs/cli.md is not what this script would write.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from click.testing import CliRunner

from lakehose.cli.main import cli, subcommands

OUT = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def commands(group: click.Group, prefix: list[str]) -> list[list[str]]:
    found = [prefix]
    for name, command in sorted(subcommands(group).items()):
        if isinstance(command, click.Group):
            found += commands(command, [*prefix, name])
        else:
            found.append([*prefix, name])
    return found


def reference() -> str:
    runner = CliRunner()
    parts = [
        "# lakehose command-line reference\n",
        "Generated from `--help` by `scripts/cli_reference.py`; do not edit by hand.\n",
    ]
    for path in commands(cli, []):
        result = runner.invoke(cli, [*path, "--help"], prog_name="lakehose", terminal_width=100)
        if result.exit_code != 0:
            raise SystemExit(f"lakehose {' '.join(path)} --help failed:\n{result.output}")
        title = " ".join(["lakehose", *path])
        parts.append(f"\n## `{title}`\n\n```\n{result.output.rstrip()}\n```\n")
    return "".join(parts)


def main() -> None:
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(reference())
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
