"""SIGKILL mid-load: every event that got a 200 is in the lake exactly once, cycle after cycle.

The fast variant runs in ``make test``; ``make chaos`` runs more cycles
(``LAKEHOSE_CHAOS_CYCLES``).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import orjson
import pytest

from lakehose.testing import RunningServer, run_server
from tests.helpers import stored_events, wait_for


class Sender(threading.Thread):
    """Sends batches of uniquely numbered events until stopped; remembers what got a 200."""

    def __init__(self, server: RunningServer, name: str, batch: int) -> None:
        super().__init__(daemon=True)
        self.url = server.hec_url
        self.key = str(server.api_key)
        self.label = name
        self.batch = batch
        self.acked: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        seq = 0
        with httpx.Client(headers={"Authorization": f"Splunk {self.key}"}, timeout=10) as client:
            while not self.stop.is_set():
                ids = [f"{self.label}-{seq}-{i}" for i in range(self.batch)]
                seq += 1
                body = b"\n".join(orjson.dumps({"event": {"id": x}}) for x in ids)
                try:
                    reply = client.post(self.url, content=body)
                except httpx.HTTPError:
                    continue  # unknown outcome: the server may or may not have it; never resent
                if reply.status_code == 200 and reply.json().get("code") == 0:
                    self.acked.extend(ids)


def check_lake(data_dir: Path, acked: set[str]) -> int:
    events = stored_events(data_dir)
    assert [e["offset"] for e in events] == list(range(len(events))), "offsets must be dense"
    counts = Counter(e["event"]["id"] for e in events)
    duplicated = [x for x, n in counts.items() if n > 1]
    assert not duplicated, f"{len(duplicated)} events stored twice, e.g. {duplicated[:3]}"
    missing = acked - counts.keys()
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:3]}"
    return len(events)


def crash_cycles(tmp_path: Path, cycles: int, workers: int) -> None:
    rng = random.Random(os.environ.get("LAKEHOSE_CHAOS_SEED", "lakehose"))
    data_dir = tmp_path / "data"
    acked: set[str] = set()
    with run_server(data_dir, workers=workers) as server:
        for cycle in range(cycles):
            senders = [
                Sender(server, f"c{cycle}s{i}", batch=rng.choice([1, 10, 50])) for i in range(4)
            ]
            for s in senders:
                s.start()
            # kill at a random moment once load is flowing (the first 200s have come back)
            wait_for(lambda group=senders: all(s.acked for s in group), timeout=60)
            time.sleep(rng.uniform(0.0, 0.8))
            server.kill()
            for s in senders:
                s.stop.set()
                s.join(15)
            cycle_acked = {x for s in senders for x in s.acked}
            assert cycle_acked, "no request succeeded before the kill"
            acked |= cycle_acked
            server.restart()
            check_lake(data_dir, acked)
    total = check_lake(data_dir, acked)
    assert total >= len(acked)


def test_sigkill_mid_load_loses_and_duplicates_nothing_acknowledged(tmp_path: Path) -> None:
    crash_cycles(tmp_path, cycles=3, workers=2)


@pytest.mark.slow
def test_many_sigkill_cycles(tmp_path: Path) -> None:
    crash_cycles(tmp_path, cycles=int(os.environ.get("LAKEHOSE_CHAOS_CYCLES", "25")), workers=2)
