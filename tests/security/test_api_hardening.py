"""Security round 2 on the API (issue 19, items 3, 4, 5, 9, 10, 12), against a real server.

Two source addresses on one machine: the whole of 127.0.0.0/8 is loopback on Linux, so a
client bound to 127.0.0.2 reaches the server on 127.0.0.1 from another address.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest

from lakehose.testing import RunningServer, run_server
from tests.helpers import bearer_token


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("lake") / "data") as s:
        yield s


@pytest.fixture(scope="module")
def admin(server: RunningServer) -> Iterator[httpx.Client]:
    token = bearer_token(server, "admin")
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as client:
        yield client


def from_address(address: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30)


def new_client(admin: httpx.Client, *scopes: str) -> dict[str, str]:
    reply = admin.post(
        "/api/v1/clients", json={"name": f"c-{secrets.token_hex(4)}", "scopes": list(scopes)}
    )
    assert reply.status_code == 201, reply.text
    made = reply.json()["resources"][0]
    return {"client_id": made["client_id"], "client_secret": made["client_secret"]}


# item 3 -------------------------------------------------------------------------------------


def test_wrong_secrets_from_elsewhere_do_not_lock_the_client_out(
    server: RunningServer, admin: httpx.Client
) -> None:
    victim = new_client(admin, "streams:read")
    wrong = {"client_id": victim["client_id"], "client_secret": "guess"}
    with from_address("127.0.0.2") as stranger:
        answers = [stranger.post(server.url + "/oauth2/token", data=wrong) for _ in range(12)]
    assert [a.status_code for a in answers[:10]] == [403] * 10
    assert answers[-1].status_code == 429  # the guessing bound holds for the stranger
    with from_address("127.0.0.3") as owner:
        reply = owner.post(server.url + "/oauth2/token", data=victim)
        assert reply.status_code == 201, reply.text
        # and the stranger's address stays bounded even for the right secret
    with from_address("127.0.0.2") as stranger:
        assert stranger.post(server.url + "/oauth2/token", data=victim).status_code == 429


# item 4 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"enabled": "false"}, "enabled"),
        ({"allow_query_token": "false"}, "allow_query_token"),
        ({"ack": 1}, "ack"),
        ({"allowed_indexes": "main"}, "allowed_indexes"),
        ({"allowed_indexes": ["main", 7]}, "allowed_indexes[1]"),
        ({"rate_rps": "10"}, "rate_rps"),
        ({"description": 5}, "description"),
    ],
)
def test_wrong_types_in_the_admin_api_are_a_400_naming_the_field(
    admin: httpx.Client, body: dict[str, object], field: str
) -> None:
    name = f"fw-{secrets.token_hex(3)}"
    assert admin.post("/api/v1/connectors", json={"name": name}).status_code == 201
    reply = admin.patch(f"/api/v1/connectors/{name}", json=body)
    assert reply.status_code == 400, reply.text
    assert f"field {field!r}" in reply.json()["errors"][0]["message"]
    made = admin.post("/api/v1/connectors", json={"name": name + "-b", **body})
    assert made.status_code == 400, made.text
    shown = admin.get(f"/api/v1/connectors/{name}").json()["resources"][0]
    assert shown["enabled"] is True and shown["allow_query_token"] is False  # unchanged
    assert admin.get(f"/api/v1/connectors/{name}-b").status_code == 404


def test_client_and_search_bodies_are_typed_too(admin: httpx.Client) -> None:
    reply = admin.post("/api/v1/clients", json={"name": "x", "scopes": "admin"})
    assert reply.status_code == 400
    assert "field 'scopes'" in reply.json()["errors"][0]["message"]
    reply = admin.post("/api/v1/search", json={"query": "x", "limit": True})
    assert reply.status_code == 400
    assert "field 'limit'" in reply.json()["errors"][0]["message"]


def test_the_openapi_document_states_the_types(server: RunningServer) -> None:
    doc = httpx.get(server.url + "/api/v1/openapi.json").json()
    schema = doc["components"]["schemas"]["ConnectorRequest"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["enabled"] == {"type": "boolean"}
    assert schema["properties"]["allowed_indexes"]["type"] == "array"


# item 5 -------------------------------------------------------------------------------------


def test_clients_write_cannot_revoke_a_client_it_could_not_have_made(
    server: RunningServer, admin: httpx.Client
) -> None:
    root = new_client(admin, "admin")
    reader = new_client(admin, "streams:read")
    manager = bearer_token(server, "clients:write", "streams:read")
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {manager}"}, timeout=30
    ) as m:
        path = f"/api/v1/clients/{root['client_id']}"
        refused = m.delete(path)
        assert refused.status_code == 403, refused.text
        assert "admin" in refused.json()["errors"][0]["message"]
        assert m.post(path + "/revoke").status_code == 403
        assert m.delete(f"/api/v1/clients/{reader['client_id']}").status_code == 200
    token = httpx.post(server.url + "/oauth2/token", data=root)
    assert token.status_code == 201  # the admin client still works


# item 9 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("forwarded", ["localhost", "testclient", "LOCALHOST", "not-an-ip"])
def test_only_ip_literals_from_x_forwarded_for_count_as_loopback(
    admin: httpx.Client, forwarded: str
) -> None:
    reply = admin.get("/api/v1/connectors", headers={"X-Forwarded-For": forwarded})
    assert reply.status_code == 403, reply.text
    assert admin.get("/api/v1/connectors", headers={"X-Forwarded-For": "::1"}).status_code == 200


# item 10 ------------------------------------------------------------------------------------


def test_replies_with_secrets_or_events_are_not_stored_by_caches(
    server: RunningServer, admin: httpx.Client
) -> None:
    replies = {
        "client create": admin.post(
            "/api/v1/clients", json={"name": "cached", "scopes": ["search:read"]}
        ),
        "connector create": admin.post("/api/v1/connectors", json={"name": "cached"}),
        "connector rotate": admin.post("/api/v1/connectors/cached/rotate"),
        "search": admin.post("/api/v1/search", json={"query": ""}),
        "token": httpx.post(server.url + "/oauth2/token", data=new_client(admin, "streams:read")),
        "discover": admin.get("/sensors/entities/datafeed/v2", params={"appId": "cache"}),
    }
    for what, reply in replies.items():
        assert reply.status_code < 300, (what, reply.text)
        assert reply.headers.get("cache-control") == "no-store", what
    session = replies["discover"].json()["resources"][0]
    with httpx.stream(
        "GET",
        session["dataFeedURL"],
        headers={"Authorization": f"Token {session['sessionToken']['token']}"},
        timeout=30,
    ) as feed:
        assert feed.status_code == 200
        assert feed.headers.get("cache-control") == "no-store"


# item 12 ------------------------------------------------------------------------------------


def test_duplicate_authorization_headers_are_a_400_on_every_kind_of_route(
    server: RunningServer, admin: httpx.Client
) -> None:
    good = str(admin.headers["authorization"])
    key = f"Splunk {server.api_key}"
    cases = [
        ("POST", "/services/collector", [key, "Splunk wrong"], b'{"event": 1}'),
        ("POST", "/services/collector", ["Splunk wrong", key], b'{"event": 1}'),
        ("POST", "/services/collector/raw", [key, key], b"line"),
        ("GET", "/services/collector/health", [key, key], None),
        ("GET", "/api/v1/connectors", [good, "Bearer wrong"], None),
        ("GET", "/api/v1/connectors", ["Bearer wrong", good], None),
        ("POST", "/api/v1/search", [good, good], b"{}"),
        ("POST", "/oauth2/token", ["Basic eDp5", "Basic eDp5"], b""),
        ("GET", "/sensors/entities/datafeed/v1/0", ["Token a", "Token b"], None),
        ("GET", "/metrics", [good, good], None),
    ]
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for method, path, values, body in cases:
            headers = httpx.Headers([("Authorization", v) for v in values])
            reply = client.request(method, path, headers=headers, content=body)
            assert reply.status_code == 400, (method, path, values, reply.text)
            assert "Authorization" in reply.text
