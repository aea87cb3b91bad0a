"""Multi-line grouping for ``/raw`` bodies: which lines start an event, which continue one.

SentinelOne SDL groups lines "through multi-line message parsing rules"; a stack
trace posted to ``/raw`` should be one event, not forty. A parser may say
``line_start`` (a new event starts only on a line matching it) and/or
``line_continue`` (a line matching it is joined to the event before). Grouping
happens within one request only, never across requests, so a request is still
the unit a client retries.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LineGrouping:
    """How a parser groups the lines of a ``/raw`` body into events."""

    start: re.Pattern[bytes] | None = None
    cont: re.Pattern[bytes] | None = None

    @classmethod
    def build(cls, start: str | None, cont: str | None) -> LineGrouping | None:
        """The grouping of a parser's ``line_start``/``line_continue`` options, or None."""
        if not start and not cont:
            return None
        return cls(
            re.compile(start.encode()) if start else None,
            re.compile(cont.encode()) if cont else None,
        )

    def continues(self, line: bytes) -> bool:
        """Whether ``line`` belongs to the event before it."""
        if self.cont is not None and self.cont.search(line):
            return True
        return self.start is not None and not self.start.search(line)

    def group(self, lines: list[bytes]) -> Iterator[bytes]:
        """The events of a body's lines (blank lines dropped), each lines joined by ``\\n``.

        A continuation line before any event starts one (nothing is dropped).
        """
        current: list[bytes] = []
        for raw_line in lines:
            line = raw_line.rstrip()
            if not line:
                continue
            if current and self.continues(line):
                current.append(line)
                continue
            if current:
                yield b"\n".join(current).strip()
            current = [line]
        if current:
            yield b"\n".join(current).strip()
