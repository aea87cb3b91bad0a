"""The README's Streams examples work as printed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from lakehose.testing import RunningServer
from tests.server.streamkit import new_client, send

README = Path(__file__).resolve().parents[2] / "README.md"


def section(title: str) -> str:
    text = README.read_text()
    start = text.index(title)
    end = text.find("\n## ", start + len(title))
    return text[start : end if end >= 0 else None]


def test_the_falconpy_example_reads_the_stream(server: RunningServer) -> None:
    code = re.search(r"```python\n(.*?)```", section("### FalconPy"), re.S)
    assert code is not None
    send(server, [{"event": {"n": n}, "sourcetype": "readme"} for n in range(12)])
    client = new_client(server, "readme")
    env = {
        **os.environ,
        "FALCON_CLIENT_ID": client["client_id"],
        "FALCON_CLIENT_SECRET": client["client_secret"],
        "LAKEHOSE_URL": server.url,
    }
    run = subprocess.run(
        [sys.executable, "-c", code.group(1)], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [str(n) for n in range(10)]
    assert lines[0] == "0 readme {'n': 0}"


def test_the_streams_section_documents_every_stream_route_and_parameter() -> None:
    text = section("## Streams") + section("## API clients")
    for needle in (
        "/oauth2/token",
        "/oauth2/revoke",
        "/api/v1/clients",
        "/sensors/entities/datafeed/v2",
        "/sensors/entities/datafeed/v1/",
        "/sensors/entities/datafeed-actions/v1/",
        "offset=N` is inclusive",
        "whence=2",
        "eventType=",
        "format=flatjson",
        "session_ttl",
        "session_grace",
        "heartbeat_interval",
        "customer_id",
        "already has an active connection",
    ):
        assert needle in text, needle
