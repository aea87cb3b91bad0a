"""Prints how many fuzz inputs each target tried, as one summary line per target."""

from __future__ import annotations

import pytest

from tests.fuzz.budgetkit import TALLY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TALLY:
        return
    terminalreporter.section("fuzz inputs tried")
    for target, count in sorted(TALLY.items()):
        terminalreporter.write_line(f"{target}: {count}")
    terminalreporter.write_line(f"fuzz total: {sum(TALLY.values())} inputs")
