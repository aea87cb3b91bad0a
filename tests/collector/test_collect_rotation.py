"""``logrotate`` rotates a tailed file (rename, create, copytruncate) while lines are appended."""

from __future__ import annotations

import os
import shutil
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


class Writer(threading.Thread):
    """A writer that opens the file per burst, as syslog-style writers after a HUP do. It
    writes at least ``LINES`` lines and goes on until told to stop, so every rotation has a
    file to rotate however slowly a loaded machine runs ``logrotate``; past ``LINES`` at a
    trickle, so that what the collector must ship does not grow with the load (at full
    speed a starved machine's writer wrote for half a minute, more than the collector then
    shipped in a minute)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.written = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while self.written < LINES or not self.stop.is_set():
            with self.path.open("a") as f:
                for _ in range(20):
                    f.write(line(self.written) + "\n")
                    self.written += 1
            time.sleep(0.004 if self.written < LINES else 0.1)


def line(i: int) -> str:
    return f"rotating line {i:05d} {'x' * 40}"


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
        writer = Writer(live)
        writer.start()
        for _ in range(ROTATIONS):
            time.sleep(0.25)
            # After a rename without create the writer's next burst makes the file again.
            wait_for(lambda: live.exists() and live.stat().st_size > 0, timeout=30)
            subprocess.run(
                ["logrotate", "-f", "-s", str(tmp_path / "logrotate.state"), str(conf)],
                check=True,
                timeout=30,
            )
        writer.stop.set()
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
            expected = {line(i) for i in range(writer.written)}

        def arrived() -> bool:
            return expected <= {e["event"] for e in lake_events(server, tag)}

        wait_for(arrived, timeout=180, interval=0.5)  # each look reads the whole lake
        assert c.stop() == 0
    counts = Counter(e["event"] for e in lake_events(server, tag))
    assert set(counts) <= {line(i) for i in range(writer.written)}
    assert [t for t, n in counts.items() if n > 1] == []  # no crash: no duplicates either
    if mode == "copytruncate":
        # the test had lines to check: copytruncate's windows lose some (100 ms of a loaded
        # logrotate lost 500 of the writer's 5,000 a second), never most
        assert len(expected) >= LINES // 2


def test_a_copytruncate_while_reading_waits_tears_no_line(
    server: RunningServer, tmp_path: Path
) -> None:
    """The reader waits for receipts (16 batches unconfirmed) between its look at the file
    and its read; the file is copied, truncated and written past the old position
    meanwhile. The read must not start in the middle of a new line: it finds the copy,
    reads its rest, then the new file from its start."""
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"
    live.write_text("")
    tag = "rotate-wait"
    sources = {
        "app": {
            "type": "file",
            "include": [str(live)],
            "inactivityTimeout": 30,
            "sink": "lake",
            "transforms": tagged(tag),
        }
    }
    # The sink holds events up to 6 s for a batch: receipts stay open that long, so the
    # reader stops before a read once 16 puts wait (the source's MAX_IN_FLIGHT).
    config = collector_yaml(tmp_path, server, sources, queue={"flushTimeOutInMillisecond": 6000})
    old = [f"old {i:03d}" for i in range(40)]
    new = [f"new line {i:04d} after the cut" for i in range(200)]
    with RunningCollector(config, tmp_path, server.api_key) as c:
        c.start()
        for line in old:  # one read and one put each
            with live.open("a") as f:
                f.write(line + "\n")
            time.sleep(0.06)
        time.sleep(0.5)  # the reader has seen the last lines and waits for receipts
        shutil.copyfile(live, logs / "app.log.1")  # what logrotate's copytruncate does
        os.truncate(live, 0)
        with live.open("a") as f:
            f.write("".join(line + "\n" for line in new))  # past where the reader was

        wait_for(
            lambda: new[-1] in {e["event"] for e in lake_events(server, tag)},
            timeout=180,
            interval=0.5,
        )
        assert c.stop() == 0  # sends what it still holds
    counts = Counter(e["event"] for e in lake_events(server, tag))
    assert sorted(set(counts) - set(old + new)) == []  # no torn line
    assert sorted(set(old + new) - set(counts)) == []  # the copy's rest, the new file whole
    assert [t for t, n in counts.items() if n > 1] == []
