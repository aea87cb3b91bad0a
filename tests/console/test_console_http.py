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
from tests.helpers import assert_documented


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


def _console_operations(server: RunningServer) -> list[tuple[str, str, str]]:
    """(method, documented path, a URL for it) of every console operation in the document."""
    paths = httpx.get(server.url + "/api/v1/openapi.json").json()["paths"]
    found = []
    for path, methods in paths.items():
        if path.startswith("/console"):
            url = re.sub(r"\{(partition|offset)\}", "0", path)
            url = re.sub(r"\{\w+\}", "nobody", url)
            found += [(method.upper(), path, url) for method in methods]
    return found


def test_every_console_answer_without_a_session_is_in_the_openapi_document(
    console_server: RunningServer,
) -> None:
    # schemathesis: a page without a session answered 303 (to the sign-in page) and a form
    # post 401, where the document listed only 200 for a page and 303 or 403 for a post; the
    # search API under /console was documented as a page (200 only), not as the API
    operations = _console_operations(console_server)
    assert len(operations) > 30
    with httpx.Client(base_url=console_server.url, timeout=30) as anonymous:
        for method, path, url in operations:
            reply = anonymous.request(method, url)
            assert reply.status_code in (200, 303, 401, 403), (method, url, reply.status_code)
            assert_documented(console_server, method, path, reply)
    search = httpx.get(console_server.url + "/console/api/v1/search/histogram")
    assert search.status_code == 401 and search.json()["errors"][0]["code"] == 401


def test_every_console_page_signed_in_is_in_the_openapi_document(
    console_server: RunningServer,
) -> None:
    with http_session(console_server.url, ADMIN, PASSWORD) as admin:
        for method, path, url in _console_operations(console_server):
            if method == "GET" and not path.endswith("/tail"):  # the tail stays open
                assert_documented(console_server, method, path, admin.get(url))
        # schemathesis: a line break in a console path matches no console route; the answer is
        # the API's JSON 404, which the document now lists beside the console's HTML one
        odd = "/console/search/event/%F1%87%A8%96%F1%B0%90%AB%0A%C3%A7%04/%C2%81"
        reply = admin.get(odd)
        assert reply.status_code == 404 and reply.json()["errors"][0]["code"] == 404
        assert_documented(
            console_server, "GET", "/console/search/event/{partition}/{offset}", reply
        )


def test_a_rotation_grace_beyond_a_year_leaves_the_connector_page_working(
    console_server: RunningServer,
) -> None:
    # the console's rotate form took any number of seconds as the grace: the API's 500 found
    # by schemathesis (an old key's end past year 9999) was reachable from here too
    with http_session(console_server.url, ADMIN, PASSWORD) as admin:
        token = admin.headers["X-CSRF-Token"]
        made = admin.post(
            "/console/connectors", data={"name": "console-grace", "csrf_token": token}
        )
        assert made.status_code in (200, 303), made.text
        reply = admin.post("/console/connectors/console-grace/rotate", data={"grace": "1e20"})
        assert reply.status_code == 400 and "365d" in reply.text
        assert_documented(console_server, "POST", "/console/connectors/{name}/rotate", reply)
        assert admin.get("/console/connectors/console-grace").status_code == 200
