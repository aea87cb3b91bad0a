"""Where the next page of an event list starts: an opaque, versioned, query-bound cursor."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

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

    def encode(self, key: bytes) -> str:
        body = {
            "v": 1,
            "q": self.query_hash,
            "d": int(self.descending),
            "p": {str(k): v for k, v in self.positions.items()},
            "s": self.span.start,
            "e": self.span.end,
        }
        data = base64.urlsafe_b64encode(orjson.dumps(body)).decode().rstrip("=")
        return f"{data}.{_sign(key, data)}"

    @classmethod
    def decode(cls, text: str, query_hash: str, key: bytes) -> Cursor:
        """The cursor ``text`` names, if this server signed it (else QueryError: a 400)."""
        invalid = QueryError("invalid cursor: pass next_cursor from the previous page unchanged")
        data, _, signature = text.rpartition(".")
        if not hmac.compare_digest(signature.encode(), _sign(key, data).encode()):
            raise invalid
        try:
            body = orjson.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
            if body.get("v") != 1:
                raise ValueError("version")
            cursor = cls(
                str(body["q"]),
                bool(body["d"]),
                {_whole(k): _whole(v) for k, v in body["p"].items()},
                TimeRange(_whole_or_none(body["s"]), _whole_or_none(body["e"])),
            )
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
            raise invalid from None
        if cursor.query_hash != query_hash:
            raise QueryError("this cursor belongs to another query")
        return cursor


def query_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _sign(key: bytes, data: str) -> str:
    digest = hmac.new(key, data.encode(), hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(digest).decode()


def _whole(value: Any) -> int:
    """An int that SQLite can bind (a signed cursor holds nothing else; belt and braces)."""
    number = int(value)
    if not -(2**63) <= number < 2**63:
        raise ValueError("out of range")
    return number


def _whole_or_none(value: Any) -> int | None:
    return None if value is None else _whole(value)
