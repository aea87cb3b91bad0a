"""How many inputs each fuzz target tries, and the tally printed at the end of the run.

Every target runs twice over: a ``fast`` variant in the quick suite, with a fixed
seed so CI sees the same inputs each time, and a ``slow`` variant (``make fuzz``)
with ``LAKEHOSE_FUZZ_EXAMPLES`` inputs (default 2,000) and a fresh seed each run.
Hypothesis keeps no example database: nothing is written into the repository.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

SLOW_DEFAULT = 2000
SLOW_EXAMPLES = int(os.environ.get("LAKEHOSE_FUZZ_EXAMPLES") or SLOW_DEFAULT)
TALLY: Counter[str] = Counter()

# pytest's 120 s timeout suits the fast variants; a slow one gets half a second an input
_SLOW_MARKS = [pytest.mark.slow, pytest.mark.timeout(max(120, SLOW_EXAMPLES // 2))]
VARIANTS = [pytest.param("fast", id="fast"), pytest.param("slow", id="slow", marks=_SLOW_MARKS)]


def examples(variant: str, fast: int) -> int:
    """Inputs a target tries: ``fast`` in the quick suite, more in the slow one."""
    if variant == "fast":
        return fast
    return max(fast, SLOW_EXAMPLES)


def fuzz_settings(variant: str, fast: int, **extra: Any) -> settings:
    return settings(
        max_examples=examples(variant, fast),
        deadline=None,
        database=None,
        derandomize=variant == "fast",
        suppress_health_check=list(HealthCheck),
        print_blob=True,
        **extra,
    )


def tried(target: str, n: int = 1) -> None:
    """Count inputs tried against ``target`` (the summary line prints the totals)."""
    TALLY[target] += n
