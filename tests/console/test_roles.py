"""Roles: an analyst cannot reach admin pages or actions; admin actions are loopback-only."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from lakehose.testing import RunningServer
from tests.console.session import ADMIN, ANALYST, PASSWORD, http_session, screenshot

ADMIN_PAGES = ["/console/connectors", "/console/connectors/new", "/console/connectors/default",
               "/console/clients", "/console/users", "/console/audit"]  # fmt: skip
ADMIN_ACTIONS = [
    ("/console/connectors", {"name": "sneaky"}),
    ("/console/connectors/default/rotate", {}),
    ("/console/connectors/default/disable", {}),
    ("/console/connectors/default/delete", {"confirm": "default"}),
    ("/console/clients", {"name": "sneaky", "scope": "admin"}),
    ("/console/users", {"name": "sneaky", "role": "admin", "password": "long enough pw"}),
    ("/console/users/analyst/role", {"role": "admin"}),
]


def test_an_analyst_sees_no_admin_page_in_the_browser(analyst_page: Page) -> None:
    page = analyst_page
    nav = page.locator("header nav").inner_text()
    assert "Search" in nav and "Status" in nav and "Streams" in nav
    assert "Data connectors" not in nav and "Users" not in nav and "Audit" not in nav
    page.goto("/console/connectors")
    expect(page.locator("h1")).to_have_text("Not allowed")
    screenshot(page, "analyst-forbidden")
    for path in ("/console/streams", "/console/status"):
        assert page.goto(path).status == 200  # type: ignore[union-attr]


def test_an_analyst_reaches_no_admin_page_or_action_over_http(
    console_server: RunningServer,
) -> None:
    with http_session(console_server.url, ANALYST, PASSWORD) as client:
        for path in ADMIN_PAGES:
            assert client.get(path).status_code == 403, path
        for path, form in ADMIN_ACTIONS:
            reply = client.post(path, data=form)  # a valid CSRF token: only the role is lacking
            assert reply.status_code == 403, path
    with http_session(console_server.url, ADMIN, PASSWORD) as admin:
        listing = admin.get("/console/connectors").text
        assert "sneaky" not in listing and "Idle" in listing  # default stayed enabled
        assert "sneaky" not in admin.get("/console/clients").text
        users = admin.get("/console/users").text
        assert "sneaky" not in users


@pytest.mark.parametrize("path", ["/console/connectors", "/console/status"])
def test_signed_out_requests_go_to_the_sign_in_page(
    console_server: RunningServer, path: str
) -> None:
    reply = httpx.get(console_server.url + path)
    assert reply.status_code == 303
    assert reply.headers["location"] == "/console/login?next=" + path.replace("/", "%2F")
    htmx = httpx.get(console_server.url + path, headers={"HX-Request": "true"})
    assert htmx.status_code == 401 and htmx.headers["hx-redirect"].startswith("/console/login")


def test_a_signed_out_post_is_refused(console_server: RunningServer) -> None:
    post = httpx.post(console_server.url + "/console/connectors", data={"name": "x"})
    assert post.status_code == 401


def test_admin_pages_from_a_remote_address_need_allow_remote_admin(
    console_server: RunningServer,
) -> None:
    """Through a trusted proxy (loopback), X-Forwarded-For makes the client remote."""
    remote = {"X-Forwarded-For": "203.0.113.9"}
    with http_session(console_server.url, ADMIN, PASSWORD) as client:
        refused = client.get("/console/connectors", headers=remote)
        assert refused.status_code == 403 and "allow_remote_admin" in refused.text
        action = client.post("/console/connectors", data={"name": "remote"}, headers=remote)
        assert action.status_code == 403
        assert client.get("/console/status", headers=remote).status_code == 200  # viewing is fine
        assert "remote" not in client.get("/console/connectors").text


def test_csrf_in_the_browser_a_forged_token_and_a_cross_site_form_are_refused(
    admin_page: Page, console_server: RunningServer
) -> None:
    page = admin_page
    page.goto("/console/connectors")
    page.click("text=Add data connector")
    dialog = page.locator("dialog#add-connector")
    dialog.locator("input[name=name]").fill("forged")
    page.evaluate(
        "document.querySelector('#add-connector input[name=csrf_token]').value = 'forged'"
    )
    with page.expect_response("**/console/connectors") as answer:
        dialog.locator("button[type=submit]").click()
    assert answer.value.status == 403
    assert "CSRF token missing or wrong" in page.content()
    screenshot(page, "csrf-refused")

    # another site's page posting a form to the console: the SameSite=Strict cookie stays home
    evil = page.context.new_page()
    evil.set_content(
        f'<form method="post" action="{console_server.url}/console/connectors">'
        '<input name="name" value="cross-site"><button>go</button></form>'
    )
    with evil.expect_response("**/console/connectors") as answer:
        evil.click("button")
    assert answer.value.status in (401, 403)
    with http_session(console_server.url, ADMIN, PASSWORD) as client:
        listing = client.get("/console/connectors").text
        assert "forged" not in listing and "cross-site" not in listing
