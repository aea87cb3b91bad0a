"""The README documents every setting, command and endpoint, and its examples match the code."""

from __future__ import annotations

import re
from pathlib import Path

import click
from click.testing import CliRunner

from lakehose.cli.main import COMMANDS, cli, subcommands
from lakehose.config import FIELDS
from lakehose.parsers.hec import CODES
from lakehose.server.routes.hec import ROUTES

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table() -> None:
    missing = [name for name in FIELDS if f"`{name}`" not in README]
    assert not missing, f"settings missing from README: {missing}"


def test_every_hec_path_is_documented() -> None:
    missing = [path for path in ROUTES if f"`{path}`" not in README]
    assert not missing, f"HEC paths missing from README: {missing}"


def test_every_hec_code_in_the_readme_table_matches_the_server() -> None:
    rows = re.findall(r"^\| (\d+) \| (\d+) \| (.+?) \|$", README, re.MULTILINE)
    assert rows
    for code, status, text in rows:
        assert CODES[int(code)] == (int(status), text), code


def test_every_command_and_subcommand_is_documented() -> None:
    runner = CliRunner()
    missing = []
    for name, command in subcommands(cli).items():
        subs = subcommands(command) if isinstance(command, click.Group) else {}
        if subs:
            missing += [
                f"lakehose {name} {sub}" for sub in subs if f"lakehose {name} {sub}" not in README
            ]
        elif f"lakehose {name}" not in README:
            missing.append(f"lakehose {name}")
        assert runner.invoke(cli, [name, "--help"]).exit_code == 0
    assert set(COMMANDS) < set(subcommands(cli))  # every lazily imported command is found
    assert not missing, f"commands missing from README: {missing}"


def test_the_cli_reference_is_up_to_date() -> None:
    import importlib.util

    path = Path(__file__).parent.parent / "scripts" / "cli_reference.py"
    spec = importlib.util.spec_from_file_location("cli_reference", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.OUT.read_text() == module.reference(), "run: python scripts/cli_reference.py"
