"""OAuth2 as CrowdStrike's API does it: token issue, expiry, revoke, and limits on failed attempts."""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from lakehose.testing import RunningServer, run_server
from tests.helpers import assert_documented
from tests.server.streamkit import bearer, discover, new_client, token_of

TOKEN_TTL = 600


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    args = ["--token-ttl", str(TOKEN_TTL)]
    with run_server(tmp_path_factory.mktemp("lake") / "data", args=args) as s:
        yield s


def basic(client: dict[str, str], scheme: str = "basic") -> dict[str, str]:
    pair = f"{client['client_id']}:{client['client_secret']}".encode()
    return {"Authorization": f"{scheme} {base64.b64encode(pair).decode()}"}


def revoke(server: RunningServer, headers: dict[str, str], **form: str) -> httpx.Response:
    return httpx.post(server.url + "/oauth2/revoke", data=form, headers=headers)


def test_a_token_is_issued_with_201_and_the_configured_integer_lifetime(
    server: RunningServer,
) -> None:
    client = new_client(server, "issuer")
    reply = httpx.post(
        server.url + "/oauth2/token",
        data={
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
            "grant_type": "client_credentials",
        },
    )
    assert reply.status_code == 201
    assert reply.headers["content-type"].startswith("application/json")
    assert "x-cs-region" not in reply.headers
    body = reply.json()
    assert body["token_type"] == "bearer" and body["access_token"]
    assert body["expires_in"] == TOKEN_TTL and type(body["expires_in"]) is int
    assert discover(server, body["access_token"], "issued").status_code == 200


def test_an_expired_token_gets_401(server: RunningServer) -> None:
    client = new_client(server, "expirer")
    token = token_of(server, client)
    assert discover(server, token, "before").status_code == 200
    with sqlite3.connect(server.data_dir / "catalog.db") as db:  # let its lifetime pass
        db.execute(
            "UPDATE access_tokens SET expires_at = 1 WHERE client_id = ?", (client["client_id"],)
        )
    reply = discover(server, token, "after")
    assert reply.status_code == 401
    assert reply.json()["errors"][0]["message"] == "access denied, invalid bearer token"


@pytest.mark.parametrize("scheme", ["basic", "Basic", "BASIC"])
def test_revoke_answers_200_and_the_token_then_gets_401(server: RunningServer, scheme: str) -> None:
    client = new_client(server, f"revoker-{scheme}")
    token = token_of(server, client)
    kept = token_of(server, client)
    reply = revoke(server, basic(client, scheme), token=token)
    assert reply.status_code == 200
    assert reply.json()["errors"] == [] and reply.json()["meta"]["trace_id"]
    assert discover(server, token, "gone").status_code == 401
    assert discover(server, kept, "kept").status_code == 200


def test_revoke_needs_the_clients_own_credentials(server: RunningServer) -> None:
    owner = new_client(server, "owner")
    stranger = new_client(server, "stranger")
    token = token_of(server, owner)
    assert revoke(server, {}, token=token).status_code == 401
    assert revoke(server, {"Authorization": "basic !!!"}, token=token).status_code == 401
    wrong = {**stranger, "client_secret": "wrong"}
    assert revoke(server, basic(wrong), token=token).status_code == 403
    assert revoke(server, basic(stranger), token=token).status_code == 200  # RFC 7009: no hint
    assert discover(server, token, "still").status_code == 200
    missing = revoke(server, basic(owner))
    assert missing.status_code == 400 and "token" in missing.json()["errors"][0]["message"]
    assert revoke(server, basic(owner), token="never-issued").status_code == 200


def test_every_revoke_refusal_is_in_the_openapi_document(server: RunningServer) -> None:
    # schemathesis: POST /oauth2/revoke without the form field token answered 400, which the
    # document did not list (nor the 403 of a wrong client secret)
    owner = new_client(server, "documented-revoker")
    missing = revoke(server, basic(owner))
    assert missing.status_code == 400
    wrong = revoke(server, basic({**owner, "client_secret": "wrong"}), token="x")
    assert wrong.status_code == 403
    for reply in (missing, wrong, revoke(server, {}, token="x")):
        assert_documented(server, "POST", "/oauth2/revoke", reply)


def test_a_revoked_client_can_no_longer_get_tokens(server: RunningServer) -> None:
    client = new_client(server, "retired")
    token = token_of(server, client)
    admin = token_of(server, new_client(server, "oauth-admin", "admin"))
    assert (
        httpx.delete(server.url + "/api/v1/clients/retired", headers=bearer(admin)).status_code
        == 200
    )
    reply = httpx.post(
        server.url + "/oauth2/token",
        data={"client_id": client["client_id"], "client_secret": client["client_secret"]},
    )
    assert reply.status_code == 403
    assert discover(server, token, "retired").status_code == 401


def until_limited(attempt: Callable[[int], httpx.Response], most: int = 300) -> list[int]:
    """Statuses of attempts up to the first 429, which must come within ``most`` attempts."""
    statuses = []
    for n in range(most):
        statuses.append(attempt(n).status_code)
        if statuses[-1] == 429:
            assert set(statuses[:-1]) == {403}
            return statuses
    raise AssertionError(f"no 429 after {most} failed attempts")


def hold_empty(server: RunningServer, prefix: str) -> None:
    """Keep the login buckets whose key starts with ``prefix`` empty from now on: their refill
    (one attempt per 6 s or 2 s) must not race the checks that follow on a loaded machine, so
    their last failure is moved an hour ahead, as if the clock had stopped."""
    with sqlite3.connect(server.data_dir / "catalog.db") as db:
        moved = db.execute(
            "UPDATE login_failures SET tokens = 0, stamp = stamp + 3600 WHERE key LIKE ?",
            (prefix + "%",),
        ).rowcount
    assert moved == 1


def test_failed_attempts_are_limited_per_client_and_per_address(tmp_path: Path) -> None:
    with run_server(tmp_path / "data") as s:
        client = new_client(s, "target")
        url = s.url + "/oauth2/token"
        wrong = {"client_id": client["client_id"], "client_secret": "guess"}
        statuses = until_limited(lambda n: httpx.post(url, data=wrong))
        assert statuses.count(403) >= 10  # the burst (plus what refilled meanwhile)
        hold_empty(s, f"client:{client['client_id']}@")
        limited = httpx.post(url, data={**wrong, "client_secret": client["client_secret"]})
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.json()["errors"][0]["code"] == 429
        assert limited.json()["errors"][0]["message"].startswith("too many failed attempts")
        assert revoke(s, basic(client), token="x").status_code == 429

        other = new_client(s, "bystander")
        assert token_of(s, other)  # another client from the same address still gets in
        # unknown client ids from one address: the address runs out
        until_limited(
            lambda n: httpx.post(url, data={"client_id": f"spray{n}", "client_secret": "x"})
        )
        hold_empty(s, "address:")
        blocked = httpx.post(
            url, data={"client_id": other["client_id"], "client_secret": other["client_secret"]}
        )
        assert blocked.status_code == 429
