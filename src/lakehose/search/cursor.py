"""Where the next page of an event list starts: an opaque, versioned, query-bound cursor."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

import orjson

from lakehose.errors import QueryError
from lakehose.query.timerange import TimeRange


@dataclass(frozen=True)
class Cursor:
    """Where the next page of an event list starts, and the range it was computed for."""

    query_hash: str
    descending: bool
    positions: dict[int, int]
    span: TimeRange

    def encode(self) -> str:
        body = {
            "v": 1,
            "q": self.query_hash,
            "d": int(self.descending),
            "p": {str(k): v for k, v in self.positions.items()},
            "s": self.span.start,
            "e": self.span.end,
        }
        return base64.urlsafe_b64encode(orjson.dumps(body)).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, query_hash: str) -> Cursor:
        try:
            body = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            if body.get("v") != 1:
                raise ValueError("version")
            cursor = cls(
                str(body["q"]),
                bool(body["d"]),
                {int(k): int(v) for k, v in body["p"].items()},
                TimeRange(body["s"], body["e"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
            raise QueryError(
                "invalid cursor: pass next_cursor from the previous page unchanged"
            ) from None
        if cursor.query_hash != query_hash:
            raise QueryError("this cursor belongs to another query")
        return cursor


def query_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
