"""Data connectors in Chromium: add one, copy its key once, send with curl, see it turn Active."""

from __future__ import annotations

import json
import subprocess

import httpx
from playwright.sync_api import Page, expect

from lakehose.testing import RunningServer
from tests.console.session import ADMIN, PASSWORD, http_session, screenshot
from tests.helpers import wait_for


def curl_event(url: str, key: str, event: object) -> dict[str, object]:
    """Send one event with curl, as a person pasting the page's example would."""
    done = subprocess.run(
        ["curl", "-sS", "--max-time", "20", url, "-H", f"Authorization: Splunk {key}",
         "-d", json.dumps({"event": event})],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    return dict(json.loads(done.stdout))


def test_add_a_connector_copy_its_key_once_send_and_see_it_active(
    admin_page: Page, console_server: RunningServer
) -> None:
    page = admin_page
    page.goto("/console/connectors")
    page.click("text=Add data connector")
    dialog = page.locator("dialog#add-connector")
    expect(dialog).to_be_visible()
    dialog.locator("input[name=name]").fill("firewall")
    dialog.locator("input[name=description]").fill("edge firewalls")
    dialog.locator("select[name=parser]").select_option("kv")
    dialog.locator("input[name=index]").fill("net")
    screenshot(page, "add-connector")
    dialog.locator("button[type=submit]").click()

    key = page.locator("#api-key").inner_text()
    hec_url = page.locator("#hec-url").inner_text()
    assert len(key) == 36 and hec_url == console_server.hec_url
    assert key in page.locator("#example-curl").inner_text()
    assert key in page.locator("#example-collector").inner_text()
    page.click("[data-copy=api-key]")
    expect(page.locator("[data-copy=api-key]")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == key
    page.wait_for_url("**/console/connectors/firewall")  # the page took its plain URL
    screenshot(page, "connector-key-once")

    page.goto("/console/connectors")
    row = page.locator("tr[data-connector=firewall]")
    expect(row.locator(".badge")).to_have_text("Idle")
    assert curl_event(hec_url, key, "action=deny src=10.0.0.1") == {"text": "Success", "code": 0}
    # the list refreshes itself (htmx, every 5 s): the connector turns Active without a reload
    expect(row.locator(".badge")).to_have_text("Active", timeout=20_000)
    assert row.locator("td").nth(5).inner_text() == "1"  # events in 24 h
    assert row.locator("td").nth(2).inner_text() == "kv"
    screenshot(page, "connectors")

    page.goto("/console/connectors/firewall")

    # reloading shows the key's hint only, never the key
    page.reload()
    expect(page.locator("h1")).to_contain_text("firewall")
    assert page.locator("#api-key").count() == 0
    assert key not in page.content()
    assert "…" + key[-4:] in page.content()
    with http_session(console_server.url, ADMIN, PASSWORD) as client:
        for path in ("/console/connectors", "/console/connectors/firewall", "/console/audit"):
            assert key not in client.get(path).text

    page.goto("/console/connectors")
    page.click("text=firewall")
    show = page.locator("a", has_text="Show events")
    assert show.get_attribute("href") == "/console/search?q=%23connector%3Dfirewall"


def test_settings_rotate_disable_and_delete_with_confirmation(
    admin_page: Page, console_server: RunningServer
) -> None:
    page = admin_page
    with http_session(console_server.url, ADMIN, PASSWORD) as client:
        created = client.post(
            "/console/connectors", data={"name": "proxy", "description": "", "parser": ""}
        )
        assert created.status_code == 200
        old_key = created.text.split('id="api-key">', 1)[1].split("<", 1)[0]
    (console_server.data_dir / "parsers.toml").write_text(
        "[parsers.squid]\ntype = \"regex\"\npattern = '^(?P<ts>\\S+) (?P<message>.*)$'\n"
    )

    def custom_parser_offered() -> bool:
        page.goto("/console/connectors/proxy")
        return page.locator("select[name=parser] option", has_text="squid (custom)").count() == 1

    wait_for(custom_parser_offered, timeout=30, interval=0.5)  # the server reloads the file
    page.select_option("select[name=parser]", "squid")
    page.fill("input[name=description]", "web proxies")
    page.fill("input[name=sourcetype]", "squid")
    page.click("text=Save settings")
    expect(page.locator("[role=status]")).to_have_text("Settings saved.")
    assert page.locator("input[name=sourcetype]").input_value() == "squid"
    assert page.locator("select[name=parser]").input_value() == "squid"

    page.click("text=Rotate key")
    new_key = page.locator("#api-key").inner_text()
    assert new_key != old_key
    assert curl_event(console_server.hec_url, new_key, "x")["code"] == 0
    refused = curl_event(console_server.hec_url, old_key, "x")
    assert refused["code"] == 4  # invalid token: no grace chosen

    page.goto("/console/connectors/proxy")
    page.click("button:text('Disable')")
    expect(page.locator("h1 .badge")).to_have_text("Disabled")
    assert curl_event(console_server.hec_url, new_key, "x")["code"] == 1  # token disabled
    page.click("button:text('Enable')")
    expect(page.locator("h1 .badge")).not_to_have_text("Disabled")

    page.click("text=Delete…")
    dialog = page.locator("dialog#delete-connector")
    dialog.locator("input[name=confirm]").fill("not-the-name")
    dialog.locator("button[type=submit]").click()
    expect(page.locator("[role=alert]")).to_contain_text("type the connector's name")
    page.click("text=Delete…")
    dialog.locator("input[name=confirm]").fill("proxy")
    dialog.locator("button[type=submit]").click()
    page.wait_for_url("**/console/connectors")
    assert page.locator("tr[data-connector=proxy]").count() == 0
    assert httpx.post(
        console_server.hec_url, headers={"Authorization": f"Splunk {new_key}"}, json={"event": 1}
    ).json()["code"] in (3, 4)
