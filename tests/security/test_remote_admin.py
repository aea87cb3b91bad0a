"""The admin API refuses requests that really arrive from a non-loopback address.

The server runs in its own network namespace, listening on a private 10.x
address at one end of a veth pair; the test talks to it from the other end, so
requests arrive over a real interface from a real non-loopback address. That
needs root (CAP_NET_ADMIN); without it the namespace tests are skipped.
X-Forwarded-For handling is tested on loopback: believed from a trusted proxy,
ignored from anyone else.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from lakehose.testing import RunningServer, run_server
from tests.helpers import bearer_token


@dataclass
class Namespace:
    name: str
    server_ip: str  # inside the namespace
    client_ip: str  # this end, in the test's namespace


def _ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)
    if proc.returncode != 0:
        raise OSError(f"ip {' '.join(args)}: {proc.stderr.strip()}")


@pytest.fixture
def netns() -> Iterator[Namespace]:
    """A network namespace joined to this one by a veth pair with private 10.x addresses."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 to make a network namespace")
    used = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    free = [n for n in range(256) if f" 10.231.{n}." not in used]
    subnet = f"10.231.{random.choice(free)}"
    tag = f"{os.getpid() % 100000}"
    ns = Namespace(f"lakehose-{tag}", f"{subnet}.1", f"{subnet}.2")
    here, there = f"lhA{tag}", f"lhB{tag}"
    try:
        _ip("netns", "add", ns.name)
        _ip("link", "add", here, "type", "veth", "peer", "name", there)
        _ip("link", "set", there, "netns", ns.name)
        _ip("addr", "add", f"{ns.client_ip}/30", "dev", here)
        _ip("link", "set", here, "up")
        _ip("-n", ns.name, "addr", "add", f"{ns.server_ip}/30", "dev", there)
        _ip("-n", ns.name, "link", "set", there, "up")
        _ip("-n", ns.name, "link", "set", "lo", "up")
    except OSError as exc:
        subprocess.run(["ip", "netns", "del", ns.name], capture_output=True)
        subprocess.run(["ip", "link", "del", here], capture_output=True)
        pytest.skip(f"cannot make a network namespace here: {exc}")
    try:
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns.name], capture_output=True)  # takes the veth pair
        subprocess.run(["ip", "link", "del", here], capture_output=True)


def serve_in(ns: Namespace, data_dir: Path, *args: str) -> RunningServer:
    """``lakehose serve`` inside the namespace, on its 10.x address only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOSE_")}
    env["LAKEHOSE_LOG_FORMAT"] = "json"
    argv = ["--host", ns.server_ip, "--port", "0", "--workers", "1", *args]
    server = RunningServer(data_dir, argv, env, wrapper=["ip", "netns", "exec", ns.name])
    return server.start()


def test_admin_from_a_non_loopback_address_is_refused_unless_allowed(
    netns: Namespace, tmp_path: Path
) -> None:
    server = serve_in(netns, tmp_path / "data")
    try:
        assert server.url.startswith(f"http://{netns.server_ip}:")
        token = bearer_token(server, "admin")  # /oauth2/token is no admin route: fine remotely
        admin = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, headers=admin, timeout=30) as remote:
            for method, path, body in (
                ("GET", "/api/v1/connectors", None),
                ("POST", "/api/v1/connectors", {"name": "from-afar"}),
                ("GET", "/api/v1/clients", None),
                ("POST", "/api/v1/clients", {"name": "from-afar", "scopes": ["admin"]}),
            ):
                reply = remote.request(method, path, json=body)
                assert reply.status_code == 403, (method, path, reply.text)
                assert "loopback" in reply.json()["errors"][0]["message"]
            # a forged header changes nothing: this peer is no trusted proxy
            spoofed = remote.get("/api/v1/connectors", headers={"X-Forwarded-For": "127.0.0.1"})
            assert spoofed.status_code == 403
            # status and metrics name connectors and offsets: loopback only by default
            assert remote.get("/api/v1/status").status_code == 403
            assert remote.get("/metrics").status_code == 403
            sent = httpx.post(
                server.hec_url,
                headers={"Authorization": f"Splunk {server.api_key}"},
                content=b'{"event":"from afar"}',
            )
            assert sent.json() == {"text": "Success", "code": 0}

        server.args += ["--allow-remote-admin", "--allow-remote-metrics"]
        server.restart()
        with httpx.Client(base_url=server.url, headers=admin, timeout=30) as remote:
            assert remote.get("/api/v1/connectors").status_code == 200
            assert remote.get("/api/v1/status").status_code == 200
            made = remote.post("/api/v1/connectors", json={"name": "from-afar"})
            assert made.status_code == 201
    finally:
        server.stop()
    assert netns.client_ip in server.logs()  # the server saw the test's 10.x address


def test_x_forwarded_for_is_believed_from_a_trusted_proxy_only(tmp_path: Path) -> None:
    """A proxy on loopback relaying a remote client: the admin API sees the remote client."""
    with run_server(tmp_path / "data") as server:
        admin = {"Authorization": f"Bearer {bearer_token(server, 'admin')}"}
        relayed = {**admin, "X-Forwarded-For": "203.0.113.9"}
        url = server.url + "/api/v1/connectors"
        assert httpx.get(url, headers=admin).status_code == 200
        assert httpx.get(url, headers=relayed).status_code == 403
        server.args += ["--trusted-proxies", ""]
        server.restart()
        assert httpx.get(url, headers=relayed).status_code == 200  # no proxy trusted: peer counts
