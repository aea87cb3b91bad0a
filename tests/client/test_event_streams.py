"""``EventStreams`` and ``AsyncEventStreams`` against a real lakehose: discovery, refresh, errors."""

from __future__ import annotations

import asyncio
import socket

import pytest

from lakehose.client import AsyncEventStreams, EventStreams, OAuth2
from lakehose.errors import AuthError, ConfigError, ResponseError, TransportError
from lakehose.testing import RunningServer
from tests.client.consumerkit import api_client


@pytest.fixture(scope="module")
def credentials(server: RunningServer) -> tuple[str, str]:
    return api_client(server)


def test_list_available_streams_returns_the_discovery_body(
    server: RunningServer, credentials: tuple[str, str]
) -> None:
    client_id, secret = credentials
    with EventStreams(client_id=client_id, client_secret=secret, base_url=server.url) as streams:
        body = streams.list_available_streams(app_id="es-list", format="json")
    assert body["errors"] == [] and body["meta"]["powered_by"] == "lakehose"
    (resource,) = body["resources"]
    assert resource["dataFeedURL"] == f"{server.url}/sensors/entities/datafeed/v1/0?appId=es-list"
    assert resource["refreshActiveSessionInterval"] == 1800
    assert resource["sessionToken"]["token"]


def test_falconpys_auth_object_and_appid_spelling_work(
    server: RunningServer, credentials: tuple[str, str]
) -> None:
    auth = OAuth2(*credentials, base_url=server.url)
    with EventStreams(auth_object=auth) as streams:
        body = streams.list_available_streams(appId="ES-Alias", format="flatjson")
        assert body["resources"][0]["dataFeedURL"].endswith("?appId=es-alias&format=flatjson")
        refreshed = streams.refresh_active_stream(partition=0, appId="ES-Alias")
    assert refreshed["errors"] == []


def test_discover_parses_the_streams_without_showing_session_tokens(
    server: RunningServer, credentials: tuple[str, str]
) -> None:
    with EventStreams(auth_object=OAuth2(*credentials, base_url=server.url)) as streams:
        (stream,) = streams.discover("es-parse")
    assert stream.partition == 0
    assert stream.refresh_url.endswith(
        "/v1/0?appId=es-parse&action_name=refresh_active_stream_session"
    )
    assert stream.session_token and stream.session_token not in repr(stream)


def test_refresh_extends_a_live_session_and_404s_without_one(
    server: RunningServer, credentials: tuple[str, str]
) -> None:
    with EventStreams(auth_object=OAuth2(*credentials, base_url=server.url)) as streams:
        with pytest.raises(ResponseError) as missing:
            streams.refresh_active_stream(partition=0, app_id="es-nosession")
        assert missing.value.status == 404 and "no active stream session" in missing.value.message
        streams.list_available_streams(app_id="es-refresh")
        assert streams.refresh_active_stream(partition=0, app_id="es-refresh")["errors"] == []
        with pytest.raises(ResponseError) as partition:
            streams.refresh_active_stream(partition=5, app_id="es-refresh")
        assert partition.value.status == 404


def test_an_invalid_app_id_is_a_400_response_error(
    server: RunningServer, credentials: tuple[str, str]
) -> None:
    with EventStreams(auth_object=OAuth2(*credentials, base_url=server.url)) as streams:
        with pytest.raises(ResponseError) as info:
            streams.list_available_streams(app_id="bad app id!")
    assert info.value.status == 400 and not info.value.retriable
    assert "appId" in info.value.message


def test_a_client_without_the_streams_scope_gets_an_auth_error(server: RunningServer) -> None:
    auth = OAuth2(*api_client(server, "search:read"), base_url=server.url)
    with EventStreams(auth_object=auth) as streams, pytest.raises(AuthError, match="403"):
        streams.list_available_streams(app_id="es-scope")


def test_an_unreachable_server_is_a_retriable_transport_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with EventStreams(client_id="id", client_secret="s", base_url=f"http://127.0.0.1:{port}") as es:
        with pytest.raises(TransportError) as info:
            es.list_available_streams(app_id="x")
    assert info.value.retriable


def test_base_url_is_required_and_region_names_reach_crowdstrike() -> None:
    with pytest.raises(ConfigError, match="base_url is required"):
        EventStreams(client_id="id", client_secret="secret")
    with pytest.raises(ConfigError, match="app_id"):
        EventStreams(client_id="id", client_secret="s", base_url="us-1").list_available_streams()
    with EventStreams(client_id="id", client_secret="secret", base_url="us-2") as streams:
        assert streams.base_url == "https://api.us-2.crowdstrike.com"


def test_the_async_twin_lists_and_refreshes(
    server: RunningServer, credentials: tuple[str, str]
) -> None:
    async def main() -> tuple[int, list[object]]:
        auth = OAuth2(*credentials, base_url=server.url)
        async with AsyncEventStreams(auth_object=auth) as streams:
            found = await streams.discover("es-async")
            refreshed = await streams.refresh_active_stream(partition=0, app_id="es-async")
            with pytest.raises(ResponseError):
                await streams.refresh_active_stream(partition=0, app_id="es-async-none")
        return len(found), refreshed["errors"]

    assert asyncio.run(main()) == (1, [])
