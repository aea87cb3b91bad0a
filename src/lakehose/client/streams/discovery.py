"""A discovery answer read into ``Stream`` objects, and the data-feed URL built from one (no I/O)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from lakehose.errors import ConfigError, ResponseError

FORMATS = ("json", "flatjson")
REFRESH_ACTION = "refresh_active_stream_session"
DEFAULT_INTERVAL = 1800
_PARTITION = re.compile(r"/v1/(\d+)(?:[?/]|$)")


@dataclass(frozen=True, slots=True)
class Stream:
    """One partition's stream, as discovery describes it.

    ``received_at`` is the ``time.monotonic()`` of the discovery answer: the session's
    refresh interval counts from there. The session token is left out of ``repr``.
    """

    partition: int
    data_feed_url: str
    session_token: str = field(repr=False)
    expiration: str
    refresh_url: str
    refresh_interval: int
    received_at: float = 0.0


def _partition_of(resource: Mapping[str, Any], position: int) -> int:
    """The partition a resource is for: from its URLs (``…/v1/<p>?…``), else its position."""
    for key in ("refreshActiveSessionURL", "dataFeedURL"):
        url = resource.get(key)
        if isinstance(url, str):
            found = _PARTITION.search(url)
            if found:
                return int(found.group(1))
    return position


def parse_streams(body: Any, received_at: float | None = None) -> list[Stream]:
    """The streams of a discovery body, ordered by partition (empty: the appId is busy)."""
    resources = body.get("resources") if isinstance(body, dict) else None
    if not isinstance(resources, list):
        raise ResponseError(200, "stream discovery: the answer has no resources list")
    now = time.monotonic() if received_at is None else received_at
    streams = []
    for position, resource in enumerate(resources):
        if not isinstance(resource, dict):
            raise ResponseError(200, "stream discovery: a resource is not an object")
        url = resource.get("dataFeedURL")
        session = resource.get("sessionToken")
        token = session.get("token") if isinstance(session, dict) else None
        if not isinstance(url, str) or not url or not isinstance(token, str) or not token:
            raise ResponseError(
                200, "stream discovery: a resource lacks dataFeedURL or sessionToken.token"
            )
        interval = resource.get("refreshActiveSessionInterval")
        expiration = session.get("expiration") if isinstance(session, dict) else None
        refresh_url = resource.get("refreshActiveSessionURL")
        streams.append(
            Stream(
                partition=_partition_of(resource, position),
                data_feed_url=url,
                session_token=token,
                expiration=expiration if isinstance(expiration, str) else "",
                refresh_url=refresh_url if isinstance(refresh_url, str) else "",
                refresh_interval=interval
                if isinstance(interval, int) and not isinstance(interval, bool) and interval > 0
                else DEFAULT_INTERVAL,
                received_at=now,
            )
        )
    return sorted(streams, key=lambda s: s.partition)


def feed_url(
    stream: Stream,
    *,
    offset: int | None = None,
    tail: bool = False,
    event_types: Iterable[str] | None = None,
    extra: Mapping[str, str] | None = None,
) -> str:
    """``dataFeedURL`` with ``offset=N`` (inclusive) or ``whence=2``, and ``eventType=A,B``;
    ``extra`` adds lakehose's extension parameters (``start`` instead of an offset,
    ``filter``)."""
    extra = dict(extra or {})
    if tail:
        params = ["whence=2"]
    elif "start" in extra and offset is None:
        params = []
    else:
        params = [f"offset={offset or 0}"]
    types = [t for t in event_types or () if t]
    if types:
        params.append("eventType=" + ",".join(types))
    params += [f"{k}={quote(v, safe=':,')}" for k, v in extra.items()]
    url = stream.data_feed_url
    return url + ("&" if "?" in url else "?") + "&".join(params)


def check_format(value: str) -> str:
    if value not in FORMATS:
        raise ConfigError(f"format {value!r} is not one of json, flatjson")
    return value
