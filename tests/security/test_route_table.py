"""Every route the server serves × every kind of credential: who gets in, who gets 401 or 403.

The routes come from the application itself (Starlette's routes, HEC's path table
and the methods HEC allows) and from the served OpenAPI document, so a route
added without an entry in ``POLICY`` fails the first test.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from lakehose.auth import scopes
from lakehose.config import Settings
from lakehose.server.app import all_routes
from lakehose.server.routes.hec import _ALLOW, _ALLOW_POST, ROUTES
from lakehose.server.runtime import Runtime
from lakehose.testing import RunningServer, run_server
from tests.security.credkit import KINDS, TOKEN_SCOPES, Credentials, make_credentials

PASS = "passes"  # authorised: any status but 401, 403, 429 and 5xx
Expectation = Callable[[str], int | str]


def public(kind: str) -> int | str:
    return PASS


def needs(scope: str) -> Expectation:
    """A bearer token route: 401 without a live token, 403 without ``scope``."""

    def expect(kind: str) -> int | str:
        if kind in TOKEN_SCOPES:
            return PASS if scope in scopes.expand(TOKEN_SCOPES[kind]) else 403
        return 401

    return expect


def hec_key(kind: str) -> int | str:
    """HEC ingest: code 2 (401) without a key, 3 (401) for a scheme that is no key, 1/4 (403)."""
    if kind == "hec_key":
        return PASS
    if kind in ("none", "session_token"):
        return 401
    return 403


def client_basic(kind: str) -> int | str:
    return PASS if kind == "client_basic" else 401


def session_token(kind: str) -> int | str:
    return PASS if kind == "session_token" else 401


def method_not_allowed(kind: str) -> int | str:
    return 405


def console_page(kind: str) -> int | str:
    """A console page: no API credential is a console session, so every kind is sent to sign in."""
    return 303


def console_action(kind: str) -> int | str:
    """A console change: 401 (sign in first) for every API credential."""
    return 401


def console_sign_in_post(kind: str) -> int | str:
    """The sign-in form without its form token (a CSRF token of its own): 403."""
    return 403


HEC_POST = {path: hec_key for path, kind in ROUTES.items() if kind in ("event", "raw", "ack")}
POLICY: dict[tuple[str, str], Expectation] = {
    **{("POST", path): expect for path, expect in HEC_POST.items()},
    **{("OPTIONS", path): public for path in ROUTES},
    ("GET", "/services/collector/health"): public,
    ("HEAD", "/services/collector/health"): public,
    ("GET", "/services/collector/health/1.0"): public,
    ("HEAD", "/services/collector/health/1.0"): public,
    ("GET", "/api/v1/openapi.json"): public,
    ("HEAD", "/api/v1/openapi.json"): public,
    ("GET", "/api/v1/status"): public,
    ("HEAD", "/api/v1/status"): public,
    ("GET", "/metrics"): public,
    ("HEAD", "/metrics"): public,
    ("POST", "/oauth2/token"): public,  # the credentials are the form; no form: 400
    ("POST", "/oauth2/revoke"): client_basic,
    ("GET", "/api/v1/connectors"): needs(scopes.CONNECTORS_READ),
    ("HEAD", "/api/v1/connectors"): needs(scopes.CONNECTORS_READ),
    ("POST", "/api/v1/connectors"): needs(scopes.CONNECTORS_WRITE),
    ("GET", "/api/v1/connectors/{name}"): needs(scopes.CONNECTORS_READ),
    ("HEAD", "/api/v1/connectors/{name}"): needs(scopes.CONNECTORS_READ),
    ("PATCH", "/api/v1/connectors/{name}"): needs(scopes.CONNECTORS_WRITE),
    ("DELETE", "/api/v1/connectors/{name}"): needs(scopes.CONNECTORS_WRITE),
    ("POST", "/api/v1/connectors/{name}/rotate"): needs(scopes.CONNECTORS_WRITE),
    ("GET", "/api/v1/connectors/{name}/errors"): needs(scopes.CONNECTORS_READ),
    ("HEAD", "/api/v1/connectors/{name}/errors"): needs(scopes.CONNECTORS_READ),
    ("GET", "/api/v1/clients"): needs(scopes.CLIENTS_WRITE),
    ("HEAD", "/api/v1/clients"): needs(scopes.CLIENTS_WRITE),
    ("POST", "/api/v1/clients"): needs(scopes.CLIENTS_WRITE),
    ("GET", "/api/v1/clients/{client}"): needs(scopes.CLIENTS_WRITE),
    ("HEAD", "/api/v1/clients/{client}"): needs(scopes.CLIENTS_WRITE),
    ("DELETE", "/api/v1/clients/{client}"): needs(scopes.CLIENTS_WRITE),
    ("POST", "/api/v1/clients/{client}/revoke"): needs(scopes.CLIENTS_WRITE),
    ("GET", "/sensors/entities/datafeed/v2"): needs(scopes.STREAMS_READ),
    ("HEAD", "/sensors/entities/datafeed/v2"): needs(scopes.STREAMS_READ),
    ("POST", "/sensors/entities/datafeed-actions/v1/{partition}"): needs(scopes.STREAMS_READ),
    ("GET", "/sensors/entities/datafeed/v1/{partition}"): session_token,
    ("HEAD", "/sensors/entities/datafeed/v1/{partition}"): method_not_allowed,
    ("POST", "/api/v1/search"): needs(scopes.SEARCH_READ),
    # the search page's endpoints, and their mirror under /console (where the session cookie
    # goes; without one, the Authorization header decides as on /api/v1)
    **{
        (method, prefix + f"/api/v1/search/{view}"): needs(scopes.SEARCH_READ)
        for view in ("histogram", "fields", "events/{partition}/{offset}", "export", "tail")
        for prefix, methods in (("", ("GET", "HEAD")), ("/console", ("GET",)))
        for method in methods
    },
    ("GET", "/"): public,
    ("HEAD", "/"): public,
    ("GET", "/console"): public,
    ("HEAD", "/console"): public,
    ("GET", "/console/"): public,
    ("GET", "/console/login"): public,
    ("POST", "/console/login"): console_sign_in_post,
    ("POST", "/console/logout"): console_action,
    **{
        ("GET", f"/console/{page}"): console_page
        for page in (
            "status",
            "streams",
            "connectors",
            "connectors/new",
            "connectors/{name}",
            "clients",
            "users",
            "audit",
            "search",
            "search/more",
            "search/fields",
            "search/event/{partition}/{offset}",
        )  # fmt: skip
    },
    **{
        ("POST", f"/console/{action}"): console_action
        for action in (
            "connectors",
            "connectors/{name}",
            "connectors/{name}/rotate",
            "connectors/{name}/enable",
            "connectors/{name}/disable",
            "connectors/{name}/delete",
            "clients",
            "clients/{client_id}/revoke",
            "users",
            "users/{name}/{action}",
        )  # fmt: skip
    },
    # lakehose's stream extensions: consumer groups, and the sandbox (off here: 404 for admin)
    ("GET", "/api/v1/stream-groups"): needs(scopes.STREAMS_READ),
    ("HEAD", "/api/v1/stream-groups"): needs(scopes.STREAMS_READ),
    ("GET", "/api/v1/stream-groups/{app_id}"): needs(scopes.STREAMS_READ),
    ("HEAD", "/api/v1/stream-groups/{app_id}"): needs(scopes.STREAMS_READ),
    ("DELETE", "/api/v1/stream-groups/{app_id}"): needs(scopes.STREAMS_READ),
    ("POST", "/api/v1/stream-groups/{app_id}/commit"): needs(scopes.STREAMS_READ),
    ("POST", "/api/v1/stream-groups/{app_id}/reset"): needs(scopes.STREAMS_READ),
    ("GET", "/api/v1/sandbox"): needs(scopes.ADMIN),
    ("HEAD", "/api/v1/sandbox"): needs(scopes.ADMIN),
    ("POST", "/api/v1/sandbox/faults"): needs(scopes.ADMIN),
    ("DELETE", "/api/v1/sandbox/faults"): needs(scopes.ADMIN),
    ("POST", "/api/v1/sandbox/sessions/expire"): needs(scopes.ADMIN),
    ("PUT", "/api/v1/sandbox/clock"): needs(scopes.ADMIN),
}
# Path parameters name things that do not exist, so an authorised call changes nothing.
PARAMS = {
    "name": "no-such-connector",
    "client": "no-such-client",
    "client_id": "no-such-client",
    "action": "disable",
    "partition": "0",
    "offset": "0",
    "app_id": "no-such-group",
}
QUERY = {"/sensors/entities/datafeed/v2": {"appId": "route-table"}}


def served_routes(server: RunningServer, data_dir: Path) -> set[tuple[str, str]]:
    """(method, path) of every route: the app's own tables and the OpenAPI document."""
    served: set[tuple[str, str]] = set()
    for route in all_routes(Runtime(Settings(data_dir=data_dir))):
        for method in getattr(route, "methods", None) or ():
            served.add((method, route.path))  # type: ignore[attr-defined]
    for path, kind in ROUTES.items():
        for method in _ALLOW.get(kind, _ALLOW_POST).decode().split(","):
            served.add((method, path))
    doc = httpx.get(server.url + "/api/v1/openapi.json").json()
    for path, item in doc["paths"].items():
        for method in item:
            if method in ("get", "head", "post", "put", "patch", "delete", "options"):
                served.add((method.upper(), path))
    return served


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    # no failed-key lockout here: this table sends many wrong keys from one address on purpose
    args = ["--hec-auth-fail-limit", "0"]
    with run_server(tmp_path_factory.mktemp("lake") / "data", args=args) as s:
        yield s


