"""What matches what: text, wildcards, numbers, regexes, arrays, missing fields, tags."""

from __future__ import annotations

from typing import Any

import pytest

from lakehose.query import plan_query
from lakehose.query.filters import compile_filter, specialise, tag_choices
from lakehose.query.nodes import Everything, Nothing

ROW: dict[str, Any] = {
    "user": "admin",
    "status": 404,
    "code": "0042",
    "ratio": 0.5,
    "flag": True,
    "tags": ["red", "blue"],
    "ports": [22, 443],
    "obj": {"a": 1},
    "nothing": None,
    "path": "/var/log/a*b",
    "@rawstring": "Failed login for Admin from 10.0.0.1",
    "#connector": "fw",
}


def matches(query: str, row: dict[str, Any] = ROW) -> bool:
    return compile_filter(plan_query(query).scan_filter)(row)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("user=admin", True),
        ("user=Admin", False),  # field values are case-sensitive
        ("user=adm*", True),
        ("user=*min", True),
        ("user=a*m*n", True),
        ("user=*", True),
        ("missing=*", False),
        ("missing!=*", True),
        ("nothing=*", True),  # present, though null
        ("user!=admin", False),
        ("missing!=admin", True),  # != is "not =": a missing field passes
        ("user=/^ADM/i", True),
        ("user=/^ADM/", False),
        ("user!=/root/", True),
        ("status=404", True),
        ('status="404"', True),
        ("status=404.0", True),
        ("status=40*", True),
        ("status>400", True),
        ("status>=404", True),
        ("status<404", False),
        ("status<=404", True),
        ("code=42", True),  # a string of digits is a number
        ("code=0042", True),
        ("code>41", True),
        ("user>1", False),  # text is never ordered
        ("ratio=0.50", True),
        ("ratio<1", True),
        ("flag=true", True),
        ("flag=false", False),
        ("tags=blue", True),  # an array matches when an element does
        ("tags=gr*", False),
        ("ports=443", True),
        ("ports>1000", False),
        ("ports<100", True),
        ("obj=*", True),
        ("obj=1", False),
    ],
)
def test_field_comparisons(query: str, expected: bool) -> None:
    assert matches(query) is expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('path="/var/log/a\\*b"', True),
        ('path="/var/log/a*"', True),
        ('path="/var/log/ab"', False),
        ("failed", True),  # free text ignores case
        ("FAILED", True),
        ('"login for admin"', True),
        ('"login admin"', False),
        ("fail*admin", True),
        ("/admin from \\d+/i", True),
        ("/admin from/", False),
        ("failed root", False),
        ("failed or root", True),
        ("failed not root", True),
        ("not failed", False),
        ("!(failed and admin)", False),
        ("(root or admin) and status=404", True),
        ("#connector=fw", True),
        ("#connector=f*", True),
        ("#connector!=fw", False),
    ],
)
def test_free_text_and_boolean_structure(query: str, expected: bool) -> None:
    assert matches(query) is expected


def test_a_missing_rawstring_matches_no_free_text() -> None:
    assert matches("failed", {"user": "x"}) is False


def test_tags_are_settled_per_batch() -> None:
    scan = plan_query("#connector=fw user=admin").scan_filter
    assert specialise(scan, {"#connector": "dns"}) == Nothing()
    residual = specialise(scan, {"#connector": "fw"})
    assert residual == plan_query("user=admin").scan_filter
    assert (
        specialise(plan_query("#index=main or #index=sec").scan_filter, {"#index": "sec"})
        == Everything()
    )
    assert specialise(plan_query("not #index=main").scan_filter, {"#index": "main"}) == Nothing()


@pytest.mark.parametrize(
    ("query", "choices"),
    [
        ("#connector=fw", {"fw"}),
        ("#connector=fw x=1", {"fw"}),
        ("#connector=fw or #connector=edr", {"fw", "edr"}),
        ("#connector=fw and #connector=edr", set()),
        ("#connector=fw or x=1", None),
        ("#connector=f*", None),
        ("#connector!=fw", None),
        ("not #connector=fw", None),
        ("x=1", None),
    ],
)
def test_exact_tag_values_narrow_the_batches_read(query: str, choices: set[str] | None) -> None:
    found = tag_choices(plan_query(query).scan_filter, "#connector")
    assert (set(found) if found is not None else None) == choices
