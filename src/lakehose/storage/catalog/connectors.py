"""Connectors (the way in) and their HEC API keys: the data, and what a catalog offers for them."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
INDEX_RE = re.compile(r"^[a-z0-9_][a-z0-9_-]{0,79}$")
DEFAULT_INDEX = "main"
# The longest grace a key rotation may give the old keys: a year. Longer is no rotation at all,
# and an end past year 9999 cannot even be written as a time (the connector became unreadable).
MAX_GRACE = 365 * 86400.0


def check_name(kind: str, name: str) -> str:
    if not NAME_RE.match(name):
        raise ValueError(
            f"{kind} name {name!r} must be 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_grace(seconds: float) -> float:
    """A key rotation's grace in seconds: from 0 to :data:`MAX_GRACE`; ValueError otherwise."""
    if seconds < 0:
        raise ValueError("grace must not be negative")
    if not math.isfinite(seconds) or seconds > MAX_GRACE:
        raise ValueError(f"grace must be at most 365d ({int(MAX_GRACE)} seconds)")
    return seconds


def check_index(name: str) -> str:
    if not INDEX_RE.match(name):
        raise ValueError(
            f"index name {name!r} must be 1-80 lower-case letters, digits, '_' or '-', "
            "not starting with '-'"
        )
    return name


@dataclass(frozen=True, slots=True)
class Connector:
    """A way in: a named HEC endpoint configuration with one or more API keys."""

    id: str
    name: str
    description: str = ""
    parser: str | None = None
    default_index: str | None = None
    default_source: str | None = None
    default_sourcetype: str | None = None
    default_host: str | None = None
    allowed_indexes: tuple[str, ...] = ()
    use_ack: bool = False
    allow_query_token: bool = False
    enabled: bool = True
    rate_rps: float | None = None
    rate_bps: float | None = None
    created_at: int = 0
    updated_at: int = 0

    @property
    def index(self) -> str:
        return self.default_index or DEFAULT_INDEX

    def allows_index(self, index: str) -> bool:
        """Any index unless ``allowed_indexes`` restricts them (then those and the default).

        Real senders name their own indexes (winston's ``winston-index``); refusing them
        would refuse every event, so only a connector that lists indexes enforces a list.
        """
        if index == self.index or not self.allowed_indexes:
            return True
        return index in self.allowed_indexes

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["allowed_indexes"] = list(self.allowed_indexes)
        return d


CONNECTOR_OPTIONS = (
    "description",
    "parser",
    "default_index",
    "default_source",
    "default_sourcetype",
    "default_host",
    "allowed_indexes",
    "use_ack",
    "allow_query_token",
    "enabled",
    "rate_rps",
    "rate_bps",
)


@dataclass(slots=True)
class KeyIndex:
    """Digest of every HEC API key -> its connector; what the ingest path authenticates with."""

    by_digest: dict[bytes, Connector] = field(default_factory=dict)
    version: int = -1
    # digest -> epoch seconds after which the key stops working (rotated with a grace period)
    expires: dict[bytes, float] = field(default_factory=dict)

    def connector(self, digest: bytes, now: float) -> Connector | None:
        """The connector of a key digest, unless the key's grace period is over."""
        found = self.by_digest.get(digest)
        if found is not None and digest in self.expires and now >= self.expires[digest]:
            return None
        return found


class ConnectorCatalog(Protocol):
    """Connectors and keys. A key is returned once, when created or rotated; stored hashed."""

    def create_connector(self, name: str, **options: Any) -> tuple[Connector, str]:
        """Create a connector with one API key; return it and the key (shown only now)."""
        ...

    def get_connector(self, name_or_id: str) -> Connector: ...

    def list_connectors(self) -> list[Connector]: ...

    def update_connector(self, name_or_id: str, **options: Any) -> Connector: ...

    def rotate_key(self, name_or_id: str, grace: float = 0.0) -> tuple[Connector, str]:
        """Give a connector one new key; the old ones stop working now, or after ``grace``
        seconds (zero-downtime rotation: senders switch keys meanwhile)."""
        ...

    def key_hints(self, connector_id: str) -> list[str]:
        """The hints of a connector's live keys (``…1e2a``; ``until <time>`` when expiring)."""
        ...

    def delete_connector(self, name_or_id: str) -> Connector: ...

    def key_index(self) -> KeyIndex:
        """Every key digest with its connector, read in one snapshot."""
        ...

    def connector_for_key(self, key: str) -> Connector | None: ...
