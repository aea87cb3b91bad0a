"""Which lines of a decompressed record batch can match: byte needles tested before any parsing.

A batch is its lines joined by newlines. With one required needle (the usual
case: ``severity=ERROR``, ``failed``), the scan looks for the needle in the
whole buffer and cuts out only the lines around each hit, so lines without it
cost nothing in Python. Anything more involved (``or`` of needles, or a batch
whose JSON uses escapes that could hide the needle) tests each line. See
``query/prefilter.py`` for why a needle never rejects a line that matches.

How the needle is looked for: ``bytes.find`` on a short needle skips at most a
needle's length at a time and costs about as much as a third of decompressing
the batch. When one byte of the needle is rare in the data (the ``E`` of
``"ERROR"`` among lower-case JSON), jumping from one such byte to the next with
``memchr`` (``bytes.find`` of one byte) and checking the needle there is several
times faster. Which byte, if any, is chosen from counts in the data itself: on
the first batch a filter scans, then every :data:`_RECHOOSE` batches, so a bad
choice costs little and data that changes is followed.
"""

from __future__ import annotations

from collections.abc import Callable

from lakehose.query.prefilter import AllOf, AnyOf, Needle, NeedleTree, driver

LineTest = Callable[[bytes, bytes], bool]  # (line, lower-cased line) -> may match
_QUOTE = ord('"')
_RECHOOSE = 256  # batches between two choices of the byte to jump to
# A byte is worth jumping to when it occurs, other than in the needle's hits, at most once
# per this many bytes: each such false stop costs a turn of a Python loop (~0.2 us), about
# what bytes.find spends on this many bytes.
_RARE = 512

# (a byte of the needle, its first index in the needle, whether it also occurs elsewhere)
Probe = tuple[bytes, int, bool]


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


def choose_probe(hay: bytes, text: bytes) -> Probe | None:
    """The byte of ``text`` with the fewest occurrences in ``hay`` outside hits of ``text``,
    if rare enough to jump to; None when ``bytes.find`` of the whole needle is the faster."""
    hits = hay.count(text)
    best: tuple[int, int] | None = None  # (false stops, index)
    for i in range(len(text)):
        if text.index(text[i]) != i:
            continue  # a repeated byte: its first index stands for it
        extra = hay.count(text[i : i + 1]) - hits
        if best is None or extra < best[0]:
            best = (extra, i)
    if best is None or best[0] * _RARE > len(hay):
        return None
    return text[best[1] : best[1] + 1], best[1], best[0] > 0


def _low(line: bytes, hay: bytes, start: int, end: int, how: int) -> bytes:
    """``line`` lower-cased for a line test: not at all (0), cut from a lower-cased ``hay`` (1),
    or lower-cased here (2, when the needle that found it is case-sensitive)."""
    if how == 0:
        return line
    return hay[start:end] if how == 1 else line.lower()


