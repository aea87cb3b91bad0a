"""The search page in Chromium: a query with its histogram, zoom by drag, an event expanded, a
filter added from the field list, live tail, Show events for a connector, hostile events as text."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from lakehose.testing import RunningServer
from tests.console.search_data import ATTRIBUTE, LINK, SCRIPT, create_connector, load, send
from tests.console.session import ANALYST, PASSWORD, TIMEOUT_MS, screenshot, sign_in


@pytest.fixture(scope="module")
def data(console_server: RunningServer) -> dict[str, Any]:
    return load(console_server)


@pytest.fixture(scope="module")
def signed_in(
    browser: Browser, console_server: RunningServer, data: dict[str, Any]
) -> Iterator[tuple[Page, list[str]]]:
    """One analyst's page for the whole module (signing in is the slow part of a test)."""
    context = browser.new_context(
        base_url=console_server.url, viewport={"width": 1280, "height": 800}
    )
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    page.on(
        "console",
        lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    page.on("dialog", lambda d: (problems.append("a script ran: " + d.message), d.dismiss()))
    sign_in(page, ANALYST, PASSWORD)
    yield page, problems
    context.close()


@pytest.fixture
def page(signed_in: tuple[Page, list[str]]) -> Iterator[Page]:
    """The signed-in page; the test fails on a CSP violation or a dialog a hostile event raised."""
    page, problems = signed_in
    problems.clear()
    yield page
    assert not problems, problems


def search(page: Page, q: str, **params: str) -> None:
    query = "&".join(f"{k}={quote(v)}" for k, v in {"q": q, **params}.items())
    page.goto(f"/console/search?{query}")
    page.wait_for_selector("#histogram[data-ready]")


def url_params(page: Page) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}


def test_a_query_shows_its_histogram_and_total(page: Page) -> None:
    search(page, "#connector=srch-web")
    assert page.locator("#histogram").get_attribute("data-ready") == "1"
    assert page.locator("#histogram canvas").count() == 1
    assert page.locator("#total").inner_text() == "250 events · 200 shown"
    assert page.locator("#events > li.event").count() == 200
    # the field list loads after the histogram: wait for it rather than race it
    expect(page.locator("#fields .field").first).to_be_attached(timeout=30_000)
    screenshot(page, "search")
    page.click("text=Load more")
    expect(page.locator("#events > li.event")).to_have_count(250)


def test_dragging_across_the_histogram_zooms_into_that_range(page: Page) -> None:
    search(page, "#connector=srch-web", start="1h")  # the events fill its last 42 minutes
    box = page.locator("#histogram .u-over").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.55, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.75, y, steps=5)
    page.mouse.move(box["x"] + box["width"] * 0.95, y, steps=5)
    page.mouse.up()
    page.wait_for_url("**/console/search?*end=*")
    page.wait_for_selector("#histogram[data-ready]")
    params = url_params(page)
    assert params["q"] == "#connector=srch-web"
    assert params["start"].endswith("Z") and params["end"].endswith("Z")
    total = int(page.locator("#histogram").get_attribute("data-total") or "-1")
    assert 0 < total < 250
    assert page.locator("#events > li.event").count() == total
    screenshot(page, "search-zoomed")


def test_clicking_a_bar_zooms_into_its_bucket(page: Page) -> None:
    search(page, "#connector=srch-web", start="2h")
    box = page.locator("#histogram .u-over").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] * 0.9, box["y"] + box["height"] - 3)
    page.wait_for_url("**/console/search?*end=*")
    assert url_params(page)["start"] < url_params(page)["end"]


def test_expanding_an_event_shows_its_json_and_metadata(page: Page) -> None:
    search(page, "#connector=srch-web")
    first = page.locator("#events > li.event").first
    assert '"n":249' in first.locator("summary .line").inner_text()
    first.locator("summary").click()
    detail = first.locator(".event-detail")
    detail.wait_for()
    assert '"n": 249' in detail.locator("pre.json").first.inner_text()  # pretty-printed
    meta = detail.locator("dl.meta").inner_text()
    for word in ("connector", "web", "index", "sourcetype", "host", "web-5", "source", "nginx",
                 "partition", "offset"):  # fmt: skip
        assert word in meta
    screenshot(page, "search-event")
    detail.locator("text=±5 events of context").click()
    page.wait_for_selector("#context")
    # five stored before it, and up to five after (other tests' events share the lake)
    assert 6 <= page.locator("#context > li.event").count() <= 11
    assert page.locator("#context > li.event").nth(5).get_attribute("class") == "event current"
    screenshot(page, "search-event-context")


def open_fields(page: Page) -> None:
    """Open every field of the field list (the first few are open already)."""
    page.wait_for_selector("#fields details.field")
    page.eval_on_selector_all("#fields details.field", "all => all.forEach(d => d.open = true)")


