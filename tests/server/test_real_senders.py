"""What real HEC senders do, against a real server: their own index names (winston), epoch
milliseconds (npm's splunk-events), Latin-1 bytes in JSON strings, SDL's ``#tag`` fields and
``message``, oversized events, and the host an event is filed under (issue 18, items 3, 11-16)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from lakehose.testing import RunningServer, run_server
from tests.helpers import bearer_token, create_connector, new_lake, stored_events

T0 = 1_700_000_000
NUMBERS = itertools.count()


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(
        tmp_path_factory.mktemp("senders") / "data", args=["--max-event-size", "2KiB"]
    ) as s:
        yield s


@pytest.fixture(scope="module")
def admin(lake: RunningServer) -> Iterator[httpx.Client]:
    token = bearer_token(lake, "admin")
    with httpx.Client(
        base_url=lake.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as client:
        yield client


def sender(lake: RunningServer, key: str) -> httpx.Client:
    return httpx.Client(base_url=lake.url, headers={"Authorization": f"Splunk {key}"}, timeout=30)


def search(admin: httpx.Client, query: str) -> dict[str, Any]:
    reply = admin.post("/api/v1/search", json={"query": query, "limit": 1000})
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def rows(admin: httpx.Client, query: str) -> list[dict[str, Any]]:
    return list(search(admin, query)["resources"])


def events_of(lake: RunningServer, connector: str) -> list[dict[str, Any]]:
    return [e for e in stored_events(lake.data_dir) if e["connector"] == connector]


# item 11 ------------------------------------------------------------------------------------


def test_a_connector_without_allowed_indexes_accepts_winstons_own_index(
    lake: RunningServer, admin: httpx.Client
) -> None:
    key = create_connector(admin, "winston")
    with sender(lake, key) as hec:
        # what winston-splunk-httplogger posts by default
        body = {"event": {"message": "hi", "severity": "info"}, "index": "winston-index"}
        reply = hec.post("/services/collector/event", json=body)
    assert reply.json() == {"text": "Success", "code": 0}
    assert [e["index"] for e in events_of(lake, "winston")] == ["winston-index"]
    found = rows(admin, "#connector=winston #index=winston-index")
    assert [r["event"]["message"] for r in found] == ["hi"]


def test_allowed_indexes_are_still_enforced_with_code_7(
    lake: RunningServer, admin: httpx.Client
) -> None:
    key = create_connector(admin, "strict", index="net", allowed_indexes=["net-archive"])
    with sender(lake, key) as hec:
        body = b'{"event": "a", "index": "net-archive"}{"event": "b", "index": "winston-index"}'
        reply = hec.post("/services/collector/event", content=body)
        assert reply.status_code == 400
        assert reply.json() == {"text": "Incorrect index", "code": 7, "invalid-event-number": 1}
        # a name no index can have is refused even without a list
    assert [e["event"] for e in events_of(lake, "strict")] == ["a"]
    key = create_connector(admin, "open")
    with sender(lake, key) as hec:
        reply = hec.post("/services/collector/event", json={"event": "c", "index": "Bad Name"})
    assert reply.json()["code"] == 7


# item 12 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "time",
    [
        T0 + 0.25,
        f"{T0}.25",
        (T0 * 1000) + 250,  # splunk-events (npm): Date.now()
        str(T0 * 1000 + 250),
        f"{T0 * 1000 + 250}.0",
        T0 * 1_000_000 + 250_000,
        str(T0 * 1_000_000 + 250_000),
        T0 * 10**9 + 250_000_000,
        str(T0 * 10**9 + 250_000_000),
    ],
)
def test_epoch_time_in_any_unit_is_read_by_its_magnitude(
    lake: RunningServer, admin: httpx.Client, time: Any
) -> None:
    name = f"units-{next(NUMBERS)}"
    key = create_connector(admin, name)
    with sender(lake, key) as hec:
        reply = hec.post("/services/collector/event", json={"event": "tick", "time": time})
    assert reply.json() == {"text": "Success", "code": 0}
    assert [e["time"] for e in events_of(lake, name)] == [T0 * 10**9 + 250_000_000]


def test_a_time_beyond_2262_in_every_unit_is_still_refused(
    lake: RunningServer, admin: httpx.Client
) -> None:
    key = create_connector(admin, "far-future")
    with sender(lake, key) as hec:
        for time in (50_000_000_000, 10**19, "1e400"):
            reply = hec.post("/services/collector/event", json={"event": "x", "time": time})
            assert reply.status_code == 400 and reply.json()["code"] == 6, time


# item 13 ------------------------------------------------------------------------------------


def test_latin1_bytes_inside_json_strings_become_replacement_characters(
    lake: RunningServer, admin: httpx.Client
) -> None:
    key = create_connector(admin, "latin1")
    body = b'{"event": {"msg": "caf\xe9 cr\xe8me"}, "fields": {"city": "K\xf6ln"}}\n'
    body += b'{"event": "na\xefve \xff\xfe end"}'
    with sender(lake, key) as hec:
        reply = hec.post("/services/collector/event", content=body)
        raw = hec.post("/services/collector/raw", content=b'line \xe9\n{"k": "\xe9"}\n')
    assert reply.json() == {"text": "Success", "code": 0}
    assert raw.json() == {"text": "Success", "code": 0}
    stored = events_of(lake, "latin1")
    assert [e["event"] for e in stored] == [
        {"msg": "caf\ufffd cr\ufffdme"},
        "na\ufffdve \ufffd\ufffd end",
        "line \ufffd",
        {"k": "\ufffd"},
    ]
    assert stored[0]["fields"] == {"city": "K\ufffdln"}
    assert len(rows(admin, '#connector=latin1 "crème"')) == 0
    assert len(rows(admin, "#connector=latin1 msg=*cr*me")) == 1


def test_a_bad_byte_outside_any_string_is_still_invalid_json(
    lake: RunningServer, admin: httpx.Client
) -> None:
    key = create_connector(admin, "latin1-bad")
    with sender(lake, key) as hec:
        reply = hec.post("/services/collector/event", content=b'{"event": "ok"}{"event": \xe9}')
    assert reply.status_code == 400
    assert reply.json() == {"text": "Invalid data format", "code": 6, "invalid-event-number": 1}
    assert [e["event"] for e in events_of(lake, "latin1-bad")] == ["ok"]


# item 14 ------------------------------------------------------------------------------------


def test_an_event_over_max_event_size_is_code_6_and_the_events_before_it_are_stored(
    lake: RunningServer, admin: httpx.Client
) -> None:
    key = create_connector(admin, "sizes")
    big = "x" * 3000  # over the server's --max-event-size 2KiB
    envelopes = [{"event": "small"}, {"event": {"blob": big}}, {"event": "after"}]
    with sender(lake, key) as hec:
        reply = hec.post(
            "/services/collector/event", content=b"".join(map(orjson.dumps, envelopes))
        )
        assert reply.status_code == 400
        assert reply.json() == {"text": "Invalid data format", "code": 6, "invalid-event-number": 1}
        raw = hec.post("/services/collector/raw", content=f"one\n{big}\nthree\n")
        assert raw.json() == {"text": "Invalid data format", "code": 6, "invalid-event-number": 1}
        # the limit is per event, not per body: many events under it pass together
        many = b"".join(orjson.dumps({"event": "y" * 1500}) for _ in range(20))
        assert len(many) > 2048
        assert hec.post("/services/collector/event", content=many).json()["code"] == 0
    stored = [e["event"] for e in events_of(lake, "sizes")]
    assert stored[:2] == ["small", "one"] and len(stored) == 22


# item 16 ------------------------------------------------------------------------------------


def test_hash_fields_are_tags_searchable_grouped_and_listed(
    lake: RunningServer, admin: httpx.Client
) -> None:
    key = create_connector(admin, "sdl")
    with sender(lake, key) as hec:
        # as SentinelOne's HEC documentation sends them
        for env, dc in (("prod", "amazon-east1"), ("prod", "amazon-west2"), ("dev", "lab")):
            body = {"event": f"boot {dc}", "fields": {"#env": env, "#datacenter": dc}}
            assert hec.post("/services/collector/event", json=body).json()["code"] == 0
    found = rows(admin, "#connector=sdl #env=prod")
    assert sorted(r["#datacenter"] for r in found) == ["amazon-east1", "amazon-west2"]
    assert all(r["#env"] == "prod" and r["#connector"] == "sdl" for r in found)
    grouped = rows(admin, "#connector=sdl | groupBy(#env)")
    assert {r["#env"]: r["_count"] for r in grouped} == {"prod": 2, "dev": 1}
    assert rows(admin, "#connector=sdl #env=staging") == []
    # a string event is also `message`, SDL's name for it
    assert [r["event"] for r in rows(admin, 'message="boot lab"')] == ["boot lab"]
    assert len(rows(admin, "#connector=sdl message=boot* | count()")) == 1
    assert rows(admin, "#connector=sdl message=boot* | count()")[0]["_count"] == 3


def test_an_object_events_own_message_key_is_message(
    lake: RunningServer, admin: httpx.Client
) -> None:
    key = create_connector(admin, "msgobj")
    with sender(lake, key) as hec:
        hec.post("/services/collector/event", json={"event": {"message": "from key"}})
    assert [r["event"] for r in rows(admin, "#connector=msgobj message=from*")] == [
        {"message": "from key"}
    ]


# item 3 -------------------------------------------------------------------------------------


def test_an_events_host_comes_from_the_envelope_the_event_the_connector_or_the_address(
    lake: RunningServer, admin: httpx.Client
) -> None:
    key = create_connector(admin, "hosts")
    defaulted = create_connector(admin, "hosts-default", host="gateway")
    with sender(lake, key) as hec:
        body = [
            {"event": {"host": "web1", "action": "login"}},  # the README's send_event
            {"event": {"host": "web1"}, "host": "envelope"},
            {"event": "no host at all"},
        ]
        assert hec.post("/services/collector/event", json=body).json()["code"] == 0
        syslog = "<34>1 2024-05-01T12:00:00Z fw01 sshd 42 - - Failed password"
        reply = hec.post("/services/collector/raw", params={"sourcetype": "syslog"}, content=syslog)
        assert reply.json()["code"] == 0
    with sender(lake, defaulted) as hec:
        hec.post("/services/collector/event", json=[{"event": "x"}, {"event": {"host": "own"}}])
    hosts = [e["host"] for e in events_of(lake, "hosts")]
    assert hosts == ["web1", "envelope", f"127.0.0.1:{lake.port}", "fw01"]
    assert [e["host"] for e in events_of(lake, "hosts-default")] == ["gateway", "own"]
    assert [r["_count"] for r in rows(admin, "#connector=hosts host=web1 | count()")] == [1]
    grouped = rows(admin, "#connector=hosts | groupBy(host)")
    assert {r["host"] for r in grouped} == {"web1", "envelope", f"127.0.0.1:{lake.port}", "fw01"}


def test_group_by_a_field_no_event_has_says_so(admin: httpx.Client) -> None:
    answer = search(admin, "* | groupBy(no_such_field)")
    assert answer["resources"] == []
    warnings = answer["meta"]["search"]["warnings"]
    assert any("no_such_field" in w and "no matching event has" in w for w in warnings), warnings


# items 10 and 15 ----------------------------------------------------------------------------


def test_get_on_the_collector_is_405_with_allow_and_a_hec_body(lake: RunningServer) -> None:
    for path in ("/services/collector", "/services/collector/raw", "/services/collector/ack"):
        reply = httpx.get(lake.url + path)
        assert reply.status_code == 405, path
        assert reply.headers["allow"] == "POST,OPTIONS"
        assert reply.json() == {"text": "Method not allowed; see the Allow header", "code": 405}
    reply = httpx.post(lake.url + "/services/collector/health")
    assert (reply.status_code, reply.headers["allow"]) == (405, "GET,HEAD,OPTIONS")
    assert reply.json()["code"] == 405


def test_every_405_carries_allow_listing_what_the_path_takes(lake: RunningServer) -> None:
    """Each documented path, asked with a method it does not take."""
    document = httpx.get(lake.url + "/api/v1/openapi.json").json()
    templates = {
        path: re.compile(re.sub(r"\\{[^}/]+\\}", "[^/]+", re.escape(path)))
        for path in document["paths"]
    }

    def taken_elsewhere(concrete: str, method: str) -> bool:
        """Another path takes it: POST /console/connectors/new is /console/connectors/{name}."""
        return any(
            method.lower() in ops and templates[other].fullmatch(concrete)
            for other, ops in document["paths"].items()
        )

    tried = 0
    with httpx.Client(base_url=lake.url) as client:  # one TLS context, not one per request
        for path, operations in document["paths"].items():
            documented = {m.upper() for m in operations}
            concrete = path.replace("{name}", "nobody").replace("{client}", "nobody")
            concrete = concrete.replace("{partition}", "0")
            for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                if method in documented or taken_elsewhere(concrete, method):
                    continue
                reply = client.request(method, concrete)
                assert reply.status_code == 405, (method, path, reply.status_code)
                allowed = {m.strip() for m in reply.headers["allow"].split(",")}
                assert documented - {"OPTIONS"} <= allowed, (method, path, allowed)
                tried += 1
    assert tried > 50


def test_the_root_points_at_the_docs_and_health(lake: RunningServer) -> None:
    reply = httpx.get(lake.url + "/")
    assert reply.status_code == 200
    body = reply.json()
    assert body["health"] == lake.url + "/services/collector/health"
    assert httpx.get(body["health"]).json() == {"text": "HEC is healthy", "code": 17}
    assert httpx.get(body["openapi"]).json()["openapi"].startswith("3.")
    # a browser (it asks for HTML) is sent to the web console instead
    page = httpx.get(lake.url + "/", headers={"Accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 303 and page.headers["location"] == "/console"


# item 17 ------------------------------------------------------------------------------------

JAVA_PARSERS = """
[parsers.java]
type = "text"
line_start = '^\\d{4}-\\d\\d-\\d\\d'
sourcetypes = ["java:app"]

