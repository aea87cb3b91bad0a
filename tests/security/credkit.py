"""Every kind of credential a caller can present, made the way users make them, for one server."""

from __future__ import annotations

import base64
import secrets
import sqlite3
from dataclasses import dataclass, field

import httpx

from lakehose.testing import RunningServer
from tests.helpers import bearer_token

# credential kind -> the scopes its bearer token holds (token kinds only)
TOKEN_SCOPES: dict[str, tuple[str, ...]] = {
    "streams_read": ("streams:read",),
    "search_read": ("search:read",),
    "admin": ("admin",),
    "clients_write": ("clients:write",),
    "metrics_read": ("metrics:read",),
}
KINDS = (
    "none",
    "garbage",
    "hec_key",
    "hec_key_disabled",
    "streams_read",
    "search_read",
    "admin",
    "clients_write",
    "metrics_read",
    "expired_token",
    "revoked_token",
    "client_basic",
    "session_token",
)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class Credentials:
    """``headers[kind]`` to send, and every secret string involved (to grep output for)."""

    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    admin_token: str = ""
    admin_client: dict[str, str] = field(default_factory=dict)

    def remember(self, name: str, value: str) -> str:
        self.secrets[name] = value
        return value


def make_credentials(server: RunningServer, prefix: str = "sec") -> Credentials:
    """One credential of each kind in ``KINDS``, through the CLI, the admin API and OAuth2."""
    c = Credentials()
    url = server.url
    c.admin_token = c.remember("admin token", bearer_token(server, "admin", name=f"{prefix}-root"))
    admin = {"Authorization": f"Bearer {c.admin_token}"}

    def new_client(name: str, *scopes: str) -> dict[str, str]:
        reply = httpx.post(
            url + "/api/v1/clients",
            json={"name": f"{prefix}-{name}", "scopes": list(scopes)},
            headers=admin,
        )
        assert reply.status_code == 201, reply.text
        made = reply.json()["resources"][0]
        c.remember(f"{name} client secret", made["client_secret"])
        return {"client_id": made["client_id"], "client_secret": made["client_secret"]}

    def token(client: dict[str, str], name: str) -> str:
        reply = httpx.post(url + "/oauth2/token", data=client)
        assert reply.status_code == 201, reply.text
        return c.remember(name, reply.json()["access_token"])

    def connector(name: str) -> str:
        reply = httpx.post(
            url + "/api/v1/connectors", json={"name": f"{prefix}-{name}"}, headers=admin
        )
        assert reply.status_code == 201, reply.text
        return c.remember(f"{name} key", reply.json()["resources"][0]["api_key"])

    garbage = c.remember("garbage", secrets.token_urlsafe(24))
    key = connector("enabled")
    disabled = connector("disabled")
    reply = httpx.patch(
        url + f"/api/v1/connectors/{prefix}-disabled", json={"enabled": False}, headers=admin
    )
    assert reply.status_code == 200, reply.text
    c.headers = {
        "none": {},
        "garbage": {"Authorization": f"Bearer {garbage}"},
        "hec_key": {"Authorization": f"Bearer {key}"},
        "hec_key_disabled": {"Authorization": f"Bearer {disabled}"},
    }
    for kind, scopes in TOKEN_SCOPES.items():
        c.headers[kind] = {"Authorization": f"Bearer {token(new_client(kind, *scopes), kind)}"}

    expiring = new_client("expiring", "admin")
    expired = token(expiring, "expired token")
    with sqlite3.connect(server.data_dir / "catalog.db") as db:  # let its lifetime pass
        db.execute(
            "UPDATE access_tokens SET expires_at = 1 WHERE client_id = ?",
            (expiring["client_id"],),
        )
    c.headers["expired_token"] = {"Authorization": f"Bearer {expired}"}

    revoking = new_client("revoking", "admin")
    revoked = token(revoking, "revoked token")
    reply = httpx.post(
        url + "/oauth2/revoke",
        data={"token": revoked},
        headers={"Authorization": basic(revoking["client_id"], revoking["client_secret"])},
    )
    assert reply.status_code == 200, reply.text
    c.headers["revoked_token"] = {"Authorization": f"Bearer {revoked}"}

    c.admin_client = new_client("basic", "admin")
    c.headers["client_basic"] = {
        "Authorization": basic(c.admin_client["client_id"], c.admin_client["client_secret"])
    }

    reader = c.headers["streams_read"]
    reply = httpx.get(
        url + "/sensors/entities/datafeed/v2", params={"appId": f"{prefix}-feed"}, headers=reader
    )
    assert reply.status_code == 200, reply.text
    session = c.remember("session token", reply.json()["resources"][0]["sessionToken"]["token"])
    c.headers["session_token"] = {"Authorization": f"Token {session}"}
    assert set(c.headers) == set(KINDS)
    return c
