"""The console over plain HTTP: headers, redirects, CSRF, roles, the OpenAPI listing, TLS cookies."""

from __future__ import annotations

import re

import httpx
import pytest
from starlette.routing import Mount, Route

from lakehose.config import Settings
from lakehose.server.app import all_routes
from lakehose.server.runtime import Runtime
from lakehose.testing import RunningServer
from tests.console.session import ADMIN, ANALYST, PASSWORD, http_session


def console_routes(tmp_path: object) -> list[tuple[str, str]]:
    """Every (method, path) the console serves, walked from the app's route table."""
    out = []

    def walk(routes: list[object], prefix: str) -> None:
        for route in routes:
            if isinstance(route, Mount):
                if route.path != "/console/static":
                    walk(route.routes, prefix + route.path)
            elif isinstance(route, Route) and (prefix + route.path).startswith(("/console", "/")):
                for method in sorted((route.methods or set()) - {"HEAD"}):
                    out.append((method, prefix + route.path))

    walk(all_routes(Runtime(Settings(data_dir=tmp_path))), "")  # type: ignore[arg-type]
    return [(m, p) for m, p in out if p == "/" or p.startswith("/console")]


def test_root_redirects_to_the_console(console_server: RunningServer) -> None:
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    reply = httpx.get(console_server.url + "/", headers=browser)
    assert reply.status_code == 303 and reply.headers["location"] == "/console"
    # a program (no HTML asked for) gets the JSON document of links instead
    links = httpx.get(console_server.url + "/").json()
    assert links["console"] == console_server.url + "/console"
    reply = httpx.get(console_server.url + "/console")
    assert reply.status_code == 303 and reply.headers["location"] == "/console/search"


def test_pages_carry_a_strict_csp_and_no_inline_script(console_server: RunningServer) -> None:
    with http_session(console_server.url, ANALYST, PASSWORD) as client:
        for path in ("/console/login", "/console/status"):
            reply = client.get(path)
            csp = reply.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp
            assert "frame-ancestors 'none'" in csp
            assert reply.headers["x-content-type-options"] == "nosniff"
            assert reply.headers["cache-control"] == "no-store"
            # every <script> has a src (same origin); no on*= handler attributes, no style=
            assert not re.search(r"<script(?![^>]*\bsrc=\"/console/static/)", reply.text)
            assert not re.search(r"\son[a-z]+\s*=", reply.text)
            assert " style=" not in reply.text
        asset = client.get("/console/static/vendor/htmx.min.js")
        assert asset.status_code == 200 and "javascript" in asset.headers["content-type"]


def test_a_state_change_without_the_csrf_token_is_refused(console_server: RunningServer) -> None:
    with http_session(console_server.url, ADMIN, PASSWORD) as client:
        token = client.headers.pop("X-CSRF-Token")
        refused = client.post("/console/logout")
        assert refused.status_code == 403 and "CSRF" in refused.text
        wrong = client.post(
            "/console/logout",
            data={"csrf_token": token[:-1] + ("y" if token.endswith("x") else "x")},
        )
        assert wrong.status_code == 403
        other_site = client.post(
            "/console/logout",
            data={"csrf_token": token},
            headers={"Origin": "https://evil.example"},
        )
        assert other_site.status_code == 403
        assert client.get("/console/status").status_code == 200  # still signed in
        done = client.post("/console/logout", data={"csrf_token": token})
        assert done.status_code == 303
        assert client.get("/console/status").status_code == 303  # signed out


def test_the_sign_in_form_refuses_a_post_without_its_token(console_server: RunningServer) -> None:
    reply = httpx.post(
        console_server.url + "/console/login",
        data={"username": ADMIN, "password": PASSWORD},
    )
    assert reply.status_code == 403
    assert "lakehose_session" not in reply.cookies


@pytest.mark.parametrize("next_path", ["https://evil.example/", "//evil.example", "/elsewhere"])
def test_sign_in_never_sends_the_browser_off_the_console(
    console_server: RunningServer, next_path: str
) -> None:
    from tests.console.session import _LOGIN_TOKEN

    with httpx.Client(base_url=console_server.url) as client:
        token = _LOGIN_TOKEN.search(client.get("/console/login").text)
        assert token
        reply = client.post(
            "/console/login",
            data={
                "username": ANALYST,
                "password": PASSWORD,
                "csrf_token": token.group(1),
                "next": next_path,
            },
        )
        assert reply.status_code == 303 and reply.headers["location"] == "/console"


def test_every_console_route_is_in_the_openapi_document(
    console_server: RunningServer, tmp_path: object
) -> None:
    paths = httpx.get(console_server.url + "/api/v1/openapi.json").json()["paths"]
    missing = [
        f"{method} {path}"
        for method, path in console_routes(tmp_path)
        if method.lower() not in paths.get(path, {})
    ]
    assert not missing, f"console routes missing from the OpenAPI document: {missing}"
