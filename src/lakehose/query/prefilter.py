"""Byte needles: what a stored line must contain for a filter to have any chance of matching.

Theory of operation
-------------------
A stored line is ``META<TAB>EVENT``: JSON text holding the host, source, indexed
fields and the event. If ``user=admin`` matches, the text ``admin`` is in the
line, so lines without it need not be parsed at all. :func:`needles` derives
such necessary conditions from a filter: a tree of :class:`Needle` under
``AllOf`` (every child must hold) and ``AnyOf`` (one must). The search engine
tests it on a batch's decompressed bytes, then on each line, and parses only the
lines that pass; the filter itself then decides.

The condition must never reject a line that matches, so:

* JSON may spell any character as ``\\uXXXX`` (and ``/`` as ``\\/``). A line
  holding such an escape passes every needle; see :attr:`Needle.escape`.
* Text with ``"``, ``\\`` or control characters is escaped in JSON: no needle.
* Free text ignores case: its needle is lower-case ASCII, tested on lower-cased
  bytes; non-ASCII free text yields no needle.
* Text that is not a number or ``true``/``false`` can only equal a JSON string,
  so ``user=admin`` needs ``"admin"``, quotes included.
* A number matches every plain decimal spelling of it (``200``, ``200.0``,
  ``"200"``), and each contains the number's shortest spelling, which is the
  needle. (A JSON number in exponent form, ``2e2``, is the one spelling that can
  slip through; events rarely carry one.)
* Fields that are not in the line's text (tags, ``time``, ``@timestamp``,
  ``offset``...) and the operators ``!=``, ``<``, ``>``, ``not`` give no needle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeAlias

from lakehose.query.fields import IN_LINE_TEXT, UnknownFieldError, field_ref
from lakehose.query.nodes import And, Compare, Filter, FreeText, Or, Regex, Text
from lakehose.query.values import as_number, canonical_number

_UNSAFE = re.compile(r'["\\\x00-\x1f]')
_REGEX_META = re.compile(r"[.^$*+?{}\[\]\\|()]")


@dataclass(frozen=True, slots=True)
class Needle:
    """``text`` (lower-case when ``ignore_case``) must be in the line, unless ``escape`` is."""

    text: bytes
    ignore_case: bool = False

    @property
    def escape(self) -> bytes:
        """A line holding these bytes may spell ``text`` with JSON escapes."""
        return b"\\" if b"/" in self.text else b"\\u"


@dataclass(frozen=True, slots=True)
class AllOf:
    items: tuple[NeedleTree, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    items: tuple[NeedleTree, ...]


NeedleTree: TypeAlias = Needle | AllOf | AnyOf


def needles(f: Filter) -> NeedleTree | None:
    """A necessary condition on a line's bytes for ``f`` to match it; None when there is none."""
    if isinstance(f, Compare):
        if f.op != "=" or not _in_line(f.field):
            return None
        # @rawstring may be an object event's JSON text itself, which is not a quoted string.
        return _value_needles(f.value, ignore_case=False, quoted=f.field != "@rawstring")
    if isinstance(f, FreeText):
        return _value_needles(f.value, ignore_case=True)
    if isinstance(f, And):
        found = [n for n in (needles(i) for i in f.items) if n is not None]
        if not found:
            return None
        return found[0] if len(found) == 1 else AllOf(tuple(found))
    if isinstance(f, Or):
        alternatives = [needles(i) for i in f.items]
        if any(n is None for n in alternatives):
            return None
        return AnyOf(tuple(n for n in alternatives if n is not None))
    return None


def _in_line(name: str) -> bool:
    try:
        return field_ref(name).kind in IN_LINE_TEXT
    except UnknownFieldError:
        return False


def _value_needles(
    value: Text | Regex, *, ignore_case: bool, quoted: bool = False
) -> NeedleTree | None:
    if isinstance(value, Regex):
        if _REGEX_META.search(value.pattern):
            return None
        return _needle(value.pattern, ignore_case or "i" in value.flags)
    if value.is_wildcard:
        found = [n for n in (_needle(p, ignore_case) for p in value.parts if p) if n is not None]
        if not found:
            return None
        return found[0] if len(found) == 1 else AllOf(tuple(found))
    text = value.literal
    if ignore_case:
        return _needle(text, ignore_case)
    number = as_number(text)
    if number is not None:
        return _needle(canonical_number(number), False)
    if text in ("true", "false") or not quoted:
        return _needle(text, False)
    # Only a JSON string (or an array of them) can equal this text: its quotes are needed too,
    # which keeps out lines where the text is only part of a longer value.
    bare = _needle(text, False)
    return Needle(b'"' + bare.text + b'"') if bare is not None else None


def _needle(text: str, ignore_case: bool) -> Needle | None:
    if not text or _UNSAFE.search(text):
        return None
    if ignore_case:
        if not text.isascii():
            return None
        text = text.lower()
    return Needle(text.encode("utf-8"), ignore_case)


def driver(tree: NeedleTree) -> Needle | None:
    """The longest needle that every candidate line must hold; None under an ``AnyOf``."""
    if isinstance(tree, Needle):
        return tree
    if isinstance(tree, AllOf):
        found = [n for n in (driver(i) for i in tree.items) if n is not None]
        return max(found, key=lambda n: len(n.text)) if found else None
    return None
