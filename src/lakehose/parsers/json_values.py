"""A body's top-level JSON values, and the checks that keep them readable by every reader.

Every reader parses stored events with orjson, so an event must be something orjson
reads and writes back: numbers within a double's range, valid UTF-8 (no lone
surrogates), and at most :data:`MAX_DEPTH` levels of nesting.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

import orjson


class JsonSyntaxError(ValueError):
    """The next value in a body is not valid JSON."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text[:40]} is beyond the range of a double")
    return value


def _integer(text: str) -> int | float:
    """An integer as orjson reads it: beyond 64 bits it becomes a float (or is refused)."""
    value = int(text)
    return value if -(2**63) <= value < 2**64 else _finite(text)


_DECODER = json.JSONDecoder(
    parse_constant=_reject_constant, parse_float=_finite, parse_int=_integer
)
_WS = " \t\n\r"

# Deeper events are refused (code 6): orjson writes at most 254 levels, and replies wrap an
# event in a few more (a search reply: body, resources, row).
MAX_DEPTH = 200


def _nesting(value: Any) -> int:
    """How many levels of arrays and objects ``value`` has (0 for a scalar), without recursion."""
    depth, level = 0, [value]
    while True:
        containers = [v for v in level if type(v) is dict or type(v) is list]
        if not containers:
            return depth
        depth += 1
        level = [c for v in containers for c in (v.values() if type(v) is dict else v)]


def too_deep(text: bytes) -> bool:
    """Whether a JSON text nests deeper than :data:`MAX_DEPTH` (or does not parse).

    A level costs two bytes and a bracket, so a short text, or one with few brackets, is
    let through without parsing it.
    """
    if len(text) <= 2 * MAX_DEPTH or text.count(b"[") + text.count(b"{") <= MAX_DEPTH:
        return False
    try:
        return _nesting(orjson.loads(text)) > MAX_DEPTH
    except orjson.JSONDecodeError:
        return True


# The "shape" of a body: digits -> 0, e/E -> e, delimiters that can end a number -> ','
# (plus signs are deleted), everything else -> x. A number beyond a double's range has an
# exponent of 3+ digits or 200+ digits in a row, so it shows as one of these.
_SHAPE = bytes(
    c if c in b"0e," else ord("x")
    for c in bytes.maketrans(b"0123456789eE,}] \t\r\n", b"0000000000ee,,,,,,,")
)
_BIG_EXPONENT = re.compile(rb"e0{3,},")
_LONG_NUMBER = b"0" * 200


def may_overflow(body: bytes) -> bool:
    """Whether ``body`` may hold a number beyond a double's range (such as ``1e400``).

    msgspec keeps an event's text without reading its numbers, but orjson, which every
    reader uses, refuses such a number; a body that may hold one takes the exact path.
    One translate and two searches: a few percent of the fast path's time.
    """
    shape = body.translate(_SHAPE, b"+")
    return _LONG_NUMBER in shape or _BIG_EXPONENT.search(shape) is not None


def _scan(text: str) -> Iterator[Any]:
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos] in _WS:
            pos += 1
        if pos >= end:
            return
        try:
            value, pos = _DECODER.raw_decode(text, pos)
        except (ValueError, RecursionError) as exc:
            raise JsonSyntaxError(str(exc)) from None
        yield value


def _scan_bytes(body: bytes) -> Iterator[Any]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = JsonSyntaxError(f"invalid UTF-8 at byte {exc.start}")
        try:
            yield from _scan(body[: exc.start].decode("utf-8"))
        except JsonSyntaxError:
            raise bad from None
        raise bad from None
    yield from _scan(text)


def _iter_lines(lines: list[bytes]) -> Iterator[Any]:
    for i, raw_line in enumerate(lines):
        line = raw_line.strip()
        if not line:
            continue
        try:
            yield orjson.loads(line)
            continue
        except orjson.JSONDecodeError:
            pass
        if b"}{" in line:
            try:
                values = [orjson.loads(p) for p in line.replace(b"}{", b"}\n{").split(b"\n")]
            except orjson.JSONDecodeError:
                values = None
            if values is not None:
                yield from values
                continue
        yield from _scan_bytes(b"\n".join(lines[i:]))
        return


def parse_values(body: bytes) -> tuple[list[Any], JsonSyntaxError | None]:
    """Every top-level JSON value in ``body`` up to the first bad one, and that error if any.

    The caller has already tried the body as one value.
    """
    lines = body.splitlines()
    # Fast path: every line one value. Join the lines into one array and parse once; a
    # value spanning lines cannot survive the join (it gains a stray comma), and the count
    # check rules out any other way for the join to succeed.
    nonblank = list(filter(None, lines))
    if len(nonblank) > 1:
        try:
            joined = orjson.loads(b"[" + b",".join(nonblank) + b"]")
        except orjson.JSONDecodeError:
            pass
        else:
            if len(joined) == len(nonblank):
                return joined, None
    values: list[Any] = []
    try:
        values.extend(_iter_lines(lines))
    except JsonSyntaxError as exc:
        return values, exc
    return values, None
