"""The collector's sinks through a long outage of their lakehose, and a delivering process
killed again and again (``make chaos``).

The same scenarios as ``tests/collector/sink/test_sink_outage.py`` (the server SIGKILLed and
down for ``LAKEHOSE_SINK_OUTAGE_SECONDS``, default 60: disk queue, memory ``pause`` and
``deleteOldest``) and ``tests/collector/sink/test_collector_crash.py`` (``LAKEHOSE_CHAOS_CYCLES``
kills, disk and memory queues).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.collector.sink.outage import run_outage


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_long_outage_loses_nothing_on_disk_pauses_or_drops_counted(tmp_path: Path) -> None:
    outage = float(os.environ.get("LAKEHOSE_SINK_OUTAGE_SECONDS", "60"))
    out = run_outage(tmp_path, outage=outage)
    print(f"sink outage of {outage:g} s: {out.summary()}")
    assert set(out.lake["disk"]) == set(range(out.produced["disk"]))
    assert out.paused_during_outage
    assert set(out.lake["pause"]) == set(range(out.produced["pause"]))
    drop = out.stats["drop"]
    assert drop["dropped"] > 0
    assert len(out.lake["drop"]) + drop["dropped"] == out.produced["drop"]


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("queue", ["disk", "memory"])
def test_a_collector_killed_again_and_again_loses_no_safe_event(tmp_path: Path, queue: str) -> None:
    from lakehose.testing import run_server
    from tests.collector.sink.test_collector_crash import crash_cycles

    cycles = int(os.environ.get("LAKEHOSE_CHAOS_CYCLES", "25"))
    with run_server(tmp_path / "lake") as server:
        print(crash_cycles(server, tmp_path / "collector", queue, cycles))
