"""A search that scans longer than ``search_timeout`` is stopped with a clear 422, and a
wildcard that would make a regex backtrack for ever is matched in linear time."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson

from lakehose.testing import run_server
from tests.server.test_search_api import token_for


def _fill(hec_url: str, key: str, batches: int) -> None:
    with httpx.Client(headers={"Authorization": f"Splunk {key}"}) as client:
        for b in range(batches):
            body = b"\n".join(
                orjson.dumps({"time": 1_700_000_000 + b, "event": {"n": i, "msg": "a" * 300}})
                for i in range(50)
            )
            assert client.post(hec_url, content=body).json()["code"] == 0


def test_a_search_past_its_time_limit_gets_422_and_the_server_goes_on(tmp_path: Path) -> None:
    with run_server(tmp_path / "data", args=["--search-timeout", "1ms"]) as server:
        _fill(server.hec_url, str(server.api_key), batches=200)
        headers = {"Authorization": f"Bearer {token_for(server, 'analyst', 'search:read')}"}
        reply = httpx.post(
            server.url + "/api/v1/search",
            json={"query": "n=7 | count()", "start": 0},
            headers=headers,
            timeout=60,
        )
        assert reply.status_code == 422, reply.text
        (error,) = reply.json()["errors"]
        assert "search_timeout" in error["message"]
        assert "narrow the time range" in error["message"]
        health = httpx.get(server.url + "/services/collector/health")
        assert health.status_code == 200


def test_a_many_star_wildcard_over_long_text_answers(tmp_path: Path) -> None:
    """``a*a*…*b`` as a regex backtracks ~n^k steps on a 300-'a' line; it must just say no."""
    with run_server(tmp_path / "data") as server:
        _fill(server.hec_url, str(server.api_key), batches=2)
        headers = {"Authorization": f"Bearer {token_for(server, 'analyst', 'search:read')}"}
        query = "*".join(["a"] * 30) + "*b | count()"
        reply = httpx.post(
            server.url + "/api/v1/search",
            json={"query": query, "start": 0},
            headers=headers,
            timeout=60,
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["resources"] == [{"_count": 0}]
        found = httpx.post(
            server.url + "/api/v1/search",
            json={"query": "*".join(["a"] * 30) + " | count()", "start": 0},
            headers=headers,
            timeout=60,
        )
        assert found.json()["resources"] == [{"_count": 100}]
