"""Search regexes on RE2: matching takes time linear in the text, whatever the pattern.

Python's ``re`` backtracks: ``/^(.|.)*Q$/`` over 26 characters took seconds and
doubles with each one, holding the interpreter lock all the while. RE2 has no
backtracking, so it refuses the few constructs that need it (backreferences,
lookaround, atomic groups, possessive quantifiers); the error names the one
found, with its column.
"""

from __future__ import annotations

from collections.abc import Callable

import re2

from lakehose.errors import QueryError

# RE2's error text (after "invalid perl operator: " and the like) -> what the construct is
_CONSTRUCTS = {
    "(?=": "lookahead (?=...)",
    "(?!": "negative lookahead (?!...)",
    "(?<=": "lookbehind (?<=...)",
    "(?<!": "negative lookbehind (?<!...)",
    "(?>": "atomic group (?>...)",
    "++": "possessive quantifier ++",
    "*+": "possessive quantifier *+",
    "?+": "possessive quantifier ?+",
    "}+": "possessive quantifier {n}+",
}
_WHY = "search regexes run on RE2 (linear time), which has no backtracking"

Search = Callable[[str], bool]


def _options(flags: str) -> re2.Options:
    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = "i" not in flags
    options.dot_nl = "s" in flags
    return options


def _explain(pattern: str, reason: str) -> tuple[str, int]:
    """A message naming the refused construct, and its 0-based position in ``pattern``."""
    fragment = reason.rpartition(": ")[2]
    construct = _CONSTRUCTS.get(fragment)
    if construct is None and fragment[:1] == "\\" and fragment[1:].isdigit():
        construct = f"backreference {fragment}"
    position = max(pattern.find(fragment), 0) if fragment else 0
    if reason.startswith("missing )"):
        position = max(pattern.rfind("("), 0)
    if construct is not None:
        return f"regex construct not supported: {construct}; {_WHY}", position
    return f"bad regex: {reason}", position


def compile_search(pattern: str, flags: str = "") -> Search:
    """A function telling whether ``pattern`` occurs in a text; QueryError (column 0-based + 1
    relative to the pattern, to be shifted by the caller) when RE2 refuses the pattern."""
    text = f"(?m){pattern}" if "m" in flags else pattern
    try:
        compiled = re2.compile(text, _options(flags))
    except re2.error as exc:
        raw = exc.args[0] if exc.args else "invalid pattern"
        reason = raw if isinstance(raw, str) else raw.decode(errors="replace")  # bytes in 1.1
        message, position = _explain(pattern, reason)
        raise QueryError(message, 1, position + 1) from None
    raw = compiled.search

    def search(value: str) -> bool:
        try:
            return raw(value) is not None
        except UnicodeEncodeError:  # a lone surrogate: match what can be encoded
            return raw(value.encode("utf-8", "replace").decode()) is not None

    return search
