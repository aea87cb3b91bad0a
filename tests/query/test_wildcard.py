"""The linear-time wildcard matcher means exactly what the wildcard's regex means."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lakehose.query.values import wildcard, wildcard_regex

TEXT = st.text(alphabet="abAB*.\n", max_size=12)
PARTS = st.lists(st.text(alphabet="abAB.\n", max_size=3), min_size=2, max_size=5).map(tuple)


@settings(max_examples=400, database=None)
@given(parts=PARTS, text=TEXT, anchored=st.booleans(), ignore_case=st.booleans())
def test_the_matcher_agrees_with_the_regex(
    parts: tuple[str, ...], text: str, anchored: bool, ignore_case: bool
) -> None:
    regex = wildcard_regex(parts, anchored=anchored, ignore_case=ignore_case)
    expected = (regex.match if anchored else regex.search)(text) is not None
    assert wildcard(parts, anchored=anchored, ignore_case=ignore_case)(text) == expected


def test_overlapping_ends_need_room_for_both() -> None:
    assert not wildcard(("ab", "ba"), anchored=True, ignore_case=False)("aba")
    assert wildcard(("ab", "ba"), anchored=True, ignore_case=False)("abba")


def test_thirty_stars_over_a_long_line_answer_at_once() -> None:
    parts = ("a",) * 30 + ("b",)
    assert not wildcard(parts, anchored=False, ignore_case=True)("a" * 100_000)
    assert wildcard(parts, anchored=False, ignore_case=True)("a" * 100_000 + "B")
