"""Events for the search page's tests: ordinary ones over the last hour, and hostile ones."""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson

from lakehose.testing import RunningServer
from tests.helpers import cli_json

SCRIPT = "<script>alert('xss-script')</script>"
ATTRIBUTE = "\"><img src=x onerror=alert('xss-img')>"
LINK = "javascript:alert('xss-link')"
HOSTILE = {"msg": SCRIPT, "title": ATTRIBUTE, "url": LINK, ATTRIBUTE: "key"}


def create_connector(server: RunningServer, name: str) -> str:
    """A new connector's API key."""
    return str(cli_json("connector", "create", name, data_dir=server.data_dir)["api_key"])


def send(server: RunningServer, key: str, events: list[dict[str, Any]]) -> None:
    body = b"\n".join(orjson.dumps(e) for e in events)
    reply = httpx.post(server.hec_url, headers={"Authorization": f"Splunk {key}"}, content=body)
    assert reply.json()["code"] == 0, reply.text


_LOADED: dict[str, dict[str, Any]] = {}


def load(server: RunningServer) -> dict[str, Any]:
    """Once per server (the console tests share one): connector "srch-web": 250 events, one every 10 s over the last ~42 minutes, hosts web-1..5,
    status 200 or 500 (every 10th); connector "srch-evil": the hostile event, as a JSON object, as
    a string and with hostile metadata. Returns the times and keys."""
    if str(server.data_dir) in _LOADED:
        return _LOADED[str(server.data_dir)]
    now = time.time()
    web = create_connector(server, "srch-web")
    events = [
        {
            "time": round(now - 2500 + i * 10, 3),
            "host": f"web-{i % 5 + 1}",
            "source": "nginx",
            "event": {"n": i, "status": 500 if i % 10 == 0 else 200, "path": f"/p/{i % 3}"},
        }
        for i in range(250)
    ]
    for at in range(0, len(events), 50):
        send(server, web, events[at : at + 50])
    evil = create_connector(server, "srch-evil")
    send(
        server,
        evil,
        [
            {"time": now - 30, "host": ATTRIBUTE, "source": SCRIPT, "event": HOSTILE},
            {"time": now - 20, "event": SCRIPT + " " + ATTRIBUTE + " " + LINK},
            {"time": now - 10, "fields": {"link": LINK, "tag": SCRIPT}, "event": {"a": LINK}},
        ],
    )
    live = create_connector(server, "srch-live")  # for the live tail; no events yet
    _LOADED[str(server.data_dir)] = {"now": now, "web": web, "evil": evil, "live": live}
    return _LOADED[str(server.data_dir)]
