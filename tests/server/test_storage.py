"""The log: dense offsets across workers and restarts, partitions, retention."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import httpx
import orjson

from lakehose.testing import run_server
from tests.helpers import bearer_token, stored_events, wait_for
from tests.server.groupkit import set_clock


def send_many(url: str, key: str, senders: int, requests: int, per_request: int) -> set[str]:
    def run(sender: int) -> list[str]:
        sent = []
        with httpx.Client(headers={"Authorization": f"Splunk {key}"}, timeout=30) as client:
            for r in range(requests):
                ids = [f"{sender}-{r}-{i}" for i in range(per_request)]
                body = b"\n".join(orjson.dumps({"event": {"id": x}}) for x in ids)
                assert client.post(url, content=body).json()["code"] == 0
                sent.extend(ids)
        return sent

    with concurrent.futures.ThreadPoolExecutor(senders) as pool:
        return {x for ids in pool.map(run, range(senders)) for x in ids}


def test_two_workers_share_one_partition_with_dense_offsets(data_dir: Path) -> None:
    with run_server(data_dir, workers=2) as server:
        sent = send_many(
            server.hec_url, str(server.api_key), senders=8, requests=20, per_request=25
        )
    events = stored_events(data_dir)
    assert [e["offset"] for e in events] == list(range(len(events)))
    assert {e["event"]["id"] for e in events} == sent and len(events) == len(sent)
    # each request's events are contiguous and in order
    position = {e["event"]["id"]: e["offset"] for e in events}
    for s in range(8):
        for r in range(20):
            offsets = [position[f"{s}-{r}-{i}"] for i in range(25)]
            assert offsets == list(range(offsets[0], offsets[0] + 25))


def test_offsets_continue_after_a_restart(data_dir: Path) -> None:
    with run_server(data_dir) as server:
        headers = {"Authorization": f"Splunk {server.api_key}"}
        httpx.post(server.hec_url, content=b'{"event":1}{"event":2}', headers=headers)
        server.restart()
        httpx.post(server.hec_url, content=b'{"event":3}', headers=headers)
    assert [(e["offset"], e["event"]) for e in stored_events(data_dir)] == [(0, 1), (1, 2), (2, 3)]


def test_more_partitions_spread_requests_and_each_is_dense(data_dir: Path) -> None:
    with run_server(data_dir, workers=2, args=["--partitions", "2"]) as server:
        # each worker writes its own partition; 16 connections make it all but certain
        # (1 in 2**15) that the kernel hands some to each worker
        send_many(server.hec_url, str(server.api_key), senders=16, requests=5, per_request=5)
        status = httpx.get(server.url + "/api/v1/status").json()["resources"][0]
        assert [p["partition"] for p in status["partitions"]] == [0, 1]
    events = stored_events(data_dir)
    assert len(events) == 400
    for p in (0, 1):
        offsets = [e["offset"] for e in events if e["partition"] == p]
        assert offsets == list(range(len(offsets))) and offsets, (
            f"partition {p} is empty or has gaps"
        )


def test_starting_with_fewer_partitions_than_the_data_has_is_refused(data_dir: Path) -> None:
    from tests.helpers import cli

    with run_server(data_dir, args=["--partitions", "2"]):
        pass
    proc = cli("serve", "--port", "0", "--partitions", "1", data_dir=data_dir, check=False)
    assert proc.returncode == 2
    assert "holds 2 partitions" in proc.stderr


def test_retention_by_size_drops_the_oldest_batches_and_offsets_never_move_back(
    data_dir: Path,
) -> None:
    args = ["--retention-bytes", "2000", "--retention-interval", "0.2"]
    with run_server(data_dir, args=args) as server:
        headers = {"Authorization": f"Splunk {server.api_key}"}
        for i in range(30):
            body = orjson.dumps({"event": {"i": i, "pad": "%032x" % (i * 7919**5)}})
            assert httpx.post(server.hec_url, content=body, headers=headers).json()["code"] == 0

        def trimmed() -> bool:
            status = httpx.get(server.url + "/api/v1/status").json()["resources"][0]["partitions"][
                0
            ]
            return bool(status["start_offset"] > 0)

        wait_for(trimmed, timeout=60)
        status = httpx.get(server.url + "/api/v1/status").json()["resources"][0]["partitions"][0]
        assert status["end_offset"] == 30
        httpx.post(server.hec_url, content=b'{"event":"new"}', headers=headers)
    events = stored_events(data_dir)
    assert events[-1]["offset"] == 30 and events[-1]["event"] == "new"
    assert events[0]["offset"] >= status["start_offset"] > 0
    assert [e["offset"] for e in events] == list(range(events[0]["offset"], 31))


def test_retention_by_age_drops_old_events(data_dir: Path) -> None:
    # "old" is stamped two days ago (the sandbox clock), "fresh" now; with a day's retention
    # one must go and the other stay however slowly a loaded machine runs the passes (with a
    # real 3 s age both aged out, and "fresh" alone was a window a starved server could miss)
    args = ["--sandbox", "--retention-age", "1d", "--retention-interval", "0.2"]
    with run_server(data_dir, args=args) as server:
        headers = {"Authorization": f"Splunk {server.api_key}"}
        admin = bearer_token(server, "admin")
        set_clock(server, admin, -2 * 86400)
        assert httpx.post(server.hec_url, content=b'{"event":"old"}', headers=headers).is_success
        set_clock(server, admin, 0)
        assert httpx.post(server.hec_url, content=b'{"event":"fresh"}', headers=headers).is_success
        wait_for(lambda: [e["event"] for e in stored_events(data_dir)] == ["fresh"], timeout=60)
