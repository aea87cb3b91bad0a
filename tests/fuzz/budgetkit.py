"""How many inputs each fuzz target tries, and the tally printed at the end of the run.

Every target runs twice over: a ``fast`` variant in the quick suite, with a fixed
seed so CI sees the same inputs each time, and a ``slow`` variant (``make fuzz``)
with ``LAKEHOSE_FUZZ_EXAMPLES`` inputs (default 2,000) and a fresh seed each run.
Hypothesis keeps no example database: nothing is written into the repository.

A slow target also stops after ``LAKEHOSE_FUZZ_SECONDS`` (default 60): it runs in
rounds of :data:`ROUND` inputs, each round with a fresh seed, until it has tried its
inputs or its time is up, so one slow target (a running server fed 2,000 hostile
requests) cannot keep the others from running. The tally says what each one tried.
"""

from __future__ import annotations

import functools
import os
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

SLOW_DEFAULT = 2000
SLOW_EXAMPLES = int(os.environ.get("LAKEHOSE_FUZZ_EXAMPLES") or SLOW_DEFAULT)
SLOW_SECONDS = float(os.environ.get("LAKEHOSE_FUZZ_SECONDS") or 60)
ROUND = 100  # inputs per round of a slow target (the time budget is checked between rounds)
TALLY: Counter[str] = Counter()

# pytest's 120 s timeout suits the fast variants; a slow one gets its budget and a round more
_SLOW_MARKS = [pytest.mark.slow, pytest.mark.timeout(int(max(120, SLOW_SECONDS + 300)))]
VARIANTS = [pytest.param("fast", id="fast"), pytest.param("slow", id="slow", marks=_SLOW_MARKS)]


def examples(variant: str, fast: int) -> int:
    """Inputs a target tries: ``fast`` in the quick suite, more in the slow one."""
    if variant == "fast":
        return fast
    return max(fast, SLOW_EXAMPLES)


def fuzz_settings(variant: str, fast: int, **extra: Any) -> Callable[[Any], Any]:
    """Hypothesis settings for a target (put above its ``@given``); a slow target runs in
    rounds until it has tried ``examples(variant, fast)`` inputs or ``SLOW_SECONDS`` passed."""
    total = examples(variant, fast)
    chosen = settings(
        max_examples=total if variant == "fast" else min(total, ROUND),
        deadline=None,
        database=None,
        derandomize=variant == "fast",
        suppress_health_check=list(HealthCheck),
        print_blob=True,
        **extra,
    )
    if variant == "fast":
        return chosen

    def budgeted(test: Callable[..., None]) -> Callable[..., None]:
        one_round = chosen(test)

        @functools.wraps(test)
        def rounds(*args: Any, **kwargs: Any) -> None:
            deadline = time.monotonic() + SLOW_SECONDS
            done = 0
            while done < total and (done == 0 or time.monotonic() < deadline):
                one_round(*args, **kwargs)
                done += ROUND

        return rounds

    return budgeted


def tried(target: str, n: int = 1) -> None:
    """Count inputs tried against ``target`` (the summary line prints the totals)."""
    TALLY[target] += n
