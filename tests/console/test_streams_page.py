"""The Streams page with a real consumer that commits: its committed offset and its lag."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from lakehose.client import StreamConsumer
from lakehose.testing import RunningServer
from tests.client.consumerkit import api_client, new_sourcetype, send, take
from tests.console.session import screenshot


def test_the_streams_page_shows_a_consumers_committed_offset_and_lag(
    admin_page: Page, console_server: RunningServer
) -> None:
    client_id, secret = api_client(console_server)
    sourcetype = new_sourcetype()
    send(console_server, sourcetype, range(5))
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
    send(console_server, sourcetype, range(5, 8))  # three events past the committed one

    page = admin_page
    page.goto("/console/streams")
    row = page.locator("tr[data-app-id=committer]")
    cells = [cell.inner_text() for cell in row.locator("td").all()]
    assert cells[0] == "committer" and cells[1] == "0"
    assert cells[4] == f"{last:,}"  # committed offset
    assert cells[5] == "3"  # lag in events
    assert float(cells[6].replace(",", "")) >= 0  # lag in seconds: ingest times apart
    expect(row.locator(".badge")).to_have_text("no")  # the consumer closed; its offset stays
    screenshot(page, "streams-committed")
