"""The data feed's lakehose extensions: ``start=``, ``on_out_of_range=``, filters, commit, takeover.

Pure parsing, like ``stream_params.py`` (which keeps the Falcon parameters). A feed
that names none of these behaves exactly as Falcon's. Bad values raise
``ValueError`` with a message for the client (a 400).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lakehose.errors import QueryError
from lakehose.query.timerange import parse_time
from lakehose.server.routes import stream_params

START_KINDS = ("earliest", "latest", "committed", "offset", "time")
OUT_OF_RANGE = ("error", "earliest", "latest")
COMMIT_MODES = ("none", "auto")
MAX_FILTER_CHARS = 8192
EXTENSION_PARAMS = (
    "start",
    "on_out_of_range",
    "filter",
    "connector",
    "index",
    "sourcetype",
    "commit",
    "takeover",
)


@dataclass(frozen=True, slots=True)
class StartSpec:
    """Where a feed starts: ``kind`` and, for ``offset``/``time``, its value (offset or ns)."""

    kind: str
    value: int = 0

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}" if self.kind in ("offset", "time") else self.kind


def start_spec(text: str) -> StartSpec:
    """``earliest|latest|committed|offset:N|time:<RFC 3339, epoch or 24h>``."""
    value = text.strip()
    if value in ("earliest", "latest", "committed"):
        return StartSpec(value)
    kind, sep, rest = value.partition(":")
    if sep and kind == "offset" and rest.strip():
        try:
            return StartSpec("offset", stream_params.offset(rest))
        except ValueError:
            pass  # the message below names every choice
    if sep and kind == "time":
        try:
            ns = parse_time(rest, name="start time")
        except QueryError as exc:
            raise ValueError(f"start={value[:60]}: {exc.message}") from None
        if ns is None:
            raise ValueError("start=time: needs a time, e.g. time:2026-01-31T00:00:00Z")
        return StartSpec("time", ns)
    raise ValueError(
        f"start {text[:60]!r} is invalid: use earliest, latest, committed, offset:N "
        "or time:<RFC 3339 time or epoch seconds>"
    )


def _choice(name: str, value: str | None, allowed: tuple[str, ...], default: str) -> str:
    if value is None or value == "":
        return default
    if value not in allowed:
        raise ValueError(f"{name} {value[:40]!r} is not one of {', '.join(allowed)}")
    return value


def _names(value: str | None) -> frozenset[str] | None:
    if value is None:
        return None
    names = frozenset(part.strip() for part in value.split(",") if part.strip())
    return names or None


def flag(name: str, value: str | None) -> bool:
    """A true/false query parameter (also 1/0, yes/no; absent or empty: false); ValueError
    naming it otherwise."""
    if value is None or value == "" or value.lower() in ("false", "0", "no"):
        return False
    if value.lower() in ("true", "1", "yes"):
        return True
    raise ValueError(f"{name} {value[:20]!r} is not true or false")


@dataclass(frozen=True, slots=True)
class FeedOptions:
    """The extension parameters of one data-feed request."""

    start: StartSpec | None = None
    on_out_of_range: str | None = None  # None: not given (Falcon's offset= keeps its old rule)
    filter: str | None = None
    connectors: frozenset[str] | None = None
    indexes: frozenset[str] | None = None
    sourcetypes: frozenset[str] | None = None
    commit: str = "none"
    takeover: bool = False

    @property
    def filtered(self) -> bool:
        return bool(self.filter or self.connectors or self.indexes or self.sourcetypes)


def feed_options(params: Mapping[str, str]) -> FeedOptions:
    """Parse the extension parameters of a data-feed query string."""
    start = params.get("start")
    text = params.get("filter")
    if text is not None and len(text) > MAX_FILTER_CHARS:
        raise ValueError(f"filter is longer than {MAX_FILTER_CHARS} characters")
    on_out = params.get("on_out_of_range")
    return FeedOptions(
        start=start_spec(start) if start else None,
        on_out_of_range=_choice("on_out_of_range", on_out, OUT_OF_RANGE, "error")
        if on_out
        else None,
        filter=text.strip() or None if text is not None else None,
        connectors=_names(params.get("connector")),
        indexes=_names(params.get("index")),
        sourcetypes=_names(params.get("sourcetype")),
        commit=_choice("commit", params.get("commit"), COMMIT_MODES, "none"),
        takeover=flag("takeover", params.get("takeover")),
    )