@pytest.fixture(scope="module")
def creds(server: RunningServer) -> Credentials:
    return make_credentials(server, "rt")


def test_every_served_route_has_an_entry_in_the_table(
    server: RunningServer, tmp_path: Path
) -> None:
    served = served_routes(server, tmp_path / "data")
    assert len(served) > 40  # the enumeration itself works
    missing = sorted(served - set(POLICY))
    stale = sorted(set(POLICY) - served)
    assert not missing, f"routes without an entry in POLICY (add one): {missing}"
    assert not stale, f"POLICY entries for routes no longer served: {stale}"


def call(client: httpx.Client, method: str, path: str, headers: dict[str, str]) -> int:
    url = re.sub(r"\{(\w+)\}", lambda m: PARAMS[m.group(1)], path)
    body = b'{"event": "route table"}' if path in HEC_POST else b"{}"
    content = body if method in ("POST", "PATCH") else None
    request = client.build_request(
        method, url, headers=headers, content=content, params=QUERY.get(path)
    )
    reply = client.send(request, stream=True)  # the data feed would stream for ever
    reply.close()
    return reply.status_code


def test_every_route_answers_every_credential_kind_as_the_table_says(
    server: RunningServer, creds: Credentials
) -> None:
    wrong = []
    checked = 0
    client = httpx.Client(base_url=server.url, timeout=30)
    for (method, path), expect in sorted(POLICY.items()):
        for kind in KINDS:
            want = expect(kind)
            got = call(client, method, path, creds.headers[kind])
            checked += 1
            ok = got == want if isinstance(want, int) else got not in (401, 403, 429) and got < 500
            if not ok:
                wrong.append(f"{method} {path} as {kind}: {got}, expected {want}")
    client.close()
    assert checked == len(POLICY) * len(KINDS)
    assert not wrong, "\n".join(wrong)


