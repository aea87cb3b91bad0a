"""Source transforms: ``regex_filter`` (keep or drop events by a pattern) and ``static_fields``."""

from __future__ import annotations

from collections.abc import Sequence

from lakehose.collector.config import Transform


class TransformChain:
    """A source's transforms, compiled into one keep-test and one set of extra fields."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self._includes = [
            t.pattern
            for t in transforms
            if t.type == "regex_filter" and t.mode == "include" and t.pattern
        ]
        self._excludes = [
            t.pattern
            for t in transforms
            if t.type == "regex_filter" and t.mode == "exclude" and t.pattern
        ]
        self.fields: dict[str, str] = {}
        for t in transforms:
            if t.type == "static_fields":
                self.fields.update(t.fields)
        self.filters = bool(self._includes or self._excludes)

    def keep(self, text: str) -> bool:
        """True when every include pattern matches and no exclude pattern does."""
        for p in self._includes:
            if p.search(text) is None:
                return False
        return all(p.search(text) is None for p in self._excludes)
