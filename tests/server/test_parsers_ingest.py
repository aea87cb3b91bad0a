"""Sourcetypes select parsers at ingest; unknown sourcetypes are kept as raw text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson

from lakehose.testing import RunningServer, run_server
from tests.helpers import cli_json, stored_events, wait_for


def last(server: RunningServer) -> dict[str, Any]:
    return stored_events(server.data_dir)[-1]


def test_builtin_parsers_extract_fields_by_sourcetype(
    hec: httpx.Client, server: RunningServer
) -> None:
    cases = [
        (
            "syslog",
            "<34>Oct 11 22:14:15 mymachine su[99]: 'su root' failed",
            {"hostname": "mymachine", "appname": "su", "procid": "99", "severity": "crit"},
        ),
        (
            "syslog",
            '<165>1 2026-10-11T22:14:15.003Z host.example app 12 ID47 [ex@1 k="v"] msg',
            {"hostname": "host.example", "appname": "app", "sd.ex@1.k": "v", "message": "msg"},
        ),
        ("kv", 'user=alice action="log in" ok=1', {"user": "alice", "action": "log in", "ok": "1"}),
        ("csv", "x,y,z", {"field1": "x", "field2": "y", "field3": "z"}),
    ]
    for sourcetype, text, expected in cases:
        assert (
            hec.post(
                "/services/collector/raw", params={"sourcetype": sourcetype}, content=text.encode()
            ).json()["code"]
            == 0
        )
        stored = last(server)
        assert stored["event"] == text
        assert expected.items() <= stored["fields"].items(), (sourcetype, stored["fields"])


def test_the_json_parser_flattens_a_string_event(hec: httpx.Client, server: RunningServer) -> None:
    hec.post("/services/collector", json={"event": '{"a": {"b": 2}}', "sourcetype": "_json"})
    assert last(server)["fields"] == {"a.b": 2}


def test_rfc5424_syslog_time_becomes_the_event_time(
    hec: httpx.Client, server: RunningServer
) -> None:
    line = "<165>1 2026-10-11T22:14:15.003Z h app - - - m"
    hec.post("/services/collector", json={"event": line, "sourcetype": "syslog"})
    assert last(server)["time"] == 1791756855_003000000


def test_an_unknown_sourcetype_is_kept_as_raw_text(
    hec: httpx.Client, server: RunningServer
) -> None:
    reply = hec.post(
        "/services/collector", json={"event": "a=b plain text", "sourcetype": "made:up:type"}
    )
    assert reply.json()["code"] == 0
    stored = last(server)
    assert (
        stored["event"] == "a=b plain text"
        and "fields" not in stored
        and stored["sourcetype"] == "made:up:type"
    )


def test_a_connector_parser_applies_when_the_sourcetype_has_none(server: RunningServer) -> None:
    key = cli_json("connector", "create", "kvconn", "--parser", "kv", data_dir=server.data_dir)[
        "api_key"
    ]
    httpx.post(
        server.hec_url + "/raw",
        content=b"src=10.0.0.1 dst=10.0.0.2",
        headers={"Authorization": f"Splunk {key}"},
    )
    assert last(server)["fields"] == {"src": "10.0.0.1", "dst": "10.0.0.2"}


def test_custom_parsers_in_parsers_toml_are_used_and_reloaded(data_dir: Path) -> None:
    with run_server(data_dir) as server:
        (data_dir / "parsers.toml").write_text(
            """
[parsers.fw]
type = "csv"
columns = ["ts", "src", "action"]
time_field = "ts"
time_format = "epoch"
sourcetypes = ["fortinet:csv"]

[parsers.app]
type = "regex"
pattern = '^(?P<level>[A-Z]+) (?P<message>.*)$'
"""
        )
        headers = {"Authorization": f"Splunk {server.api_key}"}

        def send(sourcetype: str, text: bytes) -> dict[str, Any]:
            httpx.post(
                server.hec_url + "/raw",
                params={"sourcetype": sourcetype},
                content=text,
                headers=headers,
            )
            return last(server)

        stored = wait_for(
            lambda: (e := send("fortinet:csv", b"1767225600,10.1.1.1,deny")).get("fields") and e,
            timeout=30,
        )
        assert stored["fields"] == {"ts": "1767225600", "src": "10.1.1.1", "action": "deny"}
        assert stored["time"] == 1767225600_000000000
        assert send("app", b"ERROR disk full")["fields"] == {
            "level": "ERROR",
            "message": "disk full",
        }


def test_a_broken_parsers_toml_is_logged_and_ignored(data_dir: Path) -> None:
    with run_server(data_dir) as server:
        (data_dir / "parsers.toml").write_text(
            "[parsers.bad]\ntype = 'regex'\npattern = '(unclosed'\n"
        )
        wait_for(lambda: "parsers.toml ignored" in server.logs(), timeout=30)
        reply = httpx.post(
            server.hec_url,
            content=orjson.dumps({"event": "still fine"}),
            headers={"Authorization": f"Splunk {server.api_key}"},
        )
        assert reply.json()["code"] == 0
