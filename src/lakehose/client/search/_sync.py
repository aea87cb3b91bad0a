"""``lakehose.client.Search``: query the lake over ``POST /api/v1/search`` with OAuth2 client credentials.

    from lakehose.client import Search

    with Search(client_id="…", client_secret="…", base_url="http://127.0.0.1:8088") as lake:
        result = lake.query("#connector=firewall action=deny | groupBy(src_ip)", start="24h")
        for row in result.rows:
            print(row["src_ip"], row["_count"])
        for event in lake.iter_rows("failed login", start="7d", limit=50_000):
            ...  # pages through the whole result, a page at a time

A token is fetched from ``/oauth2/token`` on first use and again shortly before
it expires, or when the server answers 401.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from lakehose.client._auth import OAuth2
from lakehose.errors import AuthError, LakehoseError, QueryError, ScopeError, TransportError

PAGE_LIMIT = 10_000
TimeValue = str | int | float | datetime | None


def _message(response: httpx.Response) -> str:
    try:
        errors = response.json().get("errors") or []
        return str(errors[0].get("message", response.text)) if errors else response.text
    except (ValueError, AttributeError):
        return response.text[:200]


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    message = _message(response)
    if response.status_code == 400:
        try:
            error = response.json()["errors"][0]
            raise QueryError(
                str(error["message"]), int(error.get("line", 1)), int(error.get("column", 0))
            )
        except (ValueError, KeyError, IndexError, TypeError):
            raise QueryError(message) from None
    if response.status_code == 401:
        raise AuthError(message)
    if response.status_code == 403:
        raise ScopeError("search:read")
    raise LakehoseError(f"search failed ({response.status_code}): {message}")


def _time(value: TimeValue) -> str | int | float | None:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@dataclass
class SearchResult:
    """One page of a search: its rows and what the server said about them."""

    rows: list[dict[str, Any]]
    kind: str  # "events" or "table"
    columns: list[str]
    start: int | None  # the range searched, ns (None: open)
    end: int | None
    next_cursor: str | None
    truncated: bool
    stats: dict[str, Any] = field(default_factory=dict)


class Search:
    """Search a lakehose server. ``close()`` it, or use it as a context manager."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        base_url: str = "http://127.0.0.1:8088",
        *,
        timeout: float = 300.0,
        verify: bool | str = True,
    ) -> None:
        base = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=base,
            auth=OAuth2(client_id, client_secret, base),
            timeout=timeout,
            verify=verify,
        )

    def query(
        self,
        query: str = "",
        *,
        start: TimeValue = None,
        end: TimeValue = None,
        limit: int = 200,
        cursor: str | None = None,
    ) -> SearchResult:
        """One page: at most ``limit`` rows (1 to 10000). Raises QueryError with the column."""
        body: dict[str, Any] = {"query": query, "limit": limit}
        if start is not None:
            body["start"] = _time(start)
        if end is not None:
            body["end"] = _time(end)
        if cursor is not None:
            body["cursor"] = cursor
        try:
            response = self._http.post("/api/v1/search", json=body)
        except httpx.TransportError as exc:
            raise TransportError(f"cannot reach {self._http.base_url}: {exc}") from exc
        _raise_for(response)
        reply = response.json()
        meta = reply.get("meta", {})
        info = dict(meta.get("search", {}))
        return SearchResult(
            rows=list(reply.get("resources", [])),
            kind=str(info.pop("kind", "events")),
            columns=list(info.pop("columns", [])),
            start=info.pop("start", None),
            end=info.pop("end", None),
            next_cursor=meta.get("pagination", {}).get("next_cursor"),
            truncated=bool(info.pop("truncated", False)),
            stats=info,
        )

    def iter_rows(
        self,
        query: str = "",
        *,
        start: TimeValue = None,
        end: TimeValue = None,
        limit: int | None = None,
        page_size: int = 1000,
    ) -> Iterator[dict[str, Any]]:
        """Every row (up to ``limit``), fetching pages of ``page_size`` as needed."""
        cursor: str | None = None
        left = limit
        while True:
            size = min(page_size, PAGE_LIMIT, left if left is not None else PAGE_LIMIT)
            page = self.query(query, start=start, end=end, limit=size, cursor=cursor)
            yield from page.rows
            if left is not None:
                left -= len(page.rows)
                if left <= 0:
                    return
            if page.next_cursor is None or not page.rows:
                return
            cursor = page.next_cursor

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Search:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
