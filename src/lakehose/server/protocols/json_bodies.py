"""Typed request bodies of the admin API: a value of the wrong type is a 400 naming the field.

``bool("false")`` is True, so a loosely read ``{"enabled": "false"}`` left a
connector enabled. Bodies are decoded straight into msgspec structs instead, in
strict mode: no coercion, no unknown fields. The OpenAPI document states the
same types (``openapi.py``).
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from msgspec import UNSET, UnsetType

from lakehose.server.replies.errors import ApiError

T = TypeVar("T", bound=msgspec.Struct)
_AT = re.compile(r"^(.*) - at `\$\.?(.*)`$")


class ConnectorRequest(msgspec.Struct, forbid_unknown_fields=True):
    """``POST``/``PATCH /api/v1/connectors``; a field left out is left as it is."""

    name: str | UnsetType = UNSET
    description: str | UnsetType = UNSET
    parser: str | None | UnsetType = UNSET
    index: str | None | UnsetType = UNSET
    default_index: str | None | UnsetType = UNSET
    allowed_indexes: list[str] | UnsetType = UNSET
    source: str | None | UnsetType = UNSET
    default_source: str | None | UnsetType = UNSET
    sourcetype: str | None | UnsetType = UNSET
    default_sourcetype: str | None | UnsetType = UNSET
    host: str | None | UnsetType = UNSET
    default_host: str | None | UnsetType = UNSET
    ack: bool | UnsetType = UNSET
    use_ack: bool | UnsetType = UNSET
    allow_query_token: bool | UnsetType = UNSET
    enabled: bool | UnsetType = UNSET
    rate_rps: float | None | UnsetType = UNSET
    rate_bps: float | None | UnsetType = UNSET

    def given(self) -> dict[str, Any]:
        """The fields the body set, by their names in the body."""
        return {
            k: v for k, v in msgspec.structs.asdict(self).items() if not isinstance(v, UnsetType)
        }


def decode(raw: bytes, kind: type[T]) -> T:
    """``raw`` as a ``kind``; ApiError 400 naming the field and the type it needs."""
    try:
        return msgspec.json.decode(raw.strip() or b"{}", type=kind, strict=True)
    except msgspec.ValidationError as exc:
        text = str(exc)
        found = _AT.match(text)
        if found:
            what = found.group(1).replace("`", "")
            raise ApiError(400, f"field {found.group(2)!r}: {what.lower()}") from None
        raise ApiError(400, f"invalid request body: {text.replace('`', '')}") from None
    except msgspec.DecodeError as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None


class ClientRequest(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /api/v1/clients``."""

    name: str
    scopes: list[str]


class SearchRequest(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /api/v1/search``; ranges as text (15m, ISO 8601) or epoch numbers."""

    query: str = ""
    start: str | int | float | None = None
    end: str | int | float | None = None
    limit: int | UnsetType = UNSET
    cursor: str | None = None
