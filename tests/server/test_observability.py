"""/metrics and /api/v1/status tell an operator what happened; logs never hold a key."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from lakehose.testing import run_server
from tests.helpers import cli_json, process_role, wait_for


def metric(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        m = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if m and m.group(1) == name:
            got = ",".join(sorted((m.group(2) or "").split(","))) if m.group(2) else ""
            if got == want:
                return float(m.group(3))
    return 0.0


def test_metrics_count_events_bytes_and_rejects_summed_over_workers(data_dir: Path) -> None:
    with run_server(data_dir, workers=2) as server:
        key = cli_json("connector", "create", "metered", data_dir=data_dir)["api_key"]
        with httpx.Client(headers={"Authorization": f"Splunk {key}"}) as client:
            for _ in range(20):
                assert (
                    client.post(server.hec_url, content=b'{"event":"a"}{"event":"b"}').json()[
                        "code"
                    ]
                    == 0
                )
            client.post(server.hec_url, content=b'{"event":""}')
        httpx.post(
            server.hec_url, content=b'{"event":"x"}', headers={"Authorization": "Splunk wrong"}
        )

        def counted() -> str | None:
            text = httpx.get(server.url + "/metrics").text
            events = metric(text, "lakehose_events_accepted_total", connector="metered")
            rejected = metric(text, "lakehose_hec_rejects_total", code="4")
            return text if events == 40 and rejected >= 1 else None

        text = wait_for(counted, timeout=20)
        assert metric(text, "lakehose_hec_rejects_total", code="13") >= 1
        assert metric(text, "lakehose_hec_rejects_total", code="4") >= 1
        assert metric(text, "lakehose_bytes_accepted_total", connector="metered") > 0
        assert "lakehose_commit_seconds_bucket" in text
        assert "lakehose_commit_queue_bytes" in text
        assert key not in text


def test_status_reports_partitions_and_health(data_dir: Path) -> None:
    with run_server(data_dir) as server:
        httpx.post(
            server.hec_url,
            content=b'{"event":1}{"event":2}',
            headers={"Authorization": f"Splunk {server.api_key}"},
        )
        status = httpx.get(server.url + "/api/v1/status").json()["resources"][0]
        assert status["healthy"] is True
        assert status["partitions"] == [{"partition": 0, "start_offset": 0, "end_offset": 2}]


def test_keys_never_appear_in_the_logs(data_dir: Path) -> None:
    with run_server(data_dir, args=["--log-level", "debug"]) as server:
        key = str(server.api_key)
        other = cli_json("connector", "create", "q", "--allow-query-token", data_dir=data_dir)[
            "api_key"
        ]
        httpx.post(
            server.hec_url, content=b'{"event":"x"}', headers={"Authorization": f"Splunk {key}"}
        )
        httpx.post(server.hec_url, params={"token": other}, content=b'{"event":"x"}')
        httpx.post(server.hec_url, params={"token": key}, content=b'{"event":"x"}')
        httpx.post(server.hec_url, content=b"{bad", headers={"Authorization": f"Bearer {key}"})
        wait_for(lambda: server.logs().count("lakehose.access") >= 4, timeout=30)
    logs = server.logs()
    assert key not in logs and other not in logs
    assert "/services/collector" in logs


def test_a_killed_worker_is_restarted_and_counters_do_not_drop(data_dir: Path) -> None:
    import os
    import signal
    import subprocess

    with run_server(data_dir, workers=2) as server:
        assert server.proc is not None
        headers = {"Authorization": f"Splunk {server.api_key}"}
        with httpx.Client(headers=headers) as client:
            for _ in range(30):
                assert client.post(server.hec_url, content=b'{"event":"x"}').json()["code"] == 0

        def accepted() -> float:
            text = httpx.get(server.url + "/metrics").text
            return metric(text, "lakehose_events_accepted_total", connector="default")

        wait_for(lambda: accepted() == 30, timeout=20)

        def workers() -> list[int]:
            children = subprocess.run(
                ["pgrep", "-P", str(server.proc.pid)], capture_output=True, text=True
            )
            # a killed worker may still be listed and gone a moment later: process_role
            # says "gone" then instead of failing to read it
            return [int(p) for p in children.stdout.split() if process_role(int(p)) == "worker"]

        before = workers()
        assert len(before) == 2
        os.kill(before[0], signal.SIGKILL)

        def replaced() -> bool:
            now = workers()
            return len(now) == 2 and before[0] not in now

        wait_for(replaced, timeout=20)
        with httpx.Client(headers=headers) as client:
            for _ in range(10):
                assert client.post(server.hec_url, content=b'{"event":"y"}').json()["code"] == 0
        wait_for(lambda: accepted() == 40, timeout=20)
        assert "worker 0 exited" in server.logs() or "worker 1 exited" in server.logs()
