"""The stream and search scenarios, which live in their own scripts beside this package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
SCRIPTS = {
    "replay": "streams_bench.py",
    "live-latency": "streams_bench.py",
    "search": "search_bench.py",
}


def run_companion(scenario: str, args: list[str], here: Path = HERE) -> int:
    """Run the script behind ``scenario`` with ``args``; its exit code.

    ``streams_bench.py`` serves two scenarios as subcommands, so it gets
    ``[--json] SCENARIO ARGS...``; ``search_bench.py`` gets only ``args``.
    """
    script = here / SCRIPTS[scenario]
    if not script.exists():
        print(
            f"bench: scenario {scenario!r} is not available yet "
            f"({here.name}/{script.name} does not exist on this branch)",
            file=sys.stderr,
        )
        return 2
    argv = [sys.executable, str(script)]
    if script.name == "streams_bench.py":
        # Its --json belongs to its main parser, before the scenario (a subcommand there).
        argv += [*(a for a in args if a == "--json"), scenario]
        args = [a for a in args if a != "--json"]
    return subprocess.call([*argv, *args], cwd=here.parent)
