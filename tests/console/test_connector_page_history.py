"""A connector's page beyond its settings: its recent refused requests (what happened to my
event), escaped and with credentials masked, and rotating its key with a grace period."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import Page

from lakehose.testing import RunningServer
from tests.console.session import ADMIN, PASSWORD, http_session, screenshot
from tests.console.test_escaping import IMG, SCRIPT, assert_inert
from tests.helpers import wait_for

SECRET = "6f1c0a52-2f8e-4d5b-9a51-0d7d3c9f1e2a"  # UUID-shaped, as API keys are


def new_connector(server: RunningServer, name: str) -> str:
    """A connector made in the console; its key, from the page that shows it once."""
    with http_session(server.url, ADMIN, PASSWORD) as client:
        created = client.post(
            "/console/connectors", data={"name": name, "description": "", "parser": ""}
        )
        assert created.status_code == 200, created.text
        return created.text.split('id="api-key">', 1)[1].split("<", 1)[0]


def hec(server: RunningServer, key: str, body: bytes) -> dict[str, Any]:
    reply = httpx.post(server.hec_url, content=body, headers={"Authorization": f"Splunk {key}"})
    return dict(reply.json())


def test_refused_requests_show_on_the_connector_page_as_text_with_secrets_masked(
    admin_page: Page, console_server: RunningServer
) -> None:
    key = new_connector(console_server, "refusing")
    hostile = f"{SCRIPT} {IMG} api_key={SECRET}".encode()
    assert hec(console_server, key, b'{"event": "fine"}\n' + hostile + b"\n")["code"] == 6
    assert hec(console_server, key, b'{"event": ""}')["code"] == 13

    page = admin_page
    page.goto("/console/connectors/refusing")  # at once: the page writes this worker's ring first
    rows = page.locator("table.refusals tbody tr")
    assert rows.count() == 2
    assert "Event field cannot be blank" in rows.nth(0).inner_text()  # newest first
    cells = [cell.inner_text() for cell in rows.nth(1).locator("td").all()]
    assert cells[1:6] == ["127.0.0.1", "400", "6", "Invalid data format", "1"]
    assert cells[6] == f"{SCRIPT} {IMG} api_key=****"  # the offending event, masked
    assert_inert(page, SCRIPT, IMG)
    assert SECRET not in page.content()
    screenshot(page, "connector-refusals")


def test_rotating_with_a_grace_period_keeps_the_old_key_working_until_it_ends(
    console_server: RunningServer,
) -> None:
    old = new_connector(console_server, "graceful")
    with http_session(console_server.url, ADMIN, PASSWORD) as client:
        form = client.get("/console/connectors/graceful").text
        assert '<option value="3600">1 hour</option>' in form  # the choices offered
        rotated = client.post("/console/connectors/graceful/rotate", data={"grace": "8"})
        assert rotated.status_code == 200
        new = rotated.text.split('id="api-key">', 1)[1].split("<", 1)[0]
        assert len(new) == 36 and new != old
        assert hec(console_server, new, b'{"event": "new key"}')["code"] == 0
        assert hec(console_server, old, b'{"event": "old key, in its grace"}')["code"] == 0
        again = client.get("/console/connectors/graceful").text
        assert new not in again and old not in again  # the new key was shown once
        assert "…" + new[-4:] in again and "…" + old[-4:] + " (until " in again
        assert "grace 8 s" in client.get("/console/audit").text

    wait_for(lambda: hec(console_server, old, b'{"event": "late"}')["code"] == 4, timeout=30)
    assert hec(console_server, new, b'{"event": "still"}')["code"] == 0
