"""How one field value matches one query value: text, wildcards, numbers, regexes.

Field matching is case-sensitive, as in LogScale; free text ignores case. A
value and a query value compare as numbers when both are numbers (a JSON
number, or a string of plain decimal digits such as ``"404"`` or ``"-1.5"``).
An array matches when any of its elements does. A missing field matches
nothing, except through ``!=`` (which is ``not =``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from lakehose.query.fields import MISSING
from lakehose.query.nodes import Regex, Text
from lakehose.query.regex import compile_search

Matcher = Callable[[Any], bool]

_DECIMAL = re.compile(r"-?\d+(?:\.\d+)?\Z")


def as_number(value: Any) -> int | float | None:
    """The number a JSON value stands for, or None (booleans are not numbers)."""
    kind = type(value)
    if kind is int or kind is float:
        return value  # type: ignore[no-any-return]
    if kind is str and _DECIMAL.match(value):
        return int(value) if "." not in value else float(value)
    return None


def canonical_number(number: int | float) -> str:
    """The shortest decimal text of a number: every plain decimal spelling of it contains it.

    ``200`` for 200 and 200.0; ``4.5`` for 4.50; ``0.00001`` for 1e-05. A float is read from
    its shortest round-trip spelling (``repr``), not its binary value: 4.078834576914385e16 is
    written ``40788345769143850`` by senders, while ``int()`` of it ends in ``848``.
    """
    if isinstance(number, int):
        return str(number)
    if number == 0:
        return "0"  # -0.0 too: "0" is in every spelling of zero, "-0" is not
    text = format(Decimal(repr(number)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def as_text(value: Any) -> str | None:
    """A scalar as text for wildcards and regexes: strings as they are, JSON spelling otherwise."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is float:
        return str(value)
    return None


def _any_element(match: Matcher) -> Matcher:
    """Let a scalar matcher accept arrays whose elements match."""

    def matcher(value: Any) -> bool:
        if type(value) is list:
            return any(match(item) for item in value)
        return match(value)

    return matcher


def wildcard_regex(parts: tuple[str, ...], *, anchored: bool, ignore_case: bool) -> re.Pattern[str]:
    """The regex a wildcard means; for reference and tests (matching uses :func:`wildcard`)."""
    body = ".*".join(re.escape(p) for p in parts)
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile(f"^{body}\\Z" if anchored else body, flags)


def wildcard(parts: tuple[str, ...], *, anchored: bool, ignore_case: bool) -> Callable[[str], bool]:
    """A ``*`` wildcard matcher in linear time: each part found after the one before.

    The regex ``a.*a.*a.*b`` backtracks polynomially in the text's length for every
    ``*`` (a query of 30 of them kept a core busy for many minutes when the fuzzer tried
    one); finding the parts left to right with ``str.find`` is exact for ``*``-only
    patterns, since the leftmost place for each part leaves the most room for the rest.
    """
    if ignore_case:
        parts = tuple(p.lower() for p in parts)
    head, tail = parts[0], parts[-1]
    inner = parts[1:-1] if anchored else parts
    least = sum(map(len, parts))

    def match(text: str) -> bool:
        if ignore_case:
            text = text.lower()
        if len(text) < least:
            return False
        pos, end = 0, len(text)
        if anchored:
            if not (text.startswith(head) and text.endswith(tail)):
                return False
            pos, end = len(head), len(text) - len(tail)
        for part in inner:
            found = text.find(part, pos, end)
            if found < 0:
                return False
            pos = found + len(part)
        return True

    return match


def equals(value: Text | Regex) -> Matcher:
    """``field=value``: exact text, wildcard, number or regex."""
    if isinstance(value, Regex):
        return regex_match(value)
    if value.is_anything:
        return lambda v: v is not MISSING
    if value.is_wildcard:
        matches = wildcard(value.parts, anchored=True, ignore_case=False)

        def wild(v: Any) -> bool:
            text = as_text(v)
            return text is not None and matches(text)

        return _any_element(wild)
    literal = value.literal
    number = as_number(literal)
    true_false = literal if literal in ("true", "false") else None

    def other(v: Any) -> bool:
        kind = type(v)
        if kind is str:
            return number is not None and as_number(v) == number
        if kind is int or kind is float:
            return number is not None and v == number
        if kind is bool:
            return true_false is not None and (v is True) == (true_false == "true")
        if kind is list:
            return any(i == literal or other(i) for i in v)
        return False

    def exact(v: Any) -> bool:
        return v == literal or other(v)

    return exact


def regex_match(value: Regex) -> Matcher:
    search = compile_search(value.pattern, value.flags)

    def match(v: Any) -> bool:
        text = as_text(v)
        return text is not None and search(text)

    return _any_element(match)


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def ordered(op: str, number: int | float) -> Matcher:
    """``field < number`` and friends: numbers only; text never matches."""
    compare = _ORDER[op]

    def match(v: Any) -> bool:
        n = as_number(v)
        return n is not None and compare(n, number)

    return _any_element(match)


def free_text(value: Text | Regex) -> Matcher:
    """A bare word, phrase or regex against ``@rawstring``; words and phrases ignore case."""
    if isinstance(value, Regex):
        return regex_match(value)
    if value.is_anything:
        return lambda v: v is not MISSING
    if value.is_wildcard:
        contains = wildcard(value.parts, anchored=False, ignore_case=True)
        return lambda v: type(v) is str and contains(v)
    needle = value.literal.lower()
    return lambda v: type(v) is str and needle in v.lower()
