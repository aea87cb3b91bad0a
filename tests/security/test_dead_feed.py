"""A feed whose consumer vanished without a FIN ends within the keep-alive interval (item 16).

The consumer runs in its own network namespace, joined to this one by a veth pair; the
server listens on this end's address. Once the consumer is reading, its end of the link is
set down: its packets, FIN included, never arrive, and the server's keep-alive writes are
never acknowledged, as when a laptop is closed or a cable pulled. The server must notice on
its next keep-alive write (TCP_INFO: retransmitted, unacknowledged) and free the appId, instead of keeping the
feed "connected" for the kernel's ~15 minutes of retransmissions.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import httpx

from lakehose.testing import run_server
from tests.helpers import bearer_token, wait_for
from tests.security.test_remote_admin import Namespace, _ip, netns  # noqa: F401

CONSUMER = textwrap.dedent(
    """
    import sys, httpx
    url, token = sys.argv[1], sys.argv[2]
    with httpx.stream("GET", url, headers={"Authorization": "Token " + token}, timeout=None) as r:
        print(r.status_code, flush=True)
        for chunk in r.iter_raw():
            print(len(chunk), flush=True)
    """
)


def discover(url: str, token: str, app: str) -> dict[str, str]:
    reply = httpx.get(
        url + "/sensors/entities/datafeed/v2",
        params={"appId": app},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert reply.status_code == 200, reply.text
    resource = reply.json()["resources"][0]
    return {"url": resource["dataFeedURL"], "token": resource["sessionToken"]["token"]}


def feed_status(session: dict[str, str]) -> int:
    headers = {"Authorization": f"Token {session['token']}"}
    with httpx.stream("GET", session["url"], headers=headers, timeout=30) as reply:
        return reply.status_code


def test_a_consumer_gone_without_a_fin_frees_its_feed(
    netns: Namespace,  # noqa: F811
    tmp_path: Path,
) -> None:
    args = ["--host", netns.client_ip, "--heartbeat-interval", "1"]
    with run_server(tmp_path / "data", args=args) as server:
        token = bearer_token(server, "streams:read")
        httpx.post(
            server.hec_url,
            json={"event": "before the cut"},
            headers={"Authorization": f"Splunk {server.api_key}"},
        )
        first = discover(server.url, token, "vanishing")
        consumer = subprocess.Popen(
            ["ip", "netns", "exec", netns.name, sys.executable, "-c", CONSUMER]
            + [first["url"], first["token"]],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert consumer.stdout is not None
            assert consumer.stdout.readline().strip() == "200"
            assert consumer.stdout.readline().strip()  # it has read the event
            second = discover(server.url, token, "vanishing")
            assert feed_status(second) == 401  # one connection per (client, appId, partition)
            there = _peer_link(netns)
            _ip("-n", netns.name, "link", "set", there, "down")  # no FIN will ever come
            # freed on a keep-alive write unacknowledged for heartbeat_interval (1 s here);
            # the kernel alone would keep it ~15 minutes
            wait_for(lambda: feed_status(second) == 200, timeout=30, interval=0.5)
            assert consumer.poll() is None  # the consumer itself never noticed
        finally:
            consumer.kill()
            consumer.wait()
            if consumer.stdout is not None:
                consumer.stdout.close()
    assert "end=peer gone" in server.logs()


def _peer_link(ns: Namespace) -> str:
    out = subprocess.run(
        ["ip", "-n", ns.name, "-o", "link", "show", "type", "veth"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split(":")[1].strip().split("@")[0]
