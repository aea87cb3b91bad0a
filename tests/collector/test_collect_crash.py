"""SIGKILL the collector at random moments while files grow: nothing lost, duplicates bounded.

The fast variant (in ``make test``) kills twice with a disk queue, once with a memory one; ``make collector-crash`` runs
the long one (``LAKEHOSE_COLLECTOR_KILLS`` kills, default 20) and prints the figures.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from lakehose.collector.queue.cursor import CURSOR, parse_cursor
from lakehose.collector.queue.segment import SegmentReader, parse_name
from lakehose.collector.sources.file import SAVE_EVERY_BYTES
from lakehose.testing import RunningServer
from tests.collector.running import RunningCollector, collector_yaml, lake_events, tagged
from tests.helpers import wait_for

FILES = 3
BATCH_BYTES = 256 * 1024
ENVELOPE_BYTES = 300
"""At least what one line's HEC envelope takes, with the collector's metadata fields."""


class Writers:
    """Appends numbered lines to several files; one of them is renamed away now and then."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.written: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        rng = random.Random(7)
        n = 0
        while not self.stop.is_set():
            i = rng.randrange(FILES)
            path = self.folder / f"f{i}.log"
            with path.open("a") as f:
                for _ in range(rng.randint(1, 40)):
                    line = f"crash line {n:07d} file {i} {'y' * rng.randint(0, 120)}"
                    f.write(line + "\n")
                    self.written.append(line)
                    n += 1
            if n % 2000 < 40 and i == 0:
                os.rename(path, self.folder / f"f0.log.{n}")  # a rename rotation, mid-run
            time.sleep(0.002)


def repeatable(logs: Path, state: Path, stored: set[str]) -> int:
    """Lines a restart may send again by reading them anew: those past the checkpoint's offset
    (on disk now, after a kill) in each file, known by inode, that the lake already holds."""
    try:
        entries = orjson.loads((state / "checkpoints" / "app.json").read_bytes())
    except FileNotFoundError:
        entries = {}
    offsets = {key: entry["offset"] for key, entry in entries.items()}
    for _ in range(10):  # a file renamed away under our feet: count again
        try:
            total = 0
            for path in logs.iterdir():
                st = path.stat()
                with path.open("rb") as f:
                    f.seek(offsets.get(f"{st.st_dev}:{st.st_ino}", 0))
                    tail = f.read().decode()
                total += sum(line in stored for line in tail.splitlines())
            return total
        except FileNotFoundError:
            continue
    raise AssertionError("the log files kept moving")


def queued_again(state: Path, stored: set[str]) -> int:
    """Records a restart sends again from a disk queue: those past its cursor on disk (after
    a kill) that the lake already holds: batches sent and stored, or waiting for their
    indexer acks, whose commit the cursor had not recorded yet."""
    total = 0
    cursors = list(state.rglob(CURSOR))
    assert cursors, f"no disk queue cursor under {state}"
    for cursor in cursors:
        committed = parse_cursor(cursor.read_bytes()) or 0
        for path in cursor.parent.iterdir():
            if parse_name(path.name) is None:
                continue
            reader = SegmentReader(path)
            try:
                while (found := reader.next(path.stat().st_size)) is not None:
                    seq, payload = found
                    total += seq > committed and orjson.loads(payload)["event"] in stored
            finally:
                reader.close()
    return total


def crash_run(server: RunningServer, tmp_path: Path, queue: str, kills: int) -> dict[str, int]:
    logs = tmp_path / "logs"
    logs.mkdir()
    tag = f"crash-{queue}-{tmp_path.name}"
    sources = {
        "app": {
            "type": "file",
            # rotated names too: a file may be created and rotated while the collector is down
            "include": [str(logs / "*.log"), str(logs / "*.log.*")],
            "inactivityTimeout": 3,
            "sink": "lake",
            "transforms": tagged(tag),
        }
    }
    config = collector_yaml(
        tmp_path,
        server,
        sources,
        queue={"type": queue, "flushTimeOutInMillisecond": 200, "maxLimitInMB": 64},
        maxBatchSize=BATCH_BYTES,
    )
    state = tmp_path / "collector-state"
    writers = Writers(logs)
    rng = random.Random(kills)
    reread = queued = 0
    writers.thread.start()
    try:
        for k in range(kills):
            with RunningCollector(config, tmp_path / f"run{k}", server.api_key) as c:
                c.start()
                if queue == "disk":  # killed while it works: its queue has committed once
                    wait_for(lambda: any(state.rglob(CURSOR)), 120)
                time.sleep(rng.uniform(0.3, 1.5))
                c.kill()
            stored = {e["event"] for e in lake_events(server, tag)}
            reread += repeatable(logs, state, stored)
            if queue == "disk":
                queued += queued_again(state, stored)
    finally:
        writers.stop.set()
        writers.thread.join()
    expected = set(writers.written)
    with RunningCollector(config, tmp_path / "final", server.api_key) as c:
        c.start()

        def all_in() -> bool:
            return expected <= {e["event"] for e in lake_events(server, tag)}

        wait_for(all_in, timeout=90)
        assert c.stop() == 0
    counts = Counter(e["event"] for e in lake_events(server, tag))
    lost = len(expected - set(counts))
    duplicates = sum(n - 1 for n in counts.values())
    # What one kill may repeat: the stored lines past the checkpoint on disk, which the
    # restart reads again (measured after each kill: on a quiet machine at most about
    # SAVE_EVERY_BYTES of them, more when a loaded machine delays the checkpoint's fsync), and
    # the disk queue's records past its cursor on disk that the lake holds (counted after
    # each kill: batches stored or waiting for their acks, more of them on a loaded machine),
    # and the sink's batches in flight when it died. Nothing before the checkpoint may come again.
    mean_line = sum(len(x) + 1 for x in expected) / max(1, len(expected))
    batches = kills * 4 * BATCH_BYTES / ENVELOPE_BYTES
    figures = {
        "kills": kills,
        "lines": len(expected),
        "lost": lost,
        "duplicates": duplicates,
        "reread_past_checkpoints": reread,
        "queued_past_cursor": queued,
        "quiet_reread_bound": int(kills * SAVE_EVERY_BYTES / mean_line),
        "bound": int(reread + queued + batches),
    }
    print(f"\ncollector crash ({queue} queue): {figures}")
    return figures


@pytest.mark.parametrize(("queue", "kills"), [("disk", 2), ("memory", 1)])
def test_sigkill_of_the_collector_while_files_grow_loses_nothing(
    server: RunningServer, tmp_path: Path, queue: str, kills: int
) -> None:
    figures = crash_run(server, tmp_path, queue, kills=kills)
    assert figures["lost"] == 0
    assert figures["duplicates"] <= figures["bound"]


@pytest.mark.slow
@pytest.mark.parametrize("queue", ["disk", "memory"])
def test_many_sigkills_of_the_collector(server: RunningServer, tmp_path: Path, queue: str) -> None:
    kills = int(os.environ.get("LAKEHOSE_COLLECTOR_KILLS", "20"))
    figures = crash_run(server, tmp_path, queue, kills=kills)
    assert figures["lost"] == 0
    assert figures["duplicates"] <= figures["bound"]
