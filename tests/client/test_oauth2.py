"""``OAuth2`` against a real lakehose: one token shared, renewed before expiry, refetched on 401."""

from __future__ import annotations

import asyncio
import logging
import threading

import httpx
import pytest

from lakehose.client import OAuth2
from lakehose.client._urls import api_base_url
from lakehose.errors import AuthError, ConfigError
from lakehose.testing import RunningServer
from tests.client.consumerkit import api_client

DISCOVERY = "/sensors/entities/datafeed/v2"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def discover(client: httpx.Client, app: str = "oauth-test") -> httpx.Response:
    reply = client.get(DISCOVERY, params={"appId": app})
    assert reply.status_code == 200, reply.text
    return reply


def test_one_token_serves_many_requests(server: RunningServer) -> None:
    auth = OAuth2(*api_client(server), base_url=server.url)
    with httpx.Client(base_url=server.url, auth=auth) as client:
        for _ in range(3):
            discover(client)
    assert auth.tokens_issued == 1
    assert auth.expires_in == 1799


def test_the_token_is_renewed_a_tenth_of_its_life_but_at_most_120_s_before_expiry(
    server: RunningServer,
) -> None:
    clock = Clock()
    auth = OAuth2(*api_client(server), base_url=server.url, clock=clock)
    with httpx.Client(base_url=server.url, auth=auth) as client:
        discover(client)
        first = auth.token_value
        assert auth.margin() == 120
        clock.now += 1799 - 121
        discover(client)
        assert auth.tokens_issued == 1
        clock.now += 1
        discover(client)
        assert auth.tokens_issued == 2
        assert auth.token_value != first


def test_a_refused_token_is_replaced_once_and_the_request_sent_again(
    server: RunningServer,
) -> None:
    client_id, secret = api_client(server)
    auth = OAuth2(client_id, secret, base_url=server.url)
    with httpx.Client(base_url=server.url, auth=auth) as client:
        discover(client)
        old = auth.token_value
        revoked = httpx.post(
            server.url + "/oauth2/revoke", auth=(client_id, secret), data={"token": old}
        )
        assert revoked.status_code == 200
        discover(client)
    assert auth.tokens_issued == 2 and auth.token_value != old


def test_concurrent_requests_share_one_token_fetch(server: RunningServer) -> None:
    auth = OAuth2(*api_client(server), base_url=server.url)
    errors: list[BaseException] = []
    with httpx.Client(base_url=server.url, auth=auth) as client:

        def work() -> None:
            try:
                discover(client, f"oauth-{threading.get_ident()}")
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert not errors
    assert auth.tokens_issued == 1


def test_the_async_client_runs_the_same_flow(server: RunningServer) -> None:
    auth = OAuth2(*api_client(server), base_url=server.url)

    async def main() -> list[int]:
        async with httpx.AsyncClient(base_url=server.url, auth=auth) as client:
            replies = await asyncio.gather(
                *(client.get(DISCOVERY, params={"appId": f"a{n}"}) for n in range(4))
            )
        return [r.status_code for r in replies]

    assert asyncio.run(main()) == [200] * 4
    assert auth.tokens_issued == 1


def test_wrong_credentials_raise_auth_error_with_the_servers_message(
    server: RunningServer,
) -> None:
    client_id, _ = api_client(server)
    auth = OAuth2(client_id, "wrong-secret", base_url=server.url)
    with httpx.Client(base_url=server.url, auth=auth) as client, pytest.raises(AuthError) as info:
        client.get(DISCOVERY, params={"appId": "x"})
    assert "403" in str(info.value) and "access denied" in str(info.value)
    assert auth.token_value is None


def test_the_secret_and_token_stay_out_of_repr_and_debug_logs(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    client_id, secret = api_client(server)
    auth = OAuth2(client_id, secret, base_url=server.url)
    with caplog.at_level(logging.DEBUG), httpx.Client(base_url=server.url, auth=auth) as client:
        discover(client)
    assert auth.token_value
    text = caplog.text + repr(auth)
    assert "OAuth2 token for client" in caplog.text
    assert secret not in text and auth.token_value not in text


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("us-1", "https://api.crowdstrike.com"),
        ("US2", "https://api.us-2.crowdstrike.com"),
        ("eu-1", "https://api.eu-1.crowdstrike.com"),
        ("us-gov-1", "https://api.laggar.gcw.crowdstrike.com"),
        ("http://127.0.0.1:8088/", "http://127.0.0.1:8088"),
        ("lake.example.net:8443", "https://lake.example.net:8443"),
    ],
)
def test_base_urls_are_read_as_falconpy_reads_them(given: str, url: str) -> None:
    assert api_base_url(given) == url
    assert OAuth2("id", "secret", base_url=given).token_url == url + "/oauth2/token"


@pytest.mark.parametrize("bad", ["", "ftp://x", "http://"])
def test_unusable_base_urls_and_credentials_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError):
        OAuth2("id", "secret", base_url=bad)
    with pytest.raises(ConfigError):
        OAuth2("", "secret", base_url="http://127.0.0.1:1")
