"""``logrotate`` rotates a tailed file (rename, create, copytruncate) while lines are appended."""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from lakehose.testing import RunningServer
from tests.collector.running import RunningCollector, collector_yaml, lake_events, tagged
from tests.helpers import wait_for

LINES = 3000
ROTATIONS = 3


def write_lines(path: Path, stop_after: int, done: threading.Event) -> None:
    """A writer that opens the file per burst, as syslog-style writers after a HUP do."""
    i = 0
    while i < stop_after:
        with path.open("a") as f:
            for _ in range(20):
                f.write(f"rotating line {i:05d} {'x' * 40}\n")
                i += 1
        time.sleep(0.004)
    done.set()


@pytest.mark.parametrize("mode", ["rename", "create", "copytruncate"])
def test_logrotate_while_appending_loses_nothing(
    server: RunningServer, tmp_path: Path, mode: str
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"
    live.write_text("")
    directive = {"rename": "nocreate", "create": "create 0644", "copytruncate": "copytruncate"}[
        mode
    ]
    conf = tmp_path / "logrotate.conf"
    conf.write_text(f"{live} {{\n  rotate 20\n  missingok\n  nocompress\n  {directive}\n}}\n")
    tag = f"rotate-{mode}"
    sources = {
        "app": {
            "type": "file",
            "include": [str(live)],
            "inactivityTimeout": 2,
            "sink": "lake",
            "transforms": tagged(tag),
        }
    }
    with RunningCollector(collector_yaml(tmp_path, server, sources), tmp_path, server.api_key) as c:
        c.start()
        done = threading.Event()
        writer = threading.Thread(target=write_lines, args=(live, LINES, done))
        writer.start()
        for _ in range(ROTATIONS):
            time.sleep(0.25)
            subprocess.run(
                ["logrotate", "-f", "-s", str(tmp_path / "logrotate.state"), str(conf)],
                check=True,
                timeout=30,
            )
        writer.join()
        rotated = sorted(logs.glob("app.log.*"))
        assert len(rotated) == ROTATIONS
        if mode == "copytruncate":
            # Lines written between logrotate's copy and its truncate are in neither file:
            # no reader can have them. Every line that is in some file must reach the lake.
            expected = set()
            for p in [live, *rotated]:
                expected |= {s for s in p.read_text().splitlines() if s}
        else:
            expected = {f"rotating line {i:05d} {'x' * 40}" for i in range(LINES)}

        def arrived() -> bool:
            return expected <= {e["event"] for e in lake_events(server, tag)}

        wait_for(arrived, timeout=60)
        assert c.stop() == 0
    counts = Counter(e["event"] for e in lake_events(server, tag))
    assert set(counts) <= {f"rotating line {i:05d} {'x' * 40}" for i in range(LINES)}
    assert [t for t, n in counts.items() if n > 1] == []  # no crash: no duplicates either
    if mode == "copytruncate":
        assert len(expected) >= LINES * 0.9
