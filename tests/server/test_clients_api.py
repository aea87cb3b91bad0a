"""API clients: ``lakehose client …`` and ``/api/v1/clients`` for an admin token."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from lakehose.testing import RunningServer
from tests.helpers import assert_documented, cli, cli_json
from tests.server.streamkit import bearer, discover, new_client, token_of


@pytest.fixture(scope="module")
def admin(server: RunningServer) -> Iterator[httpx.Client]:
    token = token_of(server, new_client(server, "clients-admin", "admin"))
    with httpx.Client(base_url=server.url, headers=bearer(token)) as client:
        yield client


def only(reply: httpx.Response) -> dict[str, Any]:
    body = reply.json()
    assert set(body) == {"meta", "errors", "resources"} and body["meta"]
    assert len(body["resources"]) == 1
    return body["resources"][0]  # type: ignore[no-any-return]


def test_cli_creates_lists_and_revokes_clients_showing_the_secret_once(
    server: RunningServer,
) -> None:
    created = cli_json(
        "client", "create", "cli-made", "--scope", "streams:read", "--scope", "search:read",
        data_dir=server.data_dir,
    )  # fmt: skip
    assert created["name"] == "cli-made" and created["scopes"] == ["search:read", "streams:read"]
    assert len(created["client_id"]) == 32 and len(created["client_secret"]) >= 40
    listed = cli_json("client", "list", data_dir=server.data_dir)
    entry = next(c for c in listed if c["name"] == "cli-made")
    assert "client_secret" not in entry and entry["revoked_at"] is None
    table = cli("client", "list", data_dir=server.data_dir).stdout
    assert "cli-made" in table and created["client_secret"] not in table
    catalog = (server.data_dir / "catalog.db").read_bytes()
    assert created["client_secret"].encode() not in catalog
    token = token_of(server, created)
    revoked = cli_json("client", "revoke", "cli-made", data_dir=server.data_dir)
    assert revoked["revoked_at"] is not None
    assert discover(server, token, "cli").status_code == 401
    assert "cli-made" not in [
        c["name"] for c in cli_json("client", "list", data_dir=server.data_dir)
    ]
    every = cli_json("client", "list", "--all", data_dir=server.data_dir)
    assert "cli-made" in [c["name"] for c in every]


def test_cli_refuses_unknown_scopes(server: RunningServer) -> None:
    proc = cli("client", "create", "x", "--scope", "root", data_dir=server.data_dir, check=False)
    assert proc.returncode != 0 and "root" in proc.stderr


def test_admin_api_creates_a_client_whose_secret_gets_a_token(
    admin: httpx.Client, server: RunningServer
) -> None:
    reply = admin.post("/api/v1/clients", json={"name": "api-made", "scopes": ["streams:read"]})
    assert reply.status_code == 201
    created = only(reply)
    assert created["scopes"] == ["streams:read"] and created["client_secret"]
    token = token_of(server, created)
    assert discover(server, token, "apimade").status_code == 200
    shown = only(admin.get("/api/v1/clients/api-made"))
    assert shown["client_id"] == created["client_id"] and "client_secret" not in shown
    names = [c["name"] for c in admin.get("/api/v1/clients").json()["resources"]]
    assert "api-made" in names and "clients-admin" in names
    revoked = only(admin.delete(f"/api/v1/clients/{created['client_id']}"))
    assert revoked["revoked_at"] is not None
    assert discover(server, token, "apimade").status_code == 401
    assert "api-made" not in [c["name"] for c in admin.get("/api/v1/clients").json()["resources"]]
    everyone = admin.get("/api/v1/clients", params={"all": "true"}).json()["resources"]
    assert "api-made" in [c["name"] for c in everyone]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "bad name!", "scopes": ["streams:read"]}, 400),
        ({"name": "noscopes", "scopes": []}, 400),
        ({"name": "badscope", "scopes": ["root"]}, 400),
        ({"name": "typo", "scope": ["streams:read"]}, 400),
        ({"scopes": ["streams:read"]}, 400),
        ({"name": "clients-admin", "scopes": ["streams:read"]}, 409),
    ],
)
def test_admin_api_client_errors_have_one_shape(
    admin: httpx.Client, body: dict[str, Any], status: int
) -> None:
    reply = admin.post("/api/v1/clients", json=body)
    assert reply.status_code == status
    assert reply.json()["errors"][0]["code"] == status and reply.json()["errors"][0]["message"]


def test_unknown_clients_get_404(admin: httpx.Client) -> None:
    assert admin.get("/api/v1/clients/nobody").status_code == 404
    assert admin.delete("/api/v1/clients/nobody").status_code == 404


def test_client_routes_need_an_admin_token(server: RunningServer) -> None:
    reader = token_of(server, new_client(server, "not-admin"))
    for headers in ({}, bearer(reader), {"Authorization": f"Splunk {server.api_key}"}):
        reply = httpx.get(server.url + "/api/v1/clients", headers=headers)
        assert reply.status_code in (401, 403)
        assert reply.json()["errors"][0]["message"]


def test_a_clients_write_token_cannot_mint_broader_clients(server: RunningServer) -> None:
    writer = token_of(server, new_client(server, "delegate", "clients:write"))
    reply = httpx.post(
        server.url + "/api/v1/clients",
        json={"name": "escalated", "scopes": ["admin"]},
        headers=bearer(writer),
    )
    assert reply.status_code == 403 and "admin" in reply.json()["errors"][0]["message"]
    allowed = httpx.post(
        server.url + "/api/v1/clients",
        json={"name": "narrow", "scopes": ["clients:write"]},
        headers=bearer(writer),
    )
    assert allowed.status_code == 201


@pytest.mark.parametrize(
    "query",
    [[("all", "null"), ("all", "null")], [("all", "maybe")], [("all", "2")]],
    ids=["null-twice", "maybe", "2"],
)
def test_all_is_true_or_false_and_anything_else_is_400(
    admin: httpx.Client, server: RunningServer, query: list[tuple[str, str]]
) -> None:
    # schemathesis: ?all=null&all=null listed the clients as if all=false; the document
    # says all is a boolean, so the server now refuses anything else and names it
    reply = admin.get("/api/v1/clients", params=query)
    assert reply.status_code == 400
    assert "all" in reply.json()["errors"][0]["message"]
    assert_documented(server, "GET", "/api/v1/clients", reply)
    for value in ("true", "false", "TRUE", "0", "1"):
        assert admin.get("/api/v1/clients", params={"all": value}).status_code == 200
