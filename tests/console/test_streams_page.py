"""The Streams page with a real consumer that commits: its committed offset and its lag."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from lakehose.client import StreamConsumer
from lakehose.testing import RunningServer
from tests.client.consumerkit import api_client, new_sourcetype, send, take
from tests.console.session import screenshot
from tests.console.test_connector_page_history import new_connector


def test_the_streams_page_shows_a_consumers_committed_offset_and_lag(
    admin_page: Page, console_server: RunningServer
) -> None:
    client_id, secret = api_client(console_server)
    sourcetype = new_sourcetype()
    key = new_connector(console_server, "committed-events")  # "default" stays idle for others
    send(console_server, sourcetype, range(5), key=key)
    with StreamConsumer(
        console_server.url,
        client_id=client_id,
        client_secret=secret,
        app_id="committer",
        event_types=[sourcetype],
        commit="server",
        auto_commit=False,
    ) as consumer:
        events = take(consumer, 5)
        committed = consumer.commit()
    last = events[-1]["metadata"]["offset"]
    assert committed == {0: last}
    send(console_server, sourcetype, range(5, 8), key=key)  # three past the committed one

    page = admin_page
    page.goto("/console/streams")
    row = page.locator("tr[data-app-id=committer]")
    cells = [cell.inner_text() for cell in row.locator("td").all()]
    assert cells[0] == "committer" and cells[1] == "0"
    assert cells[4] == f"{last:,}"  # committed offset
    assert cells[5] == "-"  # no open feed
    assert cells[6] == "3"  # lag in events
    assert float(cells[7].replace(",", "")) >= 0  # lag in seconds: ingest times apart
    expect(row.locator(".badge")).to_have_text("no")  # the consumer closed; its offset stays
    screenshot(page, "streams-committed")


def test_a_consumer_that_commits_nothing_shows_where_its_feed_is(
    admin_page: Page, console_server: RunningServer
) -> None:
    """Falcon's own consumers keep their offsets themselves: the page shows the next offset
    their open feed sends (as of its last heartbeat; at first, where it started)."""
    client_id, secret = api_client(console_server)
    send(console_server, new_sourcetype(), range(4), key=new_connector(console_server, "plain"))
    token = httpx.post(
        console_server.url + "/oauth2/token",
        data={"client_id": client_id, "client_secret": secret},
    ).json()["access_token"]
    stream = httpx.get(
        console_server.url + "/sensors/entities/datafeed/v2",
        params={"appId": "plain-falcon"},
        headers={"Authorization": f"Bearer {token}"},
    ).json()["resources"][0]
    end = int(httpx.get(console_server.url + "/api/v1/status").json()["resources"][0]
              ["partitions"][0]["end_offset"])  # fmt: skip
    with httpx.stream(
        "GET",
        stream["dataFeedURL"] + f"&offset={end - 2}",
        headers={"Authorization": f"Token {stream['sessionToken']['token']}"},
        timeout=30,
    ) as feed:
        assert feed.status_code == 200
        page = admin_page
        page.goto("/console/streams")
        row = page.locator("tr[data-app-id=plain-falcon]")
        cells = [cell.inner_text() for cell in row.locator("td").all()]
    assert cells[4] == "-"  # it commits nothing
    assert cells[5] == f"{end - 2:,}"  # where its feed started
    assert cells[6] == "2"  # events past it
    assert "since" in cells[3]
