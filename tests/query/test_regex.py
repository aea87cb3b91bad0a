"""Search regexes on RE2: flags, lone surrogates, and errors that name the refused construct
at its column (1-based within the pattern)."""

from __future__ import annotations

import pytest

from lakehose.errors import QueryError
from lakehose.query.regex import compile_search

WHY = "; search regexes run on RE2 (linear time), which has no backtracking"


@pytest.mark.parametrize(
    ("pattern", "flags", "text", "expected"),
    [
        ("b.d", "", "abcde", True),
        ("b.d", "", "abde", False),
        ("ABC", "", "xabcx", False),
        ("ABC", "i", "xabcx", True),
        ("abc", "i", "xABCx", True),
        ("a.c", "", "a\nc", False),
        ("a.c", "s", "a\nc", True),
        ("a.c", "i", "a\nc", False),
        ("^two$", "", "one\ntwo\nthree", False),
        ("^two$", "m", "one\ntwo\nthree", True),
        ("^one", "m", "one\ntwo", True),
        ("^two$", "s", "one\ntwo\nthree", False),
        ("^two$", "i", "one\ntwo\nthree", False),
        ("^TWO$", "im", "one\ntwo\nthree", True),
        ("^(.|.)*Q$", "", "a" * 40, False),
        ("", "", "", True),
        ("x", "", "", False),
        ("é+", "", "caféé", True),
    ],
)
def test_flags_and_matches(pattern: str, flags: str, text: str, expected: bool) -> None:
    assert compile_search(pattern, flags)(text) is expected


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("ab", "a\ud800b", False),  # the surrogate is replaced, not dropped
        ("a.b", "a\ud800b", True),
        ("a\\?b", "a\ud800b", True),  # replaced by "?"
        ("x", "a\udfffx", True),
        ("y", "a\udfffx", False),
    ],
)
def test_a_lone_surrogate_matches_as_what_can_be_encoded(
    pattern: str, text: str, expected: bool
) -> None:
    assert compile_search(pattern)(text) is expected


@pytest.mark.parametrize(
    ("pattern", "construct", "column"),
    [
        ("a(?=b)", "lookahead (?=...)", 2),
        ("a(?!b)", "negative lookahead (?!...)", 2),
        ("(?<=a)b", "lookbehind (?<=...)", 1),
        ("xy(?<!a)b", "negative lookbehind (?<!...)", 3),
        ("z(?>ab)", "atomic group (?>...)", 2),
        ("a++", "possessive quantifier ++", 2),
        ("ba*+", "possessive quantifier *+", 3),
        ("a?+", "possessive quantifier ?+", 2),
        ("(a)\\1", "backreference \\1", 4),
        ("(a)(b)x\\2", "backreference \\2", 8),
    ],
)
def test_a_construct_that_needs_backtracking_is_named_at_its_column(
    pattern: str, construct: str, column: int
) -> None:
    with pytest.raises(QueryError) as caught:
        compile_search(pattern)
    assert caught.value.message == f"regex construct not supported: {construct}{WHY}"
    assert (caught.value.line, caught.value.column) == (1, column)


@pytest.mark.parametrize(
    ("pattern", "message", "column"),
    [
        ("ab(", "bad regex: missing ): ab(", 3),
        ("x(ab(cd", "bad regex: missing ): x(ab(cd", 5),  # the last "(" opened
        ("a[", "bad regex: missing ]: [", 2),
        ("*a", "bad regex: no argument for repetition operator: *", 1),
        ("ab{2,1}", "bad regex: invalid repetition size: {2,1}", 3),
        ("(?P<n>a)(?P=n)", "bad regex: invalid perl operator: (?P", 1),
        ("a{2}+", "bad regex: bad repetition operator: {2}+", 2),
        ("xyz\\", "bad regex: trailing \\", 1),  # RE2's reason quotes nothing of the pattern
    ],
)
def test_other_bad_regexes_carry_re2s_reason_and_a_column(
    pattern: str, message: str, column: int
) -> None:
    with pytest.raises(QueryError) as caught:
        compile_search(pattern)
    assert (caught.value.message, caught.value.column) == (message, column)


def test_a_refused_pattern_logs_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(QueryError):
        compile_search("a(?=b)")
    assert capfd.readouterr() == ("", "")