class LineFilter:
    """Candidate lines of a batch for one needle tree (None: every line is a candidate).

    It keeps, across the batches it is given, the choice of how to look for its needle.
    """

    def __init__(self, tree: NeedleTree | None) -> None:
        self.tree = tree
        self.test = line_test(tree) if tree is not None else None
        self.lower = tree is not None and _ignores_case(tree)
        self.driver = driver(tree) if tree is not None else None
        # With a single needle, a line that holds it needs no further test.
        self.rest = None if isinstance(tree, Needle) else self.test
        self._probe: Probe | None = None
        self._choose_in = 0  # batches until the probe is chosen again

    def _hay(self, data: bytes) -> bytes | None:
        """The buffer to look for the driving needle in (``data``, or lower-cased when the
        needle is free text); None when lines must be tested one by one (no single needle,
        or JSON escapes in the batch that could hide it)."""
        d = self.driver
        # memchr finds a backslash fast; JSON escapes are rare, so this is usually -1.
        if d is None or (data.find(b"\\") >= 0 and d.escape in data):
            return None
        return data.lower() if d.ignore_case else data

    def lines(self, data: bytes, numbered: bool = True) -> list[tuple[int, bytes]]:
        """``(line number, line)`` of every line that may match, in order.

        With ``numbered`` False, the line numbers of the fast path are left at 0.
        """
        if self.test is None:
            return list(enumerate(data.split(b"\n")))
        hay = self._hay(data)
        if hay is not None:
            assert self.driver is not None
            probe = self._probe_for(hay, self.driver.text)
            if not numbered:
                return [(0, line) for line in self._cut(data, hay, probe, None)]
            starts: list[int] = []
            found = self._cut(data, hay, probe, starts)
            out: list[tuple[int, bytes]] = []
            line_no = counted_to = 0
            for start, line in zip(starts, found, strict=True):
                line_no += data.count(b"\n", counted_to, start)
                counted_to = start
                out.append((line_no, line))
            return out
        low = data.lower() if self.lower else data
        if not self.test(data, low):  # what no line holds, the whole batch does not hold
            return []
        lines = data.split(b"\n")
        lows = low.split(b"\n") if self.lower else lines
        test = self.test
        return [(i, line) for i, line in enumerate(lines) if test(line, lows[i])]

    def candidates(self, data: bytes) -> list[bytes] | None:
        """The lines of ``data`` that may match, in order, when one needle can drive the
        scan of this batch; None when :meth:`lines` must test them one by one."""
        d = self.driver  # as in _hay(), inline: this runs for every batch an aggregate reads
        if d is None or (data.find(b"\\") >= 0 and d.escape in data):
            return None
        hay = data.lower() if d.ignore_case else data
        probe = self._probe_for(hay, d.text)
        if probe is None or self.rest is not None:
            return self._cut(data, hay, probe, None)
        # The aggregates' usual case, kept lean: per hit, three finds and a slice.
        byte, at, checked = probe
        text = d.text
        out: list[bytes] = []
        find, rfind, hfind, append = data.find, data.rfind, hay.find, out.append
        if not checked:
            # The byte occurred only in the needle when it was chosen: every stop is taken
            # as a hit unchecked. Should the data change, a line without the needle is
            # only a needless candidate (its decoded fields decide), until the next choice.
            index = data.index  # raises at a stop on the last line, which has no newline
            stop = hfind(byte)
            try:
                while stop >= 0:
                    end = index(b"\n", stop)
                    append(data[rfind(b"\n", 0, stop) + 1 : end])
                    stop = hfind(byte, end)
            except ValueError:
                append(data[rfind(b"\n", 0, stop) + 1 :])
            return out
        starts_with = hay.startswith
        stop = hfind(byte, at)  # stop >= at, so hit >= 0 below
        while stop >= 0:
            hit = stop - at
            if starts_with(text, hit):
                end = find(b"\n", hit)
                if end < 0:
                    append(data[rfind(b"\n", 0, hit) + 1 :])
                    break
                append(data[rfind(b"\n", 0, hit) + 1 : end])
                stop = hfind(byte, end + 1 + at)
            else:
                stop = hfind(byte, stop + 1)
        return out

    def _probe_for(self, hay: bytes, text: bytes) -> Probe | None:
        """The byte to jump to in this batch, chosen again every :data:`_RECHOOSE` batches."""
        self._choose_in -= 1
        if self._choose_in <= 0:
            self._choose_in = _RECHOOSE
            self._probe = choose_probe(hay, text)
        return self._probe

    def _cut(
        self, data: bytes, hay: bytes, probe: Probe | None, starts: list[int] | None
    ) -> list[bytes]:
        """Cut out the lines around the hits of the driving needle in ``hay`` (the start of
        each goes into ``starts`` when given), then apply the rest of the tree to each."""
        needle = self.driver
        assert needle is not None
        text = needle.text
        rest = self.rest
        # How the rest of the tree gets each line lower-cased, when a needle of it ignores case.
        lower = 0 if not self.lower else 1 if needle.ignore_case else 2
        out: list[bytes] = []
        find, rfind, hfind = data.find, data.rfind, hay.find
        size = len(data)
        if probe is not None:
            byte, at, _ = probe
            starts_with = hay.startswith
            stop = hfind(byte, at)
            while stop >= 0:
                hit = stop - at
                if not starts_with(text, hit):
                    stop = hfind(byte, stop + 1)
                    continue
                start = rfind(b"\n", 0, hit) + 1
                end = find(b"\n", hit)
                if end < 0:
                    end = size
                line = data[start:end]
                if rest is None or rest(line, _low(line, hay, start, end, lower)):
                    out.append(line)
                    if starts is not None:
                        starts.append(start)
                if end >= size:
                    break
                stop = hfind(byte, end + 1 + at)
            return out
        # bytes.find skips ahead by the needle's last byte; a quote is the commonest byte in
        # JSON, so a closing quote is checked at each hit instead of being looked for.
        quote = len(text) > 2 and text[0] == text[-1] == _QUOTE
        if quote:
            text = text[:-1]
        after = len(text)
        hit = hfind(text)
        while hit >= 0:
            if quote and hay[hit + after : hit + after + 1] != b'"':
                hit = hfind(text, hit + 1)
                continue
            start = rfind(b"\n", 0, hit) + 1
            end = find(b"\n", hit)
            if end < 0:
                end = size
            line = data[start:end]
            if rest is None or rest(line, _low(line, hay, start, end, lower)):
                out.append(line)
                if starts is not None:
                    starts.append(start)
            if end >= size:
                break
            hit = hfind(text, end + 1)
        return out