def test_a_value_in_the_field_list_adds_its_filter(page: Page) -> None:
    search(page, "#connector=srch-web")
    open_fields(page)
    host = page.locator("#fields details.field", has=page.locator(".name", has_text="host"))
    row = host.locator("li", has=page.locator(".value", has_text="web-1")).first
    row.locator("a.add").click()
    page.wait_for_selector("#histogram[data-ready]")
    assert url_params(page)["q"] == 'host="web-1" #connector=srch-web'
    assert page.locator("#total").inner_text().startswith("50 events")
    lines = page.locator("#events > li.event")
    assert lines.count() == 50
    screenshot(page, "search-filtered")
    open_fields(page)
    status = page.locator("#fields details.field", has=page.locator(".name", has_text="status"))
    status.locator("li", has=page.locator(".value", has_text="500")).first.locator("a.drop").click()
    page.wait_for_selector("#histogram[data-ready]")
    assert url_params(page)["q"] == 'status!=500 host="web-1" #connector=srch-web'
    assert page.locator("#total").inner_text().startswith("25 events")


def test_live_tail_shows_a_new_matching_event(
    page: Page, console_server: RunningServer, data: dict[str, Any]
) -> None:
    key = data["live"]
    search(page, "#connector=srch-live")
    assert page.locator("#no-events").is_visible()
    page.click("#tail")
    page.wait_for_selector("#tail[data-open]")
    send(console_server, console_server.api_key, [{"event": {"live": "not this one"}}])
    send(console_server, key, [{"event": {"live": "first"}}])
    page.wait_for_selector("#events > li.live")
    assert '"live":"first"' in page.locator("#events > li.live").inner_text()
    page.click("#pause")
    send(console_server, key, [{"event": {"live": "second"}}])
    expect(page.locator("#tail-status")).to_contain_text("1 waiting")
    assert page.locator("#events > li.live").count() == 1
    screenshot(page, "search-tail")
    page.click("#pause")
    expect(page.locator("#events > li.live")).to_have_count(2)
    assert "second" in page.locator("#events > li.live").first.inner_text()


def test_show_events_for_a_connector_lists_its_event(
    admin_page: Page, console_server: RunningServer, data: dict[str, Any]
) -> None:
    key = create_connector(console_server, "srch-shown")
    send(console_server, key, [{"event": "hello from shown"}])
    admin_page.goto("/console/connectors/srch-shown")
    admin_page.click("text=Show events")
    admin_page.wait_for_selector("#histogram[data-ready]")
    assert url_params(admin_page)["q"] == "#connector=srch-shown"
    assert admin_page.locator("#events > li.event").count() == 1
    assert admin_page.locator("#events .line").inner_text() == "hello from shown"
    assert admin_page.locator("#total").inner_text() == "1 event · 1 shown"
    screenshot(admin_page, "search-show-events")


def test_hostile_events_render_as_text(page: Page) -> None:
    search(page, "#connector=srch-evil")
    lines = page.locator("#events .line").all_inner_texts()
    assert len(lines) == 3
    assert any(SCRIPT in t and ATTRIBUTE in t and LINK in t for t in lines)
    assert page.locator("#main img").count() == 0
    assert page.locator("#main script").count() == 0
    assert page.locator("a[href^='javascript']").count() == 0
    for summary in page.locator("#events summary").all():
        summary.click()
    expect(page.locator(".event-detail")).to_have_count(3)
    details = " ".join(page.locator(".event-detail").all_inner_texts())
    assert SCRIPT in details and ATTRIBUTE in details and LINK in details
    open_fields(page)
    fields = page.locator("#fields").inner_text()
    assert SCRIPT in fields and LINK in fields
    assert page.locator("#main img").count() == 0
    screenshot(page, "search-hostile")
    # the live tail builds its rows from text too
    page.click("#tail")
    page.wait_for_selector("#tail[data-open]")


def test_live_tail_renders_hostile_events_as_text(
    page: Page, console_server: RunningServer, data: dict[str, Any]
) -> None:
    search(page, "#connector=srch-live live=hostile")
    page.click("#tail")
    page.wait_for_selector("#tail[data-open]")
    send(
        console_server,
        data["live"],
        [{"host": ATTRIBUTE, "event": {"live": "hostile", "x": SCRIPT}}],
    )
    page.wait_for_selector("#events > li.live")
    assert SCRIPT in page.locator("#events > li.live .line").inner_text()
    assert page.locator("#main img").count() == 0


def test_a_syntax_error_points_at_its_column_and_history_remembers(page: Page) -> None:
    search(page, "host=web-1")
    page.fill("#q", "host=web-1 | groupBy(")
    page.press("#q", "Enter")
    page.wait_for_selector("#query-error")
    assert "column 22" in page.locator("#query-error").inner_text()
    assert page.locator("#query-error pre").inner_text().endswith(" " * 21 + "^")
    screenshot(page, "search-error")
    history = page.locator("#query-history option")
    assert "host=web-1 | groupBy(" in [
        history.nth(i).get_attribute("value") for i in range(history.count())
    ]


def test_an_aggregate_shows_a_table_and_a_bar_chart(page: Page) -> None:
    search(page, "#connector=srch-web | groupBy(host)")
    assert page.locator("#table tbody tr").count() == 5
    assert page.locator("#chart progress").count() == 5
    screenshot(page, "search-aggregate")


def test_time_presets_set_the_range(page: Page) -> None:
    search(page, "#connector=srch-web")
    page.select_option("#preset", "15m")
    page.wait_for_url("**start=15m*")
    page.wait_for_selector("#histogram[data-ready]")
    total = int(page.locator("#histogram").get_attribute("data-total") or "-1")
    assert 0 < total < 250
