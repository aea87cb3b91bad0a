"""Search regexes cannot freeze a worker: RE2 matches in linear time, a construct that needs
backtracking is a 400 naming it, and a search runs in a child process that the worker kills
at its deadline, so ``search_timeout`` holds even for a scan that never returns."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lakehose.testing import RunningServer, run_server
from tests.helpers import bearer_token, process_role, process_rss, wait_for


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    args = ["--search-timeout", "2s"]
    with run_server(tmp_path_factory.mktemp("lake") / "data", args=args) as s:
        key = {"Authorization": f"Splunk {s.api_key}"}
        events = [
            {"event": "a" * 40},  # /^(.|.)*Q$/ backtracks 2^40 steps in Python's re
            {"event": "x" * 200_000},  # /[a-z]*z$/ is quadratic there
            {"event": "needle here"},
        ]
        for event in events:
            assert httpx.post(s.hec_url, json=event, headers=key).json()["code"] == 0
        yield s


@pytest.fixture(scope="module")
def search(server: RunningServer) -> Iterator[httpx.Client]:
    token = bearer_token(server, "search:read")
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=120
    ) as client:
        yield client


def count(client: httpx.Client, query: str) -> httpx.Response:
    return client.post("/api/v1/search", json={"query": query + " | count()", "start": 0})


@pytest.mark.parametrize("query", ["/^(.|.)*Q$/", "/[a-z]*z$/", "event=/(x+x+)+y/"])
def test_regexes_that_backtrack_in_python_answer_at_once(search: httpx.Client, query: str) -> None:
    reply = count(search, query)
    assert reply.status_code == 200, reply.text
    assert reply.json()["resources"] == [{"_count": 0}]


@pytest.mark.parametrize(
    ("regex", "named"),
    [
        (r"/(a)\1/", r"backreference \1"),
        ("/a(?=b)/", "lookahead (?=...)"),
        ("/a(?!b)/", "negative lookahead (?!...)"),
        ("/(?<=a)b/", "lookbehind (?<=...)"),
        ("/(?<!a)b/", "negative lookbehind (?<!...)"),
        ("/(?>ab)/", "atomic group (?>...)"),
        ("/a++/", "possessive quantifier ++"),
    ],
)
def test_a_construct_re2_cannot_take_is_a_400_naming_it(
    search: httpx.Client, regex: str, named: str
) -> None:
    reply = count(search, regex)
    assert reply.status_code == 400, reply.text
    (error,) = reply.json()["errors"]
    assert named in error["message"], error
    assert error["column"] >= 1


def test_supported_regexes_and_flags_still_match(search: httpx.Client) -> None:
    assert count(search, "/NEEDLE/i").json()["resources"] == [{"_count": 1}]
    assert count(search, r"/^needle\s+here$/").json()["resources"] == [{"_count": 1}]
    assert count(search, "/(?P<w>needle)/").json()["resources"] == [{"_count": 1}]


def search_children(server: RunningServer) -> list[int]:
    assert server.proc is not None
    return [pid for pid in process_rss(server.proc.pid) if process_role(pid) == "search"]


def test_a_stalled_search_is_killed_at_search_timeout_and_ingest_goes_on(
    server: RunningServer, search: httpx.Client
) -> None:
    """Freeze the search process (SIGSTOP) as a runaway scan would: the search still
    answers 422 at its deadline, ingest meanwhile answers, and the next search works."""
    assert count(search, "needle").status_code == 200
    children = search_children(server)
    assert children, "a search ran, so a search process exists"
    for pid in children:
        os.kill(pid, signal.SIGSTOP)
    key = {"Authorization": f"Splunk {server.api_key}"}
    with httpx.Client(timeout=60) as other:
        slow = search.build_request(
            "POST", "/api/v1/search", json={"query": "needle | count()", "start": 0}
        )
        reply = search.send(slow)
        sent = other.post(server.hec_url, json={"event": "during"}, headers=key)
    assert sent.json()["code"] == 0
    assert reply.status_code == 422, reply.text
    assert "search_timeout" in reply.json()["errors"][0]["message"]
    wait_for(lambda: not set(children) & set(search_children(server)), timeout=60)
    for pid in set(children) & set(search_children(server)):  # not killed: let it go
        os.kill(pid, signal.SIGCONT)
    again = count(search, "/needle|during/")
    assert again.status_code == 200, again.text
    assert again.json()["resources"] == [{"_count": 2}]


def test_search_processes_go_with_the_server(tmp_path: Path) -> None:
    with run_server(tmp_path / "data") as server:
        token = bearer_token(server, "search:read")
        reply = httpx.post(
            server.url + "/api/v1/search",
            json={"query": "x"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,  # the first search starts the search processes: slow on a loaded machine
        )
        assert reply.status_code == 200
        children = search_children(server)
        assert children
    for pid in children:
        wait_for(lambda pid=pid: not Path(f"/proc/{pid}").exists(), timeout=60)
