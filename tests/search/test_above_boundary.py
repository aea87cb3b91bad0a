"""The row engine's view above the columnar boundary: aggregates count only the batches there."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lakehose.query.timerange import TimeRange
from lakehose.search.tiers import AboveBoundary
from lakehose.storage.base import Buckets
from tests.storage.backendkit import LOG_BACKENDS, T0, pending

S = 10**9


def test_tag_groups_and_bucket_counts_leave_out_the_compacted_batches(tmp_path: Path) -> None:
    backend = next(b for b in LOG_BACKENDS if b.name == "sqlite")

    async def fill() -> None:
        log = backend.open_log(tmp_path, 1)
        await log.start(asyncio.get_running_loop())
        try:
            await log.append(0, pending("a", 3, connector="fw", start=0), 10)  # offsets 0..2
            await log.append(0, pending("b", 2, connector="edr", start=10), 10)  # 3..4
            await log.append(0, pending("c", 4, connector="fw", start=70), 10)  # 5..8
            await log.append(0, pending("d", 1, connector="fw", start=130), 10)  # 9
        finally:
            await log.close()

    asyncio.run(fill())
    (reader,) = backend.open_readers(tmp_path, 1)
    above = AboveBoundary(reader, 5)  # batches "a" and "b" are in the columnar tier
    minute = Buckets(origin=T0, width=60 * S, low=T0, high=T0 + 300 * S)
    everything = TimeRange(None, None)
    try:
        assert sorted(above.tag_groups(everything, {})) == [
            ("fw", "main", "st", 2, T0 + 70 * S, T0 + 130 * S),
        ]
        assert sorted(above.bucket_counts(everything, {}, minute)) == [
            ("fw", "main", "st", 1, 4, 1),
            ("fw", "main", "st", 2, 1, 1),
        ]
        # with the boundary at 0 the view agrees with the backend's own aggregates
        whole = AboveBoundary(reader, 0)
        assert sorted(whole.tag_groups(everything, {})) == sorted(reader.tag_groups(everything, {}))
        assert sorted(whole.bucket_counts(everything, {}, minute)) == sorted(
            reader.bucket_counts(everything, {}, minute)
        )
    finally:
        reader.close()
