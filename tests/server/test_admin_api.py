"""Connectors over /api/v1 with an admin bearer token, and least privilege around it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from lakehose.testing import RunningServer
from tests.helpers import bearer_token, cli_json


def token_for(server: RunningServer, *scopes: str, name: str) -> str:
    return bearer_token(server, *scopes, name=name)


def resource(reply: httpx.Response) -> dict[str, Any]:
    body = reply.json()
    assert set(body) == {"meta", "errors", "resources"} and body["meta"]
    return body["resources"][0]  # type: ignore[no-any-return]


def test_admin_token_creates_a_connector_whose_key_ingests(
    admin: httpx.Client, server: RunningServer
) -> None:
    reply = admin.post(
        "/api/v1/connectors", json={"name": "api-made", "index": "sec", "ack": False}
    )
    assert reply.status_code == 201
    created = resource(reply)
    assert (
        created["name"] == "api-made"
        and created["api_key"]
        and created["hec_url"].endswith("/services/collector")
    )
    sent = httpx.post(
        server.hec_url,
        headers={"Authorization": f"Splunk {created['api_key']}"},
        json={"event": "x"},
    )
    assert sent.json() == {"text": "Success", "code": 0}
    shown = resource(admin.get("/api/v1/connectors/api-made"))
    assert shown["event_count"] == 1 and shown["default_index"] == "sec" and "api_key" not in shown


def test_admin_api_updates_rotates_and_deletes(admin: httpx.Client, server: RunningServer) -> None:
    created = resource(admin.post("/api/v1/connectors", json={"name": "api-life"}))
    old_key = created["api_key"]
    assert (
        resource(admin.patch("/api/v1/connectors/api-life", json={"enabled": False}))["status"]
        == "disabled"
    )
    assert (
        resource(admin.patch("/api/v1/connectors/api-life", json={"enabled": True}))["status"]
        == "idle"
    )
    new_key = resource(admin.post("/api/v1/connectors/api-life/rotate"))["api_key"]
    assert new_key != old_key
    bad = httpx.post(
        server.hec_url, headers={"Authorization": f"Splunk {old_key}"}, json={"event": "x"}
    )
    assert (bad.status_code, bad.json()["code"]) == (403, 4)
    good = httpx.post(
        server.hec_url, headers={"Authorization": f"Splunk {new_key}"}, json={"event": "x"}
    )
    assert good.status_code == 200
    assert admin.delete("/api/v1/connectors/api-life").status_code == 200
    assert admin.get("/api/v1/connectors/api-life").status_code == 404
    names = [c["name"] for c in admin.get("/api/v1/connectors").json()["resources"]]
    assert "api-life" not in names and "default" in names


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("post", "/api/v1/connectors", {"name": "bad name!"}, 400),
        ("post", "/api/v1/connectors", {"nme": "typo"}, 400),
        ("post", "/api/v1/connectors", {"name": "x", "colour": "red"}, 400),
        ("post", "/api/v1/connectors", {"name": "x", "parser": "nope"}, 400),
        ("post", "/api/v1/connectors", {"name": "default"}, 409),
        ("get", "/api/v1/connectors/missing", None, 404),
        ("patch", "/api/v1/connectors/default", {"index": "UPPER"}, 400),
    ],
)
def test_admin_api_errors_have_one_shape(
    admin: httpx.Client, method: str, path: str, body: Any, status: int
) -> None:
    reply = admin.request(method.upper(), path, json=body)
    assert reply.status_code == status
    errors = reply.json()["errors"]
    assert errors[0]["code"] == status and errors[0]["message"]


def test_connector_routes_need_the_right_scope(server: RunningServer) -> None:
    reader = token_for(server, "streams:read", name="scope-test-reader")
    for headers in (
        {},
        {"Authorization": f"Bearer {reader}"},
        {"Authorization": f"Splunk {server.api_key}"},
        {"Authorization": f"Bearer {server.api_key}"},
    ):
        reply = httpx.get(server.url + "/api/v1/connectors", headers=headers)
        assert reply.status_code in (401, 403), headers
        assert reply.json()["errors"][0]["message"]


def test_wrong_client_secret_gets_403_with_a_falcon_error_body(server: RunningServer) -> None:
    created = cli_json(
        "client", "create", "wrong-secret", "--scope", "streams:read", data_dir=server.data_dir
    )
    reply = httpx.post(
        server.url + "/oauth2/token",
        data={"client_id": created["client_id"], "client_secret": "nope"},
    )
    assert reply.status_code == 403
    assert reply.json()["errors"][0]["message"] == "access denied, authorization failed"


def test_a_bearer_token_cannot_ingest(admin: httpx.Client, server: RunningServer) -> None:
    token = admin.headers["Authorization"].split()[1]
    reply = httpx.post(
        server.hec_url, headers={"Authorization": f"Bearer {token}"}, json={"event": "x"}
    )
    assert (reply.status_code, reply.json()) == (403, {"text": "Invalid token", "code": 4})


def test_the_fault_sandbox_is_off_by_default(admin: httpx.Client) -> None:
    """Without ``lakehose serve --sandbox`` the sandbox API is not there (404), even for admin."""
    reply = admin.get("/api/v1/sandbox")
    assert reply.status_code == 404 and "--sandbox" in reply.text
    assert admin.put("/api/v1/sandbox/clock", json={"offset_seconds": -60}).status_code == 404
    assert admin.post("/api/v1/sandbox/faults", json={"fault": "hec_busy"}).status_code == 404


@pytest.mark.parametrize("grace", ["3.402823466e+38", "1e20", '"999999999999h"', "31536001"])
def test_a_rotation_grace_beyond_a_year_is_400_and_the_connector_stays_readable(
    admin: httpx.Client, server: RunningServer, grace: str
) -> None:
    # schemathesis (make api-fuzz): {"grace": 3.402823466e+38, ...} stored an end past year 9999
    # for the old key, then answered 500; and every later GET, PATCH, rotate and console page
    # of that connector was a 500 too (its key's end could not be written as a time)
    name = "graceful-" + "".join(c for c in grace if c.isalnum())[:20]
    old_key = resource(admin.post("/api/v1/connectors", json={"name": name}))["api_key"]
    body = '{"\\u00d2Q\\u0006": true, "": [], "\\u0019": {}, "grace": ' + grace + "}"
    reply = admin.post(
        f"/api/v1/connectors/{name}/rotate",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert reply.status_code == 400 and "365d" in reply.json()["errors"][0]["message"]
    assert admin.get(f"/api/v1/connectors/{name}").status_code == 200
    assert admin.patch(f"/api/v1/connectors/{name}", json={}).status_code == 200
    sent = httpx.post(
        server.hec_url, headers={"Authorization": f"Splunk {old_key}"}, json={"event": 1}
    )
    assert sent.json()["code"] == 0  # nothing was rotated
    year = admin.post(f"/api/v1/connectors/{name}/rotate", json={"grace": "365d"})
    assert year.status_code == 200 and year.json()["resources"][0]["old_keys_until"]
    assert admin.get(f"/api/v1/connectors/{name}").status_code == 200
