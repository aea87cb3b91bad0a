"""HEC answers: Splunk's JSON (keys in Splunk's order), carried by a :class:`Reply`.

Shared by the ASGI handler (``routes/hec.py``) and the wire path (``protocols/hec_wire.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from lakehose.errors import StorageError, StorageFullError, StorageUnavailableError
from lakehose.parsers.hec import CODES
from lakehose.server.protocols.body import BodyError

if TYPE_CHECKING:
    from lakehose.storage.catalog.connectors import Connector

SUCCESS = b'{"text":"Success","code":0}'


def hec_reply(code: int, index: int | None = None, ack_id: int | None = None) -> bytes:
    if code == 0 and ack_id is None:
        return SUCCESS
    body: dict[str, Any] = {"text": CODES[code][1], "code": code}
    if index is not None:
        body["invalid-event-number"] = index
    if ack_id is not None:
        body["ackId"] = ack_id
    return orjson.dumps(body)


class Reply(Exception):
    """A finished answer, raised to leave the handler early."""

    def __init__(
        self,
        status: int,
        body: bytes,
        code: int,
        headers: list[tuple[bytes, bytes]] | None = None,
        events: int = 0,
    ) -> None:
        self.status = status
        self.body = body
        self.code = code
        self.headers = headers or []
        self.events = events
        self.connector: Connector | None = None  # known once the key was checked
        self.nbytes = 0  # of the body, decompressed
        self.offending = b""  # the refused event's first bytes, for the connector's ring


def reject(code: int, index: int | None = None, ack_id: int | None = None, **headers: str) -> Reply:
    extra = [(k.replace("_", "-").lower().encode(), v.encode()) for k, v in headers.items()]
    return Reply(CODES[code][0], hec_reply(code, index, ack_id), code, extra)


def plain(status: int, text: str, **headers: str) -> Reply:
    """A non-HEC-code error (413, 415, 408) in HEC's shape: ``{"text", "code": status}``."""
    extra = [(k.replace("_", "-").lower().encode(), v.encode()) for k, v in headers.items()]
    return Reply(status, orjson.dumps({"text": text, "code": status}), status, extra)


def append_failed(exc: BaseException) -> Reply:
    """The answer when a commit failed: 503 code 9 when the disk is full or the cluster's
    quorum cannot be reached (nothing acknowledged; the sender retries), else code 8."""
    if isinstance(exc, (StorageFullError, StorageUnavailableError)):
        return reject(9, Retry_After="5")
    if isinstance(exc, StorageError):
        return reject(8)
    raise exc


def body_failed(exc: BodyError) -> Reply:
    if exc.kind == "too_large":
        return plain(413, "Content too large", Connection="close")
    if exc.kind == "unsupported":
        return plain(415, "Unsupported content encoding")
    if exc.kind == "bad_encoding":
        return reject(6)
    if exc.kind == "timeout":
        return plain(408, "Request timeout", Connection="close")
    return Reply(400, b"", 0)  # client gone: nobody reads this
