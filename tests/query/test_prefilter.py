"""Byte needles: the text a stored line must hold for a filter to have a chance of matching."""

from __future__ import annotations

import dataclasses

import pytest

from lakehose.query import plan_query
from lakehose.query.nodes import Compare, FreeText, Regex, Text
from lakehose.query.prefilter import AllOf, AnyOf, Needle, NeedleTree, driver, needles


def tree(query: str) -> NeedleTree | None:
    return needles(plan_query(query).scan_filter)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("user=admin", Needle(b'"admin"')),  # text can only equal a JSON string: quoted
        ('user="a b"', Needle(b'"a b"')),
        ("user=404", Needle(b"404")),  # a number: every spelling holds its shortest one
        ("user=404.0", Needle(b"404")),
        ("user=4.50", Needle(b"4.5")),
        ("user=-1.5", Needle(b"-1.5")),
        ("user=true", Needle(b"true")),
        ("user=false", Needle(b"false")),
        ("@rawstring=admin", Needle(b"admin")),  # may be an object event's JSON text
        ("failed", Needle(b"failed", True)),
        ("FAILED", Needle(b"failed", True)),
        ('"Login For"', Needle(b"login for", True)),
        ("café", None),  # free text is lower-cased ASCII only
        ("user=café", Needle('"café"'.encode())),
        ('user="a\\"b"', None),  # JSON escapes the quote
        ('user="a\\\\b"', None),
        ('user=""', None),
        ("user!=admin", None),
        ("status>4", None),
        ("status<=4", None),
        ("not user=admin", None),
        ("#connector=fw", None),  # tags are not in the line
        ("user=adm*n", AllOf((Needle(b"adm"), Needle(b"n")))),
        ("user=adm*", Needle(b"adm")),
        ("user=*min", Needle(b"min")),
        ("user=*", None),
        ("fail*ADMIN", AllOf((Needle(b"fail", True), Needle(b"admin", True)))),
        ("user=/admin/", Needle(b"admin")),
        ("user=/ADMIN/i", Needle(b"admin", True)),
        ("user=/adm.n/", None),
        ("user=/a|b/", None),
        ("/Admin/", Needle(b"admin", True)),
        ("a=x b=y", AllOf((Needle(b'"x"'), Needle(b'"y"')))),
        ("a=x b!=y", Needle(b'"x"')),
        ("a!=x b!=y", None),
        ("a=x or b=y", AnyOf((Needle(b'"x"'), Needle(b'"y"')))),
        ("a=x or b!=y", None),
        ("a=x or (b=y c=z)", AnyOf((Needle(b'"x"'), AllOf((Needle(b'"y"'), Needle(b'"z"')))))),
        ("fields.a=x", Needle(b'"x"')),
        ("event.a=x", Needle(b'"x"')),
        ("", None),
    ],
)
def test_needles_of_a_query(query: str, expected: NeedleTree | None) -> None:
    assert tree(query) == expected


def test_needles_of_built_nodes() -> None:
    assert needles(Compare("user", "=", Regex("ab", "i"))) == Needle(b"ab", True)
    assert needles(Compare("user", "=", Regex("ab", "s"))) == Needle(b"ab")
    assert needles(FreeText(Text(("", "")))) is None
    assert needles(Compare("user", "=", Text(("a\tb",)))) is None
    assert needles(Compare("user", "=", Text(("a\x1fb",)))) is None
    assert needles(Compare("user", "=", Text(("a b",)))) == Needle(b'"a b"')
    assert needles(Compare("@unknown", "=", Text(("a",)))) is None
    assert needles(Compare("user", "=", Text(("a", '"', "b")))) == AllOf(
        (Needle(b"a"), Needle(b"b"))
    )
    assert needles(Compare("user", "=", Text(("", '"', "")))) is None
    assert needles(Compare("user", "=", Text(('a"',)))) is None


@pytest.mark.parametrize(
    ("needle", "escape"),
    [(Needle(b"a/b"), b"\\"), (Needle(b"/"), b"\\"), (Needle(b"ab"), b"\\u")],
)
def test_a_slash_may_be_escaped_as_backslash_slash(needle: Needle, escape: bytes) -> None:
    assert needle.escape == escape


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("user=admin", Needle(b'"admin"')),
        ("a=x b=longer", Needle(b'"longer"')),
        ("a=longer b=x", Needle(b'"longer"')),
        ("a=x or b=y", None),
        ("(a=x or b=y) (c=z or d=w)", None),
        ("(a=x or b=y) c=zz", Needle(b'"zz"')),
    ],
)
def test_the_driver_is_the_longest_needle_every_line_must_hold(
    query: str, expected: Needle | None
) -> None:
    found = tree(query)
    assert found is not None
    assert driver(found) == expected


@pytest.mark.parametrize("query", ["user=admin", "a=x b=y", "a=x or b=y"])
def test_needle_trees_are_immutable_since_a_plan_shares_them_between_batches(query: str) -> None:
    found = tree(query)
    name = next(iter(found.__dataclass_fields__))  # type: ignore[union-attr]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(found, name, None)
