"""Which lines of a decompressed record batch can match: byte needles tested before any parsing.

A batch is its lines joined by newlines. With one required needle (the usual
case: ``severity=ERROR``, ``failed``), the scan runs ``bytes.find`` over the
whole buffer and cuts out only the lines around each hit, so lines without it
cost nothing in Python. Anything more involved (``or`` of needles, or a batch
whose JSON uses escapes that could hide the needle) tests each line. See
``query/prefilter.py`` for why a needle never rejects a line that matches.
"""

from __future__ import annotations

from collections.abc import Callable

from lakehose.query.prefilter import AllOf, AnyOf, Needle, NeedleTree, driver

LineTest = Callable[[bytes, bytes], bool]  # (line, lower-cased line) -> may match
_QUOTE = ord('"')


def _ignores_case(tree: NeedleTree) -> bool:
    if isinstance(tree, Needle):
        return tree.ignore_case
    return any(_ignores_case(i) for i in tree.items)


def line_test(tree: NeedleTree) -> LineTest:
    """A function of (line, lower-cased line) that is False only when the line cannot match."""
    if isinstance(tree, Needle):
        text, escape = tree.text, tree.escape
        if tree.ignore_case:
            return lambda line, low: text in low or escape in line
        return lambda line, low: text in line or escape in line
    tests = [line_test(i) for i in tree.items]
    if isinstance(tree, AllOf):
        return lambda line, low: all(t(line, low) for t in tests)
    assert isinstance(tree, AnyOf)
    return lambda line, low: any(t(line, low) for t in tests)


class LineFilter:
    """Candidate lines of a batch for one needle tree (None: every line is a candidate)."""

    def __init__(self, tree: NeedleTree | None) -> None:
        self.tree = tree
        self.test = line_test(tree) if tree is not None else None
        self.lower = tree is not None and _ignores_case(tree)
        self.driver = driver(tree) if tree is not None else None
        # With a single needle, a line that holds it needs no further test.
        self.rest = None if isinstance(tree, Needle) else self.test

    def lines(self, data: bytes, numbered: bool = True) -> list[tuple[int, bytes]]:
        """``(line number, line)`` of every line that may match, in order.

        With ``numbered`` False, the line numbers of the fast path are left at 0.
        """
        if self.test is None:
            return list(enumerate(data.split(b"\n")))
        low = data.lower() if self.lower else data
        d = self.driver
        # memchr finds a backslash fast; JSON escapes are rare, so this is usually -1.
        if d is not None and (data.find(b"\\") < 0 or d.escape not in data):
            return self._find(data, low, d, numbered)
        if not self.test(data, low):  # what no line holds, the whole batch does not hold
            return []
        lines = data.split(b"\n")
        lows = low.split(b"\n") if self.lower else lines
        test = self.test
        return [(i, line) for i, line in enumerate(lines) if test(line, lows[i])]

    def sweepable(self, data: bytes) -> bytes | None:
        """The buffer to scan for :attr:`scan_text` (``data``, or lower-cased for free text)
        when one needle can drive the scan of this batch; None when lines must be tested
        one by one (no single needle, or JSON escapes in the batch)."""
        d = self.driver
        if d is None or (data.find(b"\\") >= 0 and d.escape in data):
            return None
        return data.lower() if self.lower else data

    @property
    def scan_text(self) -> tuple[bytes, bool]:
        """What to scan for, and whether a closing quote must follow each hit.

        ``bytes.find`` skips ahead by the needle's last byte; a quote is the commonest byte
        in JSON, so a closing quote is checked at each hit instead of being scanned for.
        """
        assert self.driver is not None
        text = self.driver.text
        if len(text) > 2 and text[0] == text[-1] == _QUOTE:
            return text[:-1], True
        return text, False

    def _find(
        self, data: bytes, low: bytes, needle: Needle, numbered: bool
    ) -> list[tuple[int, bytes]]:
        hay = low if needle.ignore_case else data
        text, quote = self.scan_text
        after = len(text)
        rest = self.rest
        lower = self.lower
        out: list[tuple[int, bytes]] = []
        find, rfind, count = data.find, data.rfind, data.count
        line_no = 0
        counted_to = 0
        hit = hay.find(text)
        size = len(data)
        while hit >= 0:
            if quote and hay[hit + after : hit + after + 1] != b'"':
                hit = hay.find(text, hit + 1)
                continue
            start = rfind(b"\n", 0, hit) + 1
            end = find(b"\n", hit)
            if end < 0:
                end = size
            if numbered:
                line_no += count(b"\n", counted_to, start)
                counted_to = start
            line = data[start:end]
            if rest is None or rest(line, low[start:end] if lower else line):
                out.append((line_no, line))
            if end >= size:
                break
            hit = hay.find(text, end + 1)
        return out
