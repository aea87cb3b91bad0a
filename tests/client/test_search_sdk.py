"""``lakehose.client.Search`` against a real server: pages, errors, tokens."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from lakehose.client import Search, SearchResult
from lakehose.errors import AuthError, QueryError, ScopeError, TransportError
from lakehose.testing import RunningServer
from tests.helpers import cli, cli_json

T0 = 1_700_000_000


@pytest.fixture(scope="module")
def lake(server: RunningServer, hec: httpx.Client) -> RunningServer:
    body = "\n".join(
        f'{{"time": {T0 + i}, "host": "h{i % 3}", "event": {{"n": {i}, "kind": "{"odd" if i % 2 else "even"}"}}}}'
        for i in range(25)
    )
    assert hec.post("/services/collector", content=body).json()["code"] == 0
    return server


def client_for(server: RunningServer, name: str, scope: str = "search:read") -> tuple[str, str]:
    created = cli_json("client", "create", name, "--scope", scope, data_dir=server.data_dir)
    return created["client_id"], created["client_secret"]


@pytest.fixture(scope="module")
def lakehose(lake: RunningServer) -> Iterator[Search]:
    client_id, secret = client_for(lake, "sdk-search")
    with Search(client_id=client_id, client_secret=secret, base_url=lake.url) as s:
        yield s


def test_a_query_returns_rows_and_what_the_server_said(lakehose: Search) -> None:
    result = lakehose.query("kind=odd", limit=5)
    assert isinstance(result, SearchResult) and result.kind == "events"
    assert [r["event"]["n"] for r in result.rows] == [23, 21, 19, 17, 15]
    # The engine finds one event past the page: that is how it knows a next page exists.
    assert result.next_cursor and result.stats["events_matched"] == 6
    assert result.stats["took_ms"] >= 0 and result.stats["rows"] == 5
    table = lakehose.query("groupBy(kind, function=[count(), sum(n)])")
    assert table.kind == "table" and table.columns == ["kind", "_count", "_sum"]
    assert table.rows == [
        {"kind": "even", "_count": 13, "_sum": 156},
        {"kind": "odd", "_count": 12, "_sum": 144},
    ]


def test_iter_rows_follows_pages_and_stops_at_the_limit(lakehose: Search) -> None:
    assert [r["event"]["n"] for r in lakehose.iter_rows("kind=even", page_size=4)] == list(
        range(24, -1, -2)
    )
    assert len(list(lakehose.iter_rows("", page_size=4, limit=9))) == 9


def test_times_as_text_numbers_and_datetimes(lakehose: Search) -> None:
    from datetime import UTC, datetime

    result = lakehose.query("", start=datetime.fromtimestamp(T0 + 20, UTC), end=str(T0 + 22))
    assert [r["event"]["n"] for r in result.rows] == [21, 20]
    assert result.start == (T0 + 20) * 10**9 and result.end == (T0 + 22) * 10**9


def test_a_bad_query_raises_query_error_with_its_column(lakehose: Search) -> None:
    with pytest.raises(QueryError) as caught:
        lakehose.query("kind=odd | sort(n, order=sideways)")
    assert caught.value.column == 26 and "order of sort()" in caught.value.message


def test_credentials_and_scopes(lake: RunningServer) -> None:
    client_id, _ = client_for(lake, "sdk-wrong-secret")
    with (
        Search(client_id=client_id, client_secret="wrong", base_url=lake.url) as s,
        pytest.raises(AuthError),
    ):
        s.query("count()")
    streams_id, streams_secret = client_for(lake, "sdk-streams-only", "streams:read")
    with Search(client_id=streams_id, client_secret=streams_secret, base_url=lake.url) as s:
        with pytest.raises(ScopeError):
            s.query("count()")


def test_a_revoked_client_stops_working(lake: RunningServer) -> None:
    client_id, secret = client_for(lake, "sdk-revoked")
    with Search(client_id=client_id, client_secret=secret, base_url=lake.url) as s:
        assert s.query("count()").rows == [{"_count": 25}]
        cli("client", "revoke", "sdk-revoked", "--yes", data_dir=lake.data_dir)
        with pytest.raises(AuthError):
            s.query("count()")  # 401, then the token request is refused too


def test_an_unreachable_server_raises_transport_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with Search(
        client_id="x", client_secret="y", base_url=f"http://127.0.0.1:{port}", timeout=5
    ) as s:
        with pytest.raises(TransportError):
            s.query("count()")
