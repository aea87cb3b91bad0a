"""on_out_of_range: a position older than retention (or past the end) is an error by default."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from lakehose.testing import RunningServer, run_server
from tests.helpers import bearer_token, wait_for
from tests.server.groupkit import commit, drain, feed, offsets_of, set_clock
from tests.server.streamkit import numbered, send, stream_token


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Offsets 0-4 ingested three days ago, dropped by retention (1 day); 5-9 kept."""
    with run_server(
        tmp_path_factory.mktemp("lake") / "data",
        args=[
            "--sandbox",
            "--heartbeat-interval",
            "0.5",
            "--retention-age",
            "1d",
            "--retention-interval",
            "0.2",
        ],
    ) as s:
        admin = bearer_token(s, "admin")
        set_clock(s, admin, -3 * 86400)
        send(s, numbered(0, 5))
        set_clock(s, admin, 0)
        send(s, numbered(5, 5))
        yield s


@pytest.fixture(scope="module")
def token(server: RunningServer) -> str:
    tok = stream_token(server, "oor-reader")
    assert commit(server, tok, "stale", 1).status_code == 200  # before retention drops it

    def oldest() -> int:
        status = httpx.get(server.url + "/api/v1/status").json()["resources"][0]
        return int(status["partitions"][0]["start_offset"])

    wait_for(lambda: oldest() == 5, timeout=15)
    return tok


def refusal(server: RunningServer, token: str, app: str, query: str) -> dict[str, object]:
    with feed(server, token, app, query) as reader:
        assert reader.status == 416, reader.body
        error: dict[str, object] = httpx.Response(416, content=reader.body).json()["errors"][0]
    return error


def test_a_start_offset_older_than_retention_is_an_error_naming_the_oldest_kept(
    server: RunningServer, token: str
) -> None:
    error = refusal(server, token, "old", "&start=offset:2")
    assert error["oldest_offset"] == 5 and error["next_offset"] == 10
    assert "older than retention" in str(error["message"])
    assert "the oldest kept offset is 5" in str(error["message"])


def test_a_committed_position_older_than_retention_is_an_error_too(
    server: RunningServer, token: str
) -> None:
    error = refusal(server, token, "stale", "")
    assert error["oldest_offset"] == 5
    with feed(server, token, "stale", "&on_out_of_range=earliest") as reader:
        assert offsets_of(reader.events(5)) == [5, 6, 7, 8, 9]


def test_an_offset_past_the_end_is_an_error(server: RunningServer, token: str) -> None:
    error = refusal(server, token, "ahead", "&start=offset:99")
    assert "beyond the end" in str(error["message"])


def test_on_out_of_range_earliest_and_latest(server: RunningServer, token: str) -> None:
    with feed(server, token, "oor-e", "&start=offset:2&on_out_of_range=earliest") as reader:
        assert offsets_of(reader.events(5)) == [5, 6, 7, 8, 9]
    with feed(server, token, "oor-l", "&start=offset:2&on_out_of_range=latest") as reader:
        assert drain(reader, 1.0) == []
        send(server, numbered(10, 1))
        assert offsets_of(reader.events(1)) == [10]


def test_falcons_offset_keeps_its_documented_rule_unless_asked(
    server: RunningServer, token: str
) -> None:
    with feed(server, token, "falcon", "&offset=2") as reader:  # starts at the oldest kept
        assert offsets_of(reader.events(1)) == [5]
    error = refusal(server, token, "falcon-strict", "&offset=2&on_out_of_range=error")
    assert error["oldest_offset"] == 5


def test_a_bad_on_out_of_range_is_a_400(server: RunningServer, token: str) -> None:
    with feed(server, token, "oor-bad", "&start=offset:2&on_out_of_range=skip") as reader:
        assert reader.status == 400


def test_the_sdk_consumer_passes_on_out_of_range(server: RunningServer, token: str) -> None:
    from lakehose.client import StreamConsumer
    from lakehose.errors import ResponseError
    from tests.client.consumerkit import api_client, take

    client_id, secret = api_client(server)
    common = {"client_id": client_id, "client_secret": secret, "offset": 2}
    with StreamConsumer(server.url, app_id="sdk-oor-e", on_out_of_range="earliest", **common) as c:
        assert [e["metadata"]["offset"] for e in take(c, 2)] == [5, 6]
    with StreamConsumer(server.url, app_id="sdk-oor-x", on_out_of_range="error", **common) as c:
        with pytest.raises(ResponseError) as raised:
            c.poll(30)
    assert raised.value.status == 416 and "oldest kept offset is 5" in raised.value.message