METRICS_ROUTES = [
    ("GET", "/metrics"),
    ("HEAD", "/metrics"),
    ("GET", "/api/v1/status"),
    ("HEAD", "/api/v1/status"),
]


def test_with_metrics_token_metrics_and_status_need_metrics_read(tmp_path: Path) -> None:
    """``metrics_token`` turns the two public read-outs into ``metrics:read`` routes."""
    args = ["--hec-auth-fail-limit", "0", "--metrics-token"]
    with run_server(tmp_path / "data", args=args) as guarded:
        creds = make_credentials(guarded, "mt")
        wrong = []
        with httpx.Client(base_url=guarded.url, timeout=30) as client:
            for method, path in METRICS_ROUTES:
                for kind in KINDS:
                    want = needs(scopes.METRICS_READ)(kind)
                    got = call(client, method, path, creds.headers[kind])
                    ok = got == want if isinstance(want, int) else got == 200
                    if not ok:
                        wrong.append(f"{method} {path} as {kind}: {got}, expected {want}")
    assert not wrong, "\n".join(wrong)


def test_the_table_is_not_degenerate() -> None:
    """Every kind is refused somewhere, and each real credential opens some non-public route."""
    opens_something = {
        "hec_key",
        "streams_read",
        "search_read",
        "admin",
        "clients_write",
        "client_basic",
        "session_token",
    }
    for kind in KINDS:
        outcomes = {expect(kind) for expect in POLICY.values() if expect is not public}
        assert outcomes & {401, 403}, kind
        assert (PASS in outcomes) == (kind in opens_something), kind


@pytest.mark.parametrize(
    ("kind", "target", "want"),
    [
        ("clients_write", ("streams:read",), 403),  # a scope it does not hold
        ("clients_write", ("clients:write",), 200),
        ("clients_write", ("admin",), 403),  # it could not have made an admin client
        ("clients_write", ("connectors:write",), 403),
        ("admin", ("admin",), 200),
        ("admin", ("streams:read", "search:read"), 200),
    ],
)
def test_a_token_changes_only_clients_whose_scopes_it_could_grant(
    server: RunningServer, creds: Credentials, kind: str, target: tuple[str, ...], want: int
) -> None:
    """Revoking (DELETE, or POST .../revoke) follows the rule creating does."""
    admin = {"Authorization": f"Bearer {creds.admin_token}"}
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for how in ("DELETE", "POST"):
            made = client.post(
                "/api/v1/clients",
                json={
                    "name": f"target-{kind}-{'-'.join(target).replace(':', '.')}-{how}",
                    "scopes": list(target),
                },
                headers=admin,
            )
            assert made.status_code == 201, made.text
            path = "/api/v1/clients/" + made.json()["resources"][0]["client_id"]
            if how == "POST":
                path += "/revoke"
            reply = client.request(how, path, headers=creds.headers[kind])
            assert reply.status_code == want, (how, reply.text)
            creating = client.post(
                "/api/v1/clients",
                json={
                    "name": f"new-{kind}-{'-'.join(target).replace(':', '.')}-{how}",
                    "scopes": list(target),
                },
                headers=creds.headers[kind],
            )
            assert creating.status_code == (201 if want == 200 else 403), creating.text
