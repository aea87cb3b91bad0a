"""What a load generator reports about one run, whichever generator it was."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.payloads import Payload

SUCCESS_MARK = b'"code":0'  # a HEC 200 that really is a success says so in its body
_BUCKETS_PER_E = 50  # latency histogram resolution: 2 % per bucket


@dataclass(frozen=True)
class LoadSpec:
    """What to send, where, how many connections, and from which CPUs: any generator's job."""

    url: str  # the server's base URL
    token: str
    payload: Payload
    body_file: Path  # the payload's body, for generators in other processes
    connections: int
    cpus: set[int] | None

    @property
    def endpoint(self) -> str:
        return self.url.rstrip("/") + self.payload.path


@dataclass
class LoadResult:
    """Replies counted by a generator over its timed window."""

    generator: str
    seconds: float
    requests: int
    statuses: dict[int, int]
    bad_bodies: int  # status 200 but no "code":0 in the body
    socket_errors: dict[str, int]
    latency_ms: dict[str, float]
    parallel: int  # threads or processes: how many cores the generator can keep busy
    acked_with_warmup: int  # successful replies, warm-up included: what the log must hold
    detail: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0) - self.bad_bodies

    @property
    def errors(self) -> int:
        return self.requests - self.ok + sum(self.socket_errors.values())


def latency_bucket(seconds: float) -> int:
    return int(math.log(max(seconds, 1e-7) * 1e6) * _BUCKETS_PER_E)


def bucket_ms(bucket: int) -> float:
    return math.exp((bucket + 0.5) / _BUCKETS_PER_E) / 1000.0


def percentiles(histogram: Counter[int]) -> dict[str, float]:
    """p50, p90, p99 and max (ms) of a latency histogram, to within 2 %."""
    total = sum(histogram.values())
    out = {"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    if not total:
        return out
    wanted = [("p50", 0.50), ("p90", 0.90), ("p99", 0.99)]
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        while wanted and seen >= wanted[0][1] * total:
            out[wanted.pop(0)[0]] = round(bucket_ms(bucket), 3)
    out["max"] = round(bucket_ms(max(histogram)), 3)
    return out
