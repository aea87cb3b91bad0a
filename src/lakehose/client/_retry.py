"""When to try a HEC request again, and how long to wait first: pure functions.

A request is retried when trying again can succeed and cannot duplicate what a
definite answer stored: 429 and 503 (HEC's "server is busy": nothing was taken),
408, 502 and 504 (a proxy or the clock gave up), and transport failures (refused,
reset, timed out; the last may duplicate, which makes delivery at-least-once).
Every other status is final: 400s carry HEC's verdict on the data, 401/403 on the
key, 413/415 on the body, and 500 may follow a partial store.

The wait honours ``Retry-After`` (seconds or an HTTP date) and adds up to 10% of
jitter so that many senders told the same number do not return in step; without
it, exponential backoff with "equal jitter": half of ``base * 2**(attempt-1)``
fixed, the other half random, capped at ``cap``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

RETRY_STATUSES = frozenset({408, 429, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``retries`` tries after the first, waits starting near ``base`` seconds, each <= ``cap``."""

    retries: int = 3
    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 300.0


def should_retry(status: int | None, *, transient_error: bool = False) -> bool:
    """Whether an answer (``status``; None when the request got none) is worth retrying."""
    if status is None:
        return transient_error
    return status in RETRY_STATUSES


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from ``now`` (epoch seconds), or None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if now is None:
            import time

            now = time.time()
        seconds = when.timestamp() - now
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def backoff_delay(
    attempt: int,
    retry_after: float | None,
    policy: RetryPolicy,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first retry)."""
    if retry_after is not None:
        wait = min(retry_after, policy.max_retry_after)
        return wait + wait * 0.1 * rand()
    ceiling = min(policy.cap, policy.base * 2.0 ** max(0, attempt - 1))
    return ceiling / 2 + ceiling / 2 * rand()
