"""When lakehose cannot take more it says so (503 code 9, health code 18) and stores nothing."""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from lakehose.testing import RunningServer, run_server
from tests.helpers import cli_json, stored_events, wait_for

# Commits wait DELAY s to gather and the queue may hold 1 KiB: one 2 KB request fills it until
# its commit. That window is timed, and a loaded machine's requests can miss it: then the
# test tries again with a longer one (a server that never refuses fails all three).
DELAYS = (2, 5, 10)


class Big(threading.Thread):
    """A 2 KB request, waiting in the queue for its commit."""

    def __init__(self, server: RunningServer) -> None:
        super().__init__()
        self.server = server
        self.reply: httpx.Response | None = None
        self.start()

    def run(self) -> None:
        body = b'{"event":"' + b"x" * 2000 + b'"}'
        headers = {"Authorization": f"Splunk {self.server.api_key}"}
        self.reply = httpx.post(self.server.hec_url, content=body, headers=headers, timeout=60)

    def stored(self) -> None:
        self.join()
        assert self.reply is not None and self.reply.json()["code"] == 0


@contextmanager
def queue_filled(data_dir: Path, delay: int) -> Iterator[tuple[RunningServer, Big]]:
    args = ["--commit-delay", str(delay), "--max-queue-bytes", "1024"]
    with run_server(data_dir, args=args) as server:
        big = Big(server)
        try:
            yield server, big
        finally:
            big.join()


def full_health(server: RunningServer, big: Big) -> httpx.Response | None:
    """Health (which queues nothing) once it shows the big request waiting in the queue;
    None if the request was committed before a poll saw it."""

    def seen() -> httpx.Response | bool:
        reply = httpx.get(server.url + "/services/collector/health", timeout=60)
        return reply if reply.status_code == 503 else not big.is_alive()

    reply = wait_for(seen, timeout=90)
    return reply if isinstance(reply, httpx.Response) else None


def test_a_full_commit_queue_gets_server_is_busy_and_stores_nothing(tmp_path: Path) -> None:
    for delay in DELAYS:
        with queue_filled(tmp_path / f"delay-{delay}", delay) as (server, big):
            headers = {"Authorization": f"Splunk {server.api_key}"}
            if full_health(server, big) is None:
                continue
            busy = httpx.post(
                server.hec_url, content=b'{"event":"second"}', headers=headers, timeout=60
            )
            if busy.status_code == 200:  # the big request was committed before it came
                continue
            assert (busy.status_code, busy.json()) == (503, {"text": "Server is busy", "code": 9})
            assert int(busy.headers["retry-after"]) >= 1
            big.stored()
            wait_for(lambda: httpx.get(server.url + "/services/collector/health").is_success)
            after = httpx.post(
                server.hec_url, content=b'{"event":"after"}', headers=headers, timeout=60
            )
            assert after.json()["code"] == 0
        stored = [e["event"] for e in stored_events(server.data_dir)]
        assert stored == ["x" * 2000, "after"]
        return
    raise AssertionError("the big request was committed before every look at the full queue")


def test_health_reports_queue_full_while_the_queue_is_full(tmp_path: Path) -> None:
    for delay in DELAYS:
        with queue_filled(tmp_path / f"delay-{delay}", delay) as (server, big):
            unhealthy = full_health(server, big)
            if unhealthy is None:
                continue
            assert unhealthy.json() == {"text": "HEC is unhealthy, queues are full", "code": 18}
            big.stored()
        return
    raise AssertionError("the big request was committed before every look at the full queue")


def test_a_connector_over_its_rate_limit_gets_503_with_retry_after_and_stores_nothing(
    data_dir: Path,
) -> None:
    with run_server(data_dir) as server:
        # half a request a second (a refill every 4 s per server worker): requests in a row
        # exceed it however loaded the machine, and the first refusal comes within a few
        key = cli_json("connector", "create", "slow", "--rate-rps", "0.5", data_dir=data_dir)[
            "api_key"
        ]
        headers = {"Authorization": f"Splunk {key}"}
        replies: list[httpx.Response] = []
        while not replies or replies[-1].status_code == 200:
            assert len(replies) < 20, "20 requests in a row must exceed half a request a second"
            event = f'{{"event":"{len(replies)}"}}'.encode()
            replies.append(httpx.post(server.hec_url, content=event, headers=headers))
        accepted = [i for i, r in enumerate(replies) if r.status_code == 200]
        refused = replies[-1]
        assert refused.status_code == 503
        assert refused.json() == {"text": "Server is busy", "code": 9}
        assert int(refused.headers["retry-after"]) >= 1
        wait_for(  # the bucket refills: accepted again, after refusals that stored nothing
            lambda: (
                httpx.post(
                    server.hec_url, content=b'{"event":"later"}', headers=headers
                ).status_code
                == 200
            ),
            timeout=30,
            interval=0.5,
        )
    stored = [e["event"] for e in stored_events(data_dir) if e["connector"] == "slow"]
    assert stored == [str(i) for i in accepted] + ["later"]


def test_a_byte_rate_limit_counts_body_bytes(data_dir: Path) -> None:
    with run_server(data_dir) as server:
        key = cli_json("connector", "create", "narrow", "--rate-bps", "1000", data_dir=data_dir)[
            "api_key"
        ]
        headers = {"Authorization": f"Splunk {key}"}
        body = b'{"event":"' + b"b" * 900 + b'"}'

        def post(_: int) -> int:
            return httpx.post(server.hec_url, content=body, headers=headers, timeout=30).status_code

        # the bucket holds one second's 1000 bytes: one 902-byte body fits, two do not. Sent one
        # after another, a loaded machine's requests came more than a refill apart (all 200);
        # four at once on four connections reach the server together however slow the client
        codes: list[int] = []
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            while 503 not in codes:
                assert len(codes) < 20, f"four 902-byte bodies at once exceed 1000 B/s: {codes}"
                codes += pool.map(post, range(4))
        assert 200 in codes
        accepted = codes.count(200)
    stored = [e for e in stored_events(data_dir) if e["connector"] == "narrow"]
    assert len(stored) == accepted  # a refused body stored nothing


def test_a_body_larger_than_a_seconds_bytes_is_charged_in_full(data_dir: Path) -> None:
    """A 20 kB body against 1000 B/s fits in no second: a full bucket takes it and goes
    into debt, so what follows waits about twenty seconds (it went through free before,
    the bucket still full)."""
    with run_server(data_dir) as server:
        key = cli_json("connector", "create", "wide", "--rate-bps", "1000", data_dir=data_dir)[
            "api_key"
        ]
        headers = {"Authorization": f"Splunk {key}"}
        big = b'{"event":"' + b"w" * 20_000 + b'"}'
        with httpx.Client(headers=headers, timeout=60) as client:
            first = client.post(server.hec_url, content=big)
            assert first.json() == {"text": "Success", "code": 0}
            second = client.post(server.hec_url, content=b'{"event":"after"}')
            assert second.status_code == 503, second.text
            assert int(second.headers["retry-after"]) >= 10
    stored = [e["event"] for e in stored_events(data_dir) if e["connector"] == "wide"]
    assert stored == ["w" * 20_000]
