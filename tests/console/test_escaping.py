"""Hostile text (from events, forms and sign-in attempts) is shown as text, never run."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page

from lakehose.testing import RunningServer
from tests.console.session import _LOGIN_TOKEN, ADMIN, PASSWORD, http_session, screenshot

SCRIPT = "<script>window.__xss = 'script'</script>"
IMG = '"><img src=x onerror="window.__xss = \'img\'">'
JS_URL = "javascript:window.__xss='url'"


def assert_inert(page: Page, *texts: str) -> None:
    body = page.locator("main").inner_text()
    for text in texts:
        assert text in body, text  # shown, as text
    assert page.evaluate("window.__xss") is None
    assert page.locator("main img").count() == 0
    assert page.locator("main script").count() == 0
    assert page.locator("a[href^='javascript']").count() == 0


def test_hostile_text_renders_as_text(admin_page: Page, console_server: RunningServer) -> None:
    with httpx.Client(base_url=console_server.url) as anonymous:
        token = _LOGIN_TOKEN.search(anonymous.get("/console/login").text)
        assert token
        anonymous.post(
            "/console/login",
            data={"username": SCRIPT, "password": "x", "csrf_token": token.group(1)},
        )
    with http_session(console_server.url, ADMIN, PASSWORD) as client:
        created = client.post(
            "/console/connectors",
            data={"name": "hostile", "description": IMG + " " + JS_URL, "parser": ""},
        )
        assert created.status_code == 200
        key = created.text.split('id="api-key">', 1)[1].split("<", 1)[0]
    for event in (SCRIPT, IMG, JS_URL, {"url": JS_URL, "html": SCRIPT + IMG}):
        sent = httpx.post(
            console_server.hec_url,
            headers={"Authorization": f"Splunk {key}"},
            json={"event": event},
        )
        assert sent.json()["code"] == 0

    page = admin_page
    page.goto("/console/connectors")
    assert_inert(page, IMG + " " + JS_URL)
    page.goto("/console/connectors/hostile")
    assert page.locator("input[name=description]").input_value() == IMG + " " + JS_URL
    assert page.evaluate("window.__xss") is None
    page.goto("/console/audit")
    assert_inert(page, SCRIPT[:-9])  # the sign-in attempt's user name, cut to 64 characters
    screenshot(page, "audit")
