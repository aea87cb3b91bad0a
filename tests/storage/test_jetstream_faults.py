"""Kill the stream's leader (SIGKILL, as a machine dying) while pipelined writers append:
every acknowledged batch is stored exactly once at the offsets it was given, offsets stay
dense, and the writers carry on through the election.

The short variant (one leader kill) runs in ``make test``; ``make cluster-chaos`` runs
``LAKEHOSE_JS_KILLS`` cycles (leader and follower kills) and prints what it verified.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from lakehose.storage.jetstream.devcluster import DevCluster, NatsNode
from lakehose.storage.jetstream.layout import Layout
from lakehose.storage.jetstream.link import link_for
from lakehose.storage.jetstream.log import ensure_streams, open_readers
from tests.storage.backendkit import namespace, read_all

ROOT = Path(__file__).resolve().parents[2]


class Writer:
    """A real appender process (``backendkit append-many``) and the acks it printed."""

    def __init__(self, cluster: DevCluster, lake: Path, prefix: str, batches: int) -> None:
        env = {**os.environ, "LAKEHOSE_TEST_NATS": cluster.urls, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.storage.backendkit", "append-many", "jetstream"]
            + [str(lake), "0", str(batches), prefix, "8"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.acked: list[tuple[int, int, str, float]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            first, count, tag, took = line.split()
            self.acked.append((int(first), int(count), tag, float(took)))

    def stop(self) -> None:
        """No new batches: those under way are finished (the process exits 0)."""
        self.proc.send_signal(signal.SIGTERM)

    def finish(self) -> int:
        code = self.proc.wait(180)
        self._reader.join(10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return code


def _leader(cluster: DevCluster, stream: str) -> NatsNode:
    link = link_for(cluster.urls)

    async def name() -> str | None:
        info = await link.js.stream_info(stream)
        return info.cluster.leader if info.cluster else None

    deadline = time.monotonic() + 60
    while (leader := link.call(name())) is None:  # answered by a replica during an election
        assert time.monotonic() < deadline, "the stream has no leader"
        time.sleep(0.1)
    return cluster.node(leader)


def _progress(writers: list[Writer], more: int = 10) -> None:
    """Wait until every writer has ``more`` acknowledgements beyond what it has now."""
    wanted = [len(w.acked) + more for w in writers]
    deadline = time.monotonic() + 120
    while any(len(w.acked) < n for w, n in zip(writers, wanted, strict=True)):
        assert time.monotonic() < deadline, "the writers made no progress"
        ended = [w.proc.poll() for w in writers]
        assert ended == [None] * len(writers), f"a writer ended early: {ended}"
        time.sleep(0.05)


def run_kills(tmp_path: Path, kills: int, followers: bool) -> dict[str, float]:
    """Two writers append until the last of ``kills`` cycles is done (a count would run out
    first on a fast machine, or leave the cycles without load on a slow one); each cycle
    waits for every writer to make progress, kills a leader (or, ``followers``, every other
    cycle a follower), waits for every writer to carry on, and restarts it."""
    lake = tmp_path / "lake"
    with DevCluster(tmp_path / "nats", nodes=3) as cluster:
        layout = Layout(namespace(lake))
        link = link_for(cluster.urls)
        link.call(ensure_streams(link, layout, 1, 3))
        writers = [Writer(cluster, lake, f"w{w}-", 10**9) for w in range(2)]
        try:
            for cycle in range(kills):
                _progress(writers)
                victim = _leader(cluster, layout.stream(0))
                if followers and cycle % 2:
                    victim = next(n for n in cluster.nodes if n is not victim)
                cluster.kill(victim)
                _progress(writers)  # every writer carried on
                cluster.restart(victim)
            for w in writers:  # the cycles are done: no new batches, those under way finish
                w.stop()
            assert [w.finish() for w in writers] == [0, 0]
        finally:
            for w in writers:
                w.proc.kill()
        (reader,) = open_readers(cluster.urls, layout.namespace, 1)
        stored = read_all(reader)
        start, end = reader.bounds()
    acked = [a for w in writers for a in w.acked]
    for w in writers:  # every batch a writer took was acknowledged: none given up
        taken = sorted(int(tag.rsplit("-", 1)[1]) for _, _, tag, _ in w.acked)
        assert taken == list(range(len(taken))) and taken, taken[-5:]
    assert (start, end) == (0, len(stored))
    assert [o for o, _ in stored] == list(range(end))  # dense
    by_offset = dict(stored)
    for first, count, tag, _ in acked:  # every acknowledged event, where it was promised
        assert [by_offset[o]["tag"] for o in range(first, first + count)] == [tag] * count
    times = Counter(str(e["tag"]) for _, e in stored)
    expected = {tag: count for _, count, tag, _ in acked}
    assert times == expected  # nothing stored twice, nothing stored unacknowledged
    return {
        "events": float(end),
        "batches": float(len(acked)),
        "longest_ack_s": max(a[3] for a in acked),
    }


def test_a_leader_kill_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    run_kills(tmp_path, kills=1, followers=False)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_leader_and_follower_kills_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    kills = int(os.environ.get("LAKEHOSE_JS_KILLS", "10"))
    report = run_kills(tmp_path, kills=kills, followers=True)
    print(
        f"\ncluster chaos: {kills} kills (leaders and followers), "
        f"{report['batches']:.0f} acked batches, {report['events']:.0f} events, "
        f"0 lost, 0 duplicated, offsets dense; longest ack {report['longest_ack_s']:.2f} s"
    )
