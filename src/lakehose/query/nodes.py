"""The syntax tree of a query: plain, immutable data that the parser builds and the planner reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias


@dataclass(frozen=True, slots=True)
class At:
    """Where a node starts in the query text (1-based, as editors count)."""

    line: int = 1
    column: int = 1


NOWHERE = At(0, 0)


def _position() -> At:
    """A node's position: kept for messages, ignored when nodes are compared."""
    return field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Text:
    """A word or quoted string. ``parts`` are the literal pieces between ``*`` wildcards.

    ``admin`` is ``("admin",)``; ``adm*n`` is ``("adm", "n")``; ``*`` is ``("", "")``.
    An escaped ``\\*`` is a literal asterisk inside a part.
    """

    parts: tuple[str, ...]
    quoted: bool = False
    at: At = _position()

    @property
    def is_wildcard(self) -> bool:
        return len(self.parts) > 1

    @property
    def is_anything(self) -> bool:
        """``*`` alone: the field exists."""
        return self.parts == ("", "")

    @property
    def literal(self) -> str:
        """The text with wildcards shown as ``*`` (for messages and for plain words)."""
        return "*".join(self.parts)


@dataclass(frozen=True, slots=True)
class Regex:
    """``/pattern/flags``; flags are ``i`` (ignore case), ``m`` (multi-line), ``s`` (dot-all)."""

    pattern: str
    flags: str = ""
    at: At = _position()


Value: TypeAlias = Text | Regex


# -- filters ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FreeText:
    """A bare word, phrase or regex: matches ``@rawstring``, ignoring case for words and phrases."""

    value: Value
    at: At = _position()


@dataclass(frozen=True, slots=True)
class Compare:
    """``field OP value`` with OP one of ``= != < <= > >=``."""

    field: str
    op: str
    value: Value
    at: At = _position()


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Filter


@dataclass(frozen=True, slots=True)
class Everything:
    """Matches every event: the empty query, or what a filter becomes once its tags are known."""


@dataclass(frozen=True, slots=True)
class Nothing:
    """Matches no event."""


Filter: TypeAlias = FreeText | Compare | And | Or | Not | Everything | Nothing


# -- pipeline -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListArg:
    """``[a, b, c]``."""

    items: tuple[Arg, ...]
    at: At = _position()


@dataclass(frozen=True, slots=True)
class Call:
    """``name(positional..., key=value...)``."""

    name: str
    args: tuple[Arg, ...] = ()
    named: tuple[tuple[str, Arg], ...] = ()
    at: At = _position()


Arg: TypeAlias = Text | Regex | ListArg | Call
Stage: TypeAlias = Filter | Call


@dataclass(frozen=True, slots=True)
class Query:
    """A whole query: stages separated by ``|``; a leading filter may be empty."""

    stages: tuple[Stage, ...]
    text: str = field(default="", compare=False)