[parsers.indented]
type = "regex"
pattern = '^(?P<level>[A-Z]+) '
line_continue = '^\\s'
"""

TRACE = (
    "2024-05-01 12:00:00 ERROR request failed\n"
    "java.lang.IllegalStateException: boom\n"
    "\tat com.example.Service.run(Service.java:42)\n"
    "\tat java.base/java.lang.Thread.run(Thread.java:833)\n"
    "2024-05-01 12:00:01 INFO recovered\n"
)


def test_raw_lines_group_into_events_by_the_parsers_rules(tmp_path: Path) -> None:
    data = new_lake(tmp_path / "data")
    (data / "parsers.toml").write_text(JAVA_PARSERS)
    with run_server(data) as server, sender(server, server.api_key or "") as hec:
        reply = hec.post("/services/collector/raw?sourcetype=java:app", content=TRACE)
        assert reply.json() == {"text": "Success", "code": 0}
        # never across requests: a continuation line that opens a request starts an event
        reply = hec.post("/services/collector/raw?sourcetype=java:app", content="\tat orphan\n")
        assert reply.json()["code"] == 0
        body = "ERROR first\n  detail one\n\n  detail two\nINFO second\n"
        reply = hec.post("/services/collector/raw?sourcetype=indented", content=body)
        assert reply.json()["code"] == 0
        plain = hec.post("/services/collector/raw?sourcetype=other", content="a\n b\n")
        assert plain.json()["code"] == 0
    events = [e["event"] for e in stored_events(data)]
    lines = TRACE.splitlines()
    assert events[:2] == ["\n".join(lines[:4]), lines[4]]
    assert events[2] == "at orphan"  # an event is trimmed, as single lines are
    assert events[3:5] == ["ERROR first\n  detail one\n  detail two", "INFO second"]
    assert [e["fields"]["level"] for e in stored_events(data)[3:5]] == ["ERROR", "INFO"]
    assert events[5:] == ["a", "b"]  # no rules: a line is an event
