"""Signing in and out of the console in Chromium, and what the server does with the session."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page

from lakehose.testing import RunningServer
from tests.console.session import ADMIN, PASSWORD, screenshot, sign_in


def test_sign_in_and_sign_out_end_the_session_on_the_server(
    anonymous_page: Page, console_server: RunningServer
) -> None:
    page = anonymous_page
    page.goto("/console/status")
    page.wait_for_url("**/console/login?next=*")
    screenshot(page, "login")
    page.fill("input[name=username]", ADMIN)
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text() == "Wrong user name or password."

    sign_in(page, ADMIN, PASSWORD)
    assert page.locator(".who").inner_text().startswith(ADMIN)
    screenshot(page, "status")
    cookie = next(c for c in page.context.cookies() if c["name"] == "lakehose_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
    assert not cookie["secure"]  # plain HTTP here; Secure over TLS (test_console_http)

    page.click("text=Sign out")
    page.wait_for_url("**/console/login")
    page.goto("/console/status")
    page.wait_for_url("**/console/login?next=*")

    # the old cookie is dead on the server, not just forgotten by the browser
    stolen = httpx.get(
        console_server.url + "/console/status",
        cookies={"lakehose_session": cookie["value"]},
    )
    assert stolen.status_code == 303
    assert stolen.headers["location"].startswith("/console/login")
