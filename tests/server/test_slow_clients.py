"""A client that stalls mid-body is cut off by body_timeout without blocking anyone else."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx

from lakehose.testing import run_server
from tests.helpers import stored_events


def test_a_stalled_body_gets_408_and_others_are_served_meanwhile(data_dir: Path) -> None:
    with run_server(data_dir, args=["--body-timeout", "1"]) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=20) as slow:
            slow.sendall(
                b"POST /services/collector HTTP/1.1\r\nHost: x\r\n"
                + f"Authorization: Splunk {server.api_key}\r\n".encode()
                + b"Content-Length: 100\r\n\r\n"
                + b'{"event":"sta'
            )
            # while it stalls, another client is served at once
            reply = httpx.post(
                server.hec_url,
                content=b'{"event":"quick"}',
                headers={"Authorization": f"Splunk {server.api_key}"},
            )
            assert reply.json()["code"] == 0
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
                chunk = slow.recv(4096)
                if not chunk:
                    break
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 408")
        assert answer.endswith(b'{"text":"Request timeout","code":408}')
    assert [e["event"] for e in stored_events(data_dir)] == ["quick"]
