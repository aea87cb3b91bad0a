"""The sink target goes away for a while: SIGKILLed while the sinks send, then restarted on
the same port. Duplicates (a batch stored just before the kill, its 200 lost) are allowed,
counted in the summary line and bounded here; a lost event is not."""

from __future__ import annotations

from pathlib import Path

from tests.collector.sink.outage import run_outage


def test_an_outage_loses_nothing_on_disk_pauses_or_drops_counted_in_memory(
    tmp_path: Path,
) -> None:
    out = run_outage(tmp_path, outage=5.0)
    print(out.summary())
    # disk queue: every event produced is in the lake (at least once), across a
    # collector restart in the middle of the outage
    disk = out.lake["disk"]
    assert set(disk) == set(range(out.produced["disk"]))
    assert out.stats["disk"]["queue_events"] == 0 and out.stats["disk"]["dropped"] == 0
    # pause: the source was held in put() while the 1 MB queue was full; nothing lost
    assert out.paused_during_outage
    assert set(out.lake["pause"]) == set(range(out.produced["pause"]))
    assert out.stats["pause"]["dropped"] == 0
    assert out.max_queue_bytes["pause"] <= 1024 * 1024 + 64 * 1024
    # deleteOldest: the source never waited; what is missing is exactly what was dropped
    drop = out.stats["drop"]
    assert drop["dropped"] > 0
    assert len(out.lake["drop"]) + drop["dropped"] == out.produced["drop"]
    assert min(out.lake["drop"]) == 0 or drop["dropped"] >= min(out.lake["drop"])
    for key in out.produced:  # at most the requests in flight at the kill come twice
        assert out.duplicates(key) <= 2 * 64 * 1024 // 250
    assert out.max_queue_bytes["drop"] <= 1024 * 1024 + 64 * 1024
