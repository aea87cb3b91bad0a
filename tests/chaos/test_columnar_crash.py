"""SIGKILL during compaction into the columnar tier: every acknowledged event is seen exactly
once, through search (which reads the columnar files) and through the data feed.

A real ``lakehose serve`` compacts everything at once (``--columnar-after 0``) as fast as it
can (``--columnar-interval 0.1``) while a sender streams numbered events. At random moments
the compactor process is SIGKILLed (the server starts a new one), then the whole server;
after each restart, once the compactor has caught up:

1. ``groupBy(req)`` over the search API, answered from the columnar files (``columnar_files``
   in its stats), counts every request's 50 events once, ``count(id, distinct=true)`` equals
   ``count()`` (no id twice), and both agree with the record batches read from disk.
2. The data feed from offset 0 hands out every acknowledged id once.
3. No temporary or unrecorded file is left once a round has run.

Two cycles run in ``make test``; ``make chaos`` runs ``LAKEHOSE_CHAOS_CYCLES`` (25).
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from lakehose.storage.columnar.compactor import manifest_path
from lakehose.storage.columnar.manifest import Manifest
from lakehose.testing import RunningServer, run_server
from tests.chaos.chaoskit import read_lake
from tests.helpers import bearer_token, process_role, process_rss, wait_for
from tests.server.streamkit import first_stream, open_feed, stream_token

ARGS = ["--columnar-after", "0", "--columnar-interval", "0.1"]
CHAOS_CYCLES = int(os.environ.get("LAKEHOSE_CHAOS_CYCLES", "25"))


class Sender:
    """Numbered events in batches of 50; an id counts once its request got 200 code 0."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.seq = 0
        self.acked: list[str] = []

    def run(self, server: RunningServer, stop: threading.Event) -> None:
        headers = {"Authorization": f"Splunk {server.api_key}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
            while not stop.is_set():
                ids = [f"{self.label}-{self.seq}-{i}" for i in range(50)]
                body = b"".join(
                    orjson.dumps(
                        {
                            "event": {
                                "id": x,
                                "req": f"{self.label}-{self.seq}",
                                "msg": "login failed" if i % 7 else "ok",
                            }
                        }
                    )
                    for i, x in enumerate(ids)
                )
                try:
                    reply = client.post("/services/collector", content=body)
                except httpx.HTTPError:
                    continue  # outcome unknown: never resent, never counted
                self.seq += 1
                if reply.status_code == 200 and reply.json()["code"] == 0:
                    self.acked.extend(ids)
                time.sleep(0.01)


def compactors(server: RunningServer) -> list[int]:
    assert server.proc is not None
    return [pid for pid in process_rss(server.proc.pid) if process_role(pid) == "compact"]


def caught_up(data_dir: Path) -> bool:
    lake_end = sum(len(ids) for ids in read_lake(data_dir).values())
    if not manifest_path(data_dir).exists():
        return False
    m = Manifest(manifest_path(data_dir))
    try:
        return (m.boundary(0) or 0) == lake_end
    finally:
        m.close()


def search(server: RunningServer, token: str, query: str) -> dict[str, Any]:
    reply = httpx.post(
        server.url + "/api/v1/search",
        json={"query": query, "limit": 10_000},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert reply.status_code == 200, reply.text
    found: dict[str, Any] = reply.json()
    return found


def check(server: RunningServer, data_dir: Path, acked: set[str], cycle: int) -> None:
    wait_for(lambda: caught_up(data_dir), timeout=60, interval=0.2)
    stored = Counter(x for ids in read_lake(data_dir).values() for x in ids)
    assert not [x for x, n in stored.items() if n > 1]
    assert acked <= stored.keys()
    token = bearer_token(server, "search:read", name=f"columnar-crash-{cycle}")
    # one group per request of 50 events: each stored request counted once, all of it
    grouped = search(server, token, "groupBy(req)")
    assert grouped["meta"]["search"]["columnar_files"] > 0
    seen = Counter({row["req"]: row["_count"] for row in grouped["resources"]})
    assert seen == Counter(x.rsplit("-", 1)[0] for x in stored.elements())
    total = sum(stored.values())
    for query in ("count()", "count(id, distinct=true)"):  # batch summaries; the files
        found = search(server, token, query)
        assert found["resources"] == [{"_count": total}], (query, found["resources"])
    assert found["meta"]["search"]["columnar_files"] > 0
    failed = search(server, token, "FAILED | count()")
    assert failed["meta"]["search"]["columnar_files"] > 0
    # the feed, from offset 0: every stored id once, in offset order
    stream = stream_token(server, f"columnar-feed-{cycle}")
    with open_feed(first_stream(server, stream, f"columnar{cycle}"), "&offset=0") as feed:
        events = feed.events(sum(stored.values()))
    fed = Counter(e["event"]["id"] for e in events)
    assert fed == stored
    assert [e["metadata"]["offset"] for e in events] == list(range(len(events)))
    leftovers = [p for p in (data_dir / "columnar").rglob("*") if p.suffix in (".tmp", ".ndjson")]
    assert not leftovers


def crash_cycles(tmp_path: Path, cycles: int) -> None:
    rng = random.Random(os.environ.get("LAKEHOSE_CHAOS_SEED", "columnar"))
    data_dir = tmp_path / "data"
    acked: set[str] = set()
    kills = 0
    with run_server(data_dir, args=ARGS) as server:
        for cycle in range(cycles):
            sender = Sender(f"c{cycle}")
            stop = threading.Event()
            thread = threading.Thread(target=sender.run, args=(server, stop))
            thread.start()
            try:
                wait_for(lambda s=sender: len(s.acked) > 0, timeout=30)
                for _ in range(2):  # the compactor dies mid-round; the server starts another
                    time.sleep(rng.uniform(0.05, 0.6))
                    pids = wait_for(lambda: compactors(server), timeout=30)
                    os.kill(pids[0], signal.SIGKILL)
                    kills += 1
                time.sleep(rng.uniform(0.0, 0.5))
                server.kill()
            finally:
                stop.set()
                thread.join(30)
            acked |= set(sender.acked)
            server.restart()
            check(server, data_dir, acked, cycle)
    assert kills == 2 * cycles and len(acked) > 0


def test_sigkill_during_compaction_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    crash_cycles(tmp_path, 2)


@pytest.mark.slow
@pytest.mark.timeout(7200)
def test_many_sigkills_during_compaction(tmp_path: Path) -> None:
    """``make chaos``: LAKEHOSE_CHAOS_CYCLES (25) cycles."""
    crash_cycles(tmp_path, CHAOS_CYCLES)
