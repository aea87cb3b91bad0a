"""API clients, Streams, Users, Audit log and Status pages in Chromium, against a real server."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from lakehose.testing import RunningServer
from tests.console.session import ADMIN, PASSWORD, http_session, screenshot
from tests.helpers import wait_for


def test_an_api_client_made_in_the_console_streams_and_is_revoked(
    admin_page: Page, console_server: RunningServer
) -> None:
    page = admin_page
    page.goto("/console/clients")
    page.click("text=Create API client")
    dialog = page.locator("dialog#add-client")
    dialog.locator("input[name=name]").fill("siem-reader")
    dialog.locator("input[value='streams:read']").check()
    dialog.locator("input[value='search:read']").check()
    dialog.locator("button[type=submit]").click()
    client_id = page.locator("#client-id").inner_text()
    secret = page.locator("#client-secret").inner_text()
    page.click("[data-copy=client-secret]")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    screenshot(page, "clients-secret-once")
    page.reload()
    assert secret not in page.content() and page.locator("#client-secret").count() == 0
    row = page.locator("tr[data-client=siem-reader]")
    expect(row).to_contain_text("search:read, streams:read")

    token = httpx.post(
        console_server.url + "/oauth2/token",
        data={"client_id": client_id, "client_secret": secret},
    ).json()["access_token"]
    stream = httpx.get(
        console_server.url + "/sensors/entities/datafeed/v2",
        params={"appId": "console-test"},
        headers={"Authorization": f"Bearer {token}"},
    ).json()["resources"][0]
    with httpx.stream(
        "GET",
        stream["dataFeedURL"],
        headers={"Authorization": f"Token {stream['sessionToken']['token']}"},
        timeout=30,
    ) as feed:
        assert feed.status_code == 200
        page.goto("/console/streams")
        consumer = page.locator("tr[data-app-id=console-test]")
        expect(consumer).to_contain_text("siem-reader")
        expect(consumer.locator(".badge")).to_contain_text("since")
        screenshot(page, "streams")

    page.goto("/console/clients")
    row.locator("text=Revoke…").click()
    row.locator("dialog button[type=submit]").click()
    expect(page.locator("tr[data-client=siem-reader] .badge")).to_have_text("Revoked")
    refused = httpx.post(
        console_server.url + "/oauth2/token",
        data={"client_id": client_id, "client_secret": secret},
    )
    assert refused.status_code == 403


def test_users_made_and_disabled_in_the_console_and_the_audit_log(
    admin_page: Page, console_server: RunningServer
) -> None:
    page = admin_page
    page.goto("/console/users")
    page.click("text=Add user")
    dialog = page.locator("dialog#add-user")
    dialog.locator("input[name=name]").fill("carol")
    dialog.locator("select[name=role]").select_option("analyst")
    dialog.locator("input[name=password]").fill("carol's long password")
    dialog.locator("button[type=submit]").click()
    expect(page.locator("tr[data-user=carol]")).to_contain_text("analyst")

    with http_session(console_server.url, "carol", "carol's long password") as carol:
        page.reload()
        expect(page.locator("tr[data-user=carol] td").nth(5)).to_have_text("1")  # sessions
        screenshot(page, "users")
        page.locator("tr[data-user=carol] button", has_text="Disable").click()
        expect(page.locator("tr[data-user=carol] .badge")).to_have_text("Disabled")
        assert carol.get("/console/status").status_code == 303  # her session ended

    page.goto("/console/audit")
    audit = page.locator("table.audit").inner_text()
    assert "user create\tcarol" in audit and "user disable\tcarol" in audit
    assert f"{ADMIN}\tsign in" in audit and "127.0.0.1" in audit


def test_the_status_page_shows_health_rates_refusals_and_partitions(
    admin_page: Page, console_server: RunningServer
) -> None:
    bad = httpx.post(
        console_server.hec_url, headers={"Authorization": "Splunk not-a-key"}, json={"event": 1}
    )
    assert bad.json()["code"] == 4

    def refused_shown() -> bool:
        with http_session(console_server.url, ADMIN, PASSWORD) as client:
            return "Invalid token" in client.get("/console/status").text

    wait_for(refused_shown, timeout=30, interval=0.5)  # metrics are flushed once a second
    page = admin_page
    page.goto("/console/status")
    expect(page.locator(".badge").first).to_have_text("Healthy")
    expect(page.locator("table.refused")).to_contain_text("Invalid token")
    expect(page.locator("table.partitions tbody tr")).to_have_count(1)
    expect(page.locator("dl.settings")).to_contain_text("bytes free")
    screenshot(page, "status")
