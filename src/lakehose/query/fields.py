"""What a field name in a query refers to in a normalised event (README, "Search")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final, Literal

TAGS: Final = ("#connector", "#index", "#sourcetype")
# A string event's text is also the field ``message`` (SentinelOne SDL's name for it).
MESSAGE: Final = "message"

Kind = Literal[
    "tag",  # #connector, #index, #sourcetype: one value per record batch
    "time",  # event time, ns
    "timestamp",  # @timestamp, event time in ms
    "ingest_time",  # ns, per batch
    "offset",
    "partition",
    "host",
    "source",
    "rawstring",  # @rawstring: the event text
    "fields",  # fields.NAME: an indexed field
    "event",  # event.PATH: inside an object event
    "bare",  # NAME: an indexed field, else event.NAME
]

_SPECIAL: dict[str, Kind] = {
    "time": "time",
    "@timestamp": "timestamp",
    "ingest_time": "ingest_time",
    "offset": "offset",
    "partition": "partition",
    "host": "host",
    "source": "source",
    "@rawstring": "rawstring",
}
_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")

# Kinds whose value is written in the stored line's text (so its bytes can be searched for).
IN_LINE_TEXT: Final = frozenset({"host", "source", "rawstring", "fields", "event", "bare"})


class UnknownFieldError(ValueError):
    """A name that cannot be a field, such as an unknown ``#tag``."""


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A parsed field name: its kind, and for events the path to follow."""

    name: str
    kind: Kind
    key: str = ""  # tag name, fields key, or the event path as written
    path: tuple[str | int, ...] = ()

    @property
    def per_batch(self) -> bool:
        """True when every event of a record batch has the same value."""
        return self.kind in ("tag", "ingest_time", "partition")


def field_ref(name: str) -> FieldRef:
    """Resolve a field name as written in a query; raise UnknownFieldError for a bad one."""
    kind = _SPECIAL.get(name)
    if kind is not None:
        return FieldRef(name, kind)
    if name.startswith("#"):
        if name in TAGS:
            return FieldRef(name, "tag", name)
        if len(name) < 2:
            raise UnknownFieldError(f"a tag needs a name; built-in tags are {', '.join(TAGS)}")
        # A custom tag: a HEC ``fields`` key that begins with ``#`` (as SDL and LogScale
        # senders write ``{"fields": {"#env": "prod"}}``), stored with the event's fields.
        return FieldRef(name, "fields", name)
    if name.startswith("@"):
        raise UnknownFieldError(
            f"unknown field {name!r}; built-in fields are @rawstring, @timestamp"
        )
    if name.startswith("fields.") and len(name) > 7:
        return FieldRef(name, "fields", name[7:])
    if name.startswith("event.") and len(name) > 6:
        return FieldRef(name, "event", name[6:], split_path(name[6:]))
    return FieldRef(name, "bare", name, split_path(name))


def split_path(text: str) -> tuple[str | int, ...]:
    """``user.name`` -> ``("user", "name")``; ``a[0].b`` -> ``("a", 0, "b")``."""
    out: list[str | int] = []
    for m in _PART.finditer(text):
        out.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
    return tuple(out)


class _Missing:
    """The value of a field an event does not have (distinct from JSON ``null``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final[Any] = _Missing()


def top_keys(path: tuple[str | int, ...]) -> list[str]:
    """The top-level keys that ``lookup`` may read for ``path``: ``user``, ``user.name``…"""
    keys: list[str] = []
    for n in range(1, len(path) + 1):
        if type(path[n - 1]) is not str:
            break
        keys.append(".".join(str(p) for p in path[:n]))
    return keys


def lookup(obj: Any, path: tuple[str | int, ...]) -> Any:
    """Follow ``path`` into a decoded JSON value; MISSING when it leads nowhere.

    A dotted key written as one name (``{"user.name": …}``, as ``flatten`` makes)
    is found too: at each level the longest run of path parts that is a key wins.
    """
    if not path:
        return obj
    if type(obj) is dict:
        head = path[0]
        if type(head) is str:
            for n in range(len(path), 0, -1):
                parts = path[:n]
                if n > 1 and not all(type(p) is str for p in parts):
                    continue
                key = parts[0] if n == 1 else ".".join(parts)  # type: ignore[arg-type]
                if key in obj:
                    found = lookup(obj[key], path[n:])
                    if found is not MISSING:
                        return found
        return MISSING
    head = path[0]
    if type(obj) is list and isinstance(head, int) and 0 <= head < len(obj):
        return lookup(obj[head], path[1:])
    return MISSING
