"""The search page over plain HTTP: what the server renders, escapes and allows, and its weight."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from lakehose.testing import RunningServer
from tests.console.search_data import ATTRIBUTE, LINK, SCRIPT, load
from tests.console.session import ADMIN, ANALYST, PASSWORD, http_session


@pytest.fixture(scope="module")
def data(console_server: RunningServer) -> dict[str, Any]:
    return load(console_server)


@pytest.fixture(scope="module")
def client(console_server: RunningServer, data: dict[str, Any]) -> Iterator[httpx.Client]:
    with http_session(console_server.url, ANALYST, PASSWORD) as c:
        yield c


def has_n(html: str, n: int) -> bool:
    """Whether the page shows the web event number ``n`` (its JSON text, escaped)."""
    return f"&#34;n&#34;:{n}," in html


def test_the_page_lists_the_newest_200_events_and_a_load_more(client: httpx.Client) -> None:
    page = client.get("/console/search", params={"q": "#connector=srch-web"})
    assert page.status_code == 200
    assert page.text.count('<li class="event">') == 200
    assert has_n(page.text, 249) and has_n(page.text, 50) and not has_n(page.text, 49)
    more = re.search(r'hx-get="(/console/search/more\?[^"]+)"', page.text)
    assert more
    rest = client.get(more.group(1).replace("&amp;", "&"))
    assert rest.text.count('<li class="event">') == 50
    assert has_n(rest.text, 49) and has_n(rest.text, 0)
    assert "Load more" not in rest.text


def test_a_syntax_error_is_shown_at_its_column(client: httpx.Client) -> None:
    page = client.get("/console/search", params={"q": "status=200 | groupBy(host"})
    assert page.status_code == 400
    assert "column 26" in page.text
    caret = re.search(r'<pre class="caret">(.*?)\n(.*?)</pre>', page.text, re.S)
    assert caret and caret.group(2) == " " * 25 + "^"


def test_an_aggregate_is_a_table_and_bars(client: httpx.Client) -> None:
    page = client.get("/console/search", params={"q": "#connector=srch-web | groupBy(host)"})
    assert page.text.count("<progress ") == 5
    assert re.search(r"<td>web-1</td><td>50</td>", page.text)


def test_fields_fragment_links_add_the_filter_and_its_negation(client: httpx.Client) -> None:
    fragment = client.get(
        "/console/search/fields", params={"q": "#connector=srch-web | count()", "start": "1h"}
    )
    assert fragment.status_code == 200
    links = re.findall(r'class="(add|drop)" href="([^"]+)"', fragment.text)
    queries = {
        kind: [parse_qs(urlsplit(html.unescape(h)).query) for k, h in links if k == kind]
        for kind in ("add", "drop")
    }  # fmt: skip
    added = [q["q"][0] for q in queries["add"]]
    assert 'host="web-1" #connector=srch-web | count()' in added
    assert "status=500 #connector=srch-web | count()" in added
    assert 'host!="web-1" #connector=srch-web | count()' in [q["q"][0] for q in queries["drop"]]
    assert all(q["start"] == ["1h"] for q in queries["add"])


def test_hostile_values_are_escaped_everywhere(client: httpx.Client) -> None:
    pages = [
        client.get("/console/search", params={"q": "#connector=srch-evil"}).text,
        client.get("/console/search/fields", params={"q": "#connector=srch-evil"}).text,
    ]
    found = client.get("/console/api/v1/search/export", params={"q": "#connector=srch-evil"})
    for line in found.text.splitlines():
        event = httpx.Response(200, content=line).json()
        for suffix in ("", "?context=2"):
            pages.append(
                client.get(
                    f"/console/search/event/{event['partition']}/{event['offset']}{suffix}"
                ).text
            )
        pages.append(
            client.get(
                f"/console/search/event/{event['partition']}/{event['offset']}",
                headers={"HX-Request": "true"},
            ).text
        )
    assert len(pages) == 11
    for text in pages:
        assert "<script>alert" not in text and "<img src=x" not in text
        assert 'href="javascript' not in text.lower()
        assert "&lt;script&gt;alert(" in text or "&lt;img" in text or "javascript:alert" in text
        assert all(src.startswith("/console/static/") for src in re.findall(r'src="([^"]+)"', text))


def test_the_session_reads_the_search_api_under_console(
    console_server: RunningServer, client: httpx.Client
) -> None:
    histogram = client.get(
        "/console/api/v1/search/histogram", params={"q": "#connector=srch-web", "start": "2h"}
    )
    assert histogram.status_code == 200
    assert histogram.json()["resources"][0]["total"] == 250
    csv = client.get(
        "/console/api/v1/search/export", params={"q": "#connector=srch-web", "format": "csv"}
    )
    assert len(csv.text.splitlines()) == 251
    audit = client.get("/console/audit")  # an analyst may not read it: ask as an admin
    assert audit.status_code == 403
    with http_session(console_server.url, ADMIN, PASSWORD) as admin:
        entries = admin.get("/console/audit").text
    assert "search export" in entries and "#connector=srch-web" in entries
    # the cookie does not make a bearer token: without it, or signed out, 401
    assert httpx.get(console_server.url + "/console/api/v1/search/histogram").status_code == 401
    cookies = {"lakehose_session": "not-a-session"}
    assert (
        httpx.get(console_server.url + "/console/api/v1/search/fields", cookies=cookies).status_code
        == 401
    )


def test_the_page_and_its_assets_weigh_under_300_kb(client: httpx.Client) -> None:
    page = client.get("/console/search", params={"q": "", "start": "24h"})
    assert page.headers["content-security-policy"].find("unsafe-inline") < 0
    assert "<script>" not in page.text  # every script is a file
    assets = re.findall(r'(?:src|href)="(/console/static/[^"]+)"', page.text)
    assert any("search.js" in a for a in assets) and any("uPlot" in a for a in assets)
    total = len(page.content) + sum(len(client.get(a).content) for a in assets)
    fields = client.get("/console/search/fields", params={"q": "", "start": "24h"})
    histogram = client.get("/console/api/v1/search/histogram", params={"start": "24h"})
    total += len(fields.content) + len(histogram.content)
    assert total < 300_000, total


def test_an_unknown_event_is_a_404_page(client: httpx.Client) -> None:
    assert client.get("/console/search/event/0/999999").status_code == 404
    assert client.get("/console/search/event/5/1").status_code == 404
    assert client.get("/console/search/event/0/x").status_code == 404


def test_the_search_page_needs_a_session(console_server: RunningServer) -> None:
    reply = httpx.get(console_server.url + "/console/search?q=x")
    assert reply.status_code == 303
    assert reply.headers["location"].startswith("/console/login?next=")
    assert SCRIPT and ATTRIBUTE and LINK  # (the hostile values live in search_data)
