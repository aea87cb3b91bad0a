"""The syntax tree is plain, immutable data: hashable, slotted, equal whatever its positions."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from lakehose.query.nodes import (
    NOWHERE,
    And,
    At,
    Call,
    Compare,
    Everything,
    FreeText,
    ListArg,
    Not,
    Nothing,
    Or,
    Query,
    Regex,
    Text,
)

WORD = Text(("admin",))
NODES: list[Any] = [
    At(2, 3),
    WORD,
    Regex("a.c", "i"),
    FreeText(WORD),
    Compare("user", "=", WORD),
    And((FreeText(WORD),)),
    Or((FreeText(WORD),)),
    Not(FreeText(WORD)),
    Everything(),
    Nothing(),
    ListArg((WORD,)),
    Call("count", (WORD,), (("as", WORD),)),
    Query((FreeText(WORD),), "admin"),
]


@pytest.mark.parametrize("node", NODES, ids=lambda n: type(n).__name__)
def test_nodes_are_immutable_hashable_and_slotted(node: Any) -> None:
    """Plans cache by node and a large query builds many: each is a small frozen value."""
    assert hash(node) == hash(dataclasses.replace(node))
    assert {node, dataclasses.replace(node)} == {node}
    name = dataclasses.fields(node)[0].name if dataclasses.fields(node) else "x"
    with pytest.raises((dataclasses.FrozenInstanceError, AttributeError, TypeError)):
        setattr(node, name, None)
    assert not hasattr(node, "__dict__")


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (Text(("a",), at=At(1, 1)), Text(("a",), at=At(5, 9))),
        (Regex("a", at=At(1, 1)), Regex("a", at=At(2, 2))),
        (FreeText(WORD, at=At(1, 1)), FreeText(WORD, at=At(3, 1))),
        (Compare("f", "=", WORD, at=At(1, 1)), Compare("f", "=", WORD, at=At(1, 4))),
        (ListArg((WORD,), at=At(1, 1)), ListArg((WORD,), at=At(1, 2))),
        (Call("count", at=At(1, 1)), Call("count", at=At(7, 7))),
        (Query((), "a"), Query((), "b")),  # the text is kept for messages only
    ],
)
def test_positions_and_text_are_not_compared(one: Any, other: Any) -> None:
    assert one == other and hash(one) == hash(other)


def test_defaults() -> None:
    assert (At().line, At().column) == (1, 1)
    assert NOWHERE == At(0, 0)
    assert Text(("a",)).at == NOWHERE and not Text(("a",)).quoted
    assert Regex("a").flags == "" and Regex("a").at == NOWHERE
    assert FreeText(WORD).at == NOWHERE and Compare("f", "=", WORD).at == NOWHERE
    assert ListArg(()).at == NOWHERE
    assert Call("f") == Call("f", (), ()) and Call("f").at == NOWHERE
    assert Query(()).text == ""


@pytest.mark.parametrize(
    ("parts", "wildcard", "anything", "literal"),
    [
        (("admin",), False, False, "admin"),
        (("adm", "n"), True, False, "adm*n"),
        (("", ""), True, True, "*"),
        (("", "", ""), True, False, "**"),
        (("",), False, False, ""),
        (("a", "b", "c"), True, False, "a*b*c"),
    ],
)
def test_text_wildcards(
    parts: tuple[str, ...], wildcard: bool, anything: bool, literal: str
) -> None:
    text = Text(parts)
    assert (text.is_wildcard, text.is_anything, text.literal) == (wildcard, anything, literal)
