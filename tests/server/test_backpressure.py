"""When lakehose cannot take more it says so (503 code 9, health code 18) and stores nothing."""

from __future__ import annotations

import concurrent.futures
import threading
from pathlib import Path

import httpx

from lakehose.testing import run_server
from tests.helpers import cli_json, stored_events, wait_for


def test_a_full_commit_queue_gets_server_is_busy_and_stores_nothing(data_dir: Path) -> None:
    # Commits wait 2 s to gather, and the queue may hold 1 KiB: one 2 KB request fills it.
    args = ["--commit-delay", "2", "--max-queue-bytes", "1024"]
    with run_server(data_dir, args=args) as server:
        headers = {"Authorization": f"Splunk {server.api_key}"}
        first_reply: list[httpx.Response] = []
        big = b'{"event":"' + b"x" * 2000 + b'"}'
        sender = threading.Thread(
            target=lambda: first_reply.append(
                httpx.post(server.hec_url, content=big, headers=headers, timeout=30)
            )
        )
        sender.start()
        # health (which queues nothing) shows when the big request is waiting in the queue
        wait_for(lambda: httpx.get(server.url + "/services/collector/health").status_code == 503)
        busy = httpx.post(server.hec_url, content=b'{"event":"second"}', headers=headers)
        assert (busy.status_code, busy.json()) == (503, {"text": "Server is busy", "code": 9})
        assert int(busy.headers["retry-after"]) >= 1
        sender.join()
        assert first_reply[0].json()["code"] == 0
        wait_for(lambda: httpx.get(server.url + "/services/collector/health").status_code == 200)
        after = httpx.post(
            server.hec_url, content=b'{"event":"after"}', headers=headers, timeout=30
        )
        assert after.json()["code"] == 0
    stored = [e["event"] for e in stored_events(data_dir)]
    assert stored == ["x" * 2000, "after"]


def test_health_reports_queue_full_while_the_queue_is_full(data_dir: Path) -> None:
    args = ["--commit-delay", "2", "--max-queue-bytes", "1024"]
    with run_server(data_dir, args=args) as server:
        headers = {"Authorization": f"Splunk {server.api_key}"}
        big = b'{"event":"' + b"x" * 2000 + b'"}'
        sender = threading.Thread(
            target=lambda: httpx.post(server.hec_url, content=big, headers=headers, timeout=30)
        )
        sender.start()
        unhealthy = wait_for(
            lambda: (
                (r := httpx.get(server.url + "/services/collector/health")).status_code == 503 and r
            )
        )
        assert unhealthy.json() == {"text": "HEC is unhealthy, queues are full", "code": 18}
        sender.join()


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
