"""What a Falcon stream request asks for: appId, partition, offset, whence, eventType, format, URLs.

Pure functions, so every rule that consumers depend on (``specs/falcon-streams.md``
§3-§5) is written once and unit-tested. Bad input raises ``ValueError`` with a
message for the client (a 400 in the Falcon error body).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

FORMATS = ("json", "flatjson")
REFRESH_ACTION = "refresh_active_stream_session"
MAX_OFFSET = 2**63 - 1
WHENCE_OFFSET = 0
WHENCE_END = 2

# Wider than the swagger text's 32 alphanumerics: real consumers send dashes and dots
# (SEKOIA's "sio-<epoch>.<frac>"), see specs/falcon-streams.md §3.
_APP_ID = re.compile(r"^[A-Za-z0-9._-]{1,32}$")
_HOST = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")


def app_id(value: str | None) -> str:
    """The appId, lower-cased (appIds compare case-insensitively)."""
    if value is None or value == "":
        raise ValueError("appId is required: 1-32 letters, digits, '.', '_' or '-'")
    if not _APP_ID.match(value):
        raise ValueError(f"appId {value!r} is invalid: use 1-32 letters, digits, '.', '_' or '-'")
    return value.lower()


def feed_format(value: str | None) -> str:
    if value is None or value == "":
        return "json"
    if value not in FORMATS:
        raise ValueError(f"format {value!r} is not one of json, flatjson")
    return value


def partition(text: str, partitions: int) -> int | None:
    """The partition a path segment names, or None if there is no such partition."""
    if not (text.isascii() and text.isdigit()) or len(text) > 9:  # not "²" or "١"
        return None
    number = int(text)
    return number if number < partitions else None


def offset(value: str | None) -> int:
    """``offset=N``: the first offset wanted (inclusive); absent or empty means 0."""
    if value is None or value.strip() == "":
        return 0
    text = value.strip()
    if not (text.isascii() and text.isdigit()):  # not "²" or "١"
        raise ValueError(f"offset {value!r} is invalid: use a non-negative integer")
    number = int(text)
    if number > MAX_OFFSET:
        raise ValueError(f"offset {value!r} is out of range")
    return number


def whence(value: str | None) -> int:
    """``whence=2`` tails from the end; ``0`` (the default) starts at ``offset``."""
    if value is None or value.strip() == "":
        return WHENCE_OFFSET
    if value.strip() == "0":
        return WHENCE_OFFSET
    if value.strip() == "2":
        return WHENCE_END
    raise ValueError(f"whence {value!r} is not supported: use 0 (from offset) or 2 (from now)")


def event_types(value: str | None) -> frozenset[str] | None:
    """``eventType=A,B``: the event types to send, or None for all (absent or empty)."""
    if value is None:
        return None
    names = frozenset(part.strip() for part in value.split(",") if part.strip())
    return names or None


def origin(public_url: str | None, scheme: str, host_header: str | None, server: str) -> str:
    """Where the client reached us: the public URL, else the Host header, else the local address.

    Stream URLs must share the discovery request's origin (Elastic refuses others),
    so they are never built from a bind address such as ``0.0.0.0``.
    """
    if public_url:
        return public_url.rstrip("/")
    host = (host_header or "").strip()
    if host and not _HOST.match(host):
        raise ValueError("the Host header is not a valid host name")
    return f"{scheme}://{host or server}"


def data_feed_url(base: str, partition: int, app: str, fmt: str) -> str:
    """The feed URL, already holding a query string (consumers append ``&offset=N``)."""
    url = f"{base}/sensors/entities/datafeed/v1/{partition}?appId={app}"
    return url + "&format=flatjson" if fmt == "flatjson" else url


def refresh_url(base: str, partition: int, app: str) -> str:
    """Exactly ``…/datafeed-actions/v1/<p>?appId=<lower-cased>&action_name=…``.

    Consumers take the partition from this URL with regexes and prefix stripping.
    """
    return (
        f"{base}/sensors/entities/datafeed-actions/v1/{partition}"
        f"?appId={app.lower()}&action_name={REFRESH_ACTION}"
    )


def rfc3339(epoch_seconds: float) -> str:
    """UTC time with nanoseconds and a ``Z``, as Falcon writes session expirations."""
    whole = int(epoch_seconds)
    nanos = int(round((epoch_seconds - whole) * 1e9))
    if nanos >= 1_000_000_000:
        whole, nanos = whole + 1, nanos - 1_000_000_000
    stamp = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanos:09d}Z"


@dataclass(frozen=True, slots=True)
class FeedQuery:
    """A data-feed request's own parameters."""

    app_id: str | None
    offset: int
    whence: int
    event_types: frozenset[str] | None
    format: str


def feed_query(params: dict[str, str]) -> FeedQuery:
    """Parse a data-feed query string (``ValueError`` on bad values)."""
    raw_app = params.get("appId")
    return FeedQuery(
        app_id=None if raw_app in (None, "") else app_id(raw_app),
        offset=offset(params.get("offset")),
        whence=whence(params.get("whence")),
        event_types=event_types(params.get("eventType")),
        format=feed_format(params.get("format")),
    )
