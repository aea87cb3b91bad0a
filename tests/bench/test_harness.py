"""The benchmark harness, run as people run it (``python -m bench``), against real servers.

Short runs, no thresholds: these check that the harness measures (non-zero events,
zero errors, nothing lost, server CPU and memory read), never how fast anything is.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from lakehose.testing import RunningServer

REPO = Path(__file__).resolve().parents[2]


def bench(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str]:
    """Run ``python -m bench ARGS --json`` from the repository root: exit code, JSON, stderr."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench", *args, "--json"],
        cwd=REPO,
        capture_output=True,
        env={**os.environ, **(env or {})},
        timeout=90,
    )
    assert proc.stdout, proc.stderr.decode()
    return proc.returncode, orjson.loads(proc.stdout), proc.stderr.decode()


def check_measured(run: dict[str, Any]) -> None:
    assert run["errors"] == 0, run["notes"]
    assert run["ok_requests"] > 0
    assert run["events"] == run["ok_requests"] * run["events_per_request"]
    assert run["events_per_s"] > 0
    assert run["mb_per_s"] > 0
    assert run["latency_ms"]["p50"] > 0
    assert run["latency_ms"]["p99"] >= run["latency_ms"]["p50"]
    usage = run["server_usage"]
    assert usage["cpu_percent"] > 0
    assert usage["peak_rss_mb_per_worker"] > 0
    assert usage["peak_rss_mb_total"] >= usage["peak_rss_mb_per_worker"]


def test_python_generator_measures_a_fresh_lakehose_and_finds_every_event_stored() -> None:
    code, doc, _ = bench("batch", "--duration", "1", "--generator", "python", "-c", "4")
    (run,) = doc["runs"]
    check_measured(run)
    assert code == 0
    assert run["generator"] == "python"
    assert run["events_per_request"] == 100
    assert run["lost_events"] == 0
    assert run["stored_events"] >= run["events"]


def test_wrk_sends_gzip_batches_to_a_pinned_server() -> None:
    # `make test` installs wrk (the Makefile's debs target): its absence is a failure here
    assert shutil.which("wrk"), "wrk is not installed: make debs (or apt-get install wrk)"
    cpu = sorted(os.sched_getaffinity(0))[0]
    code, doc, _ = bench(
        "batch-gzip", "--duration", "1", "--warmup", "0", "--generator", "wrk",
        "-c", "4", "--server-cpus", str(cpu),
    )  # fmt: skip
    (run,) = doc["runs"]
    check_measured(run)
    assert code == 0
    assert run["generator"] == "wrk"
    assert run["request_bytes"] < run["request_bytes_uncompressed"] / 2
    assert run["server_settings"]["workers"] == 1
    assert {p["cpus"] for p in run["server_usage"]["processes"]} == {str(cpu)}
    assert run["lost_events"] == 0


def test_another_hec_server_is_measured_by_url_key_and_pid(server: RunningServer) -> None:
    assert server.proc is not None and server.api_key is not None
    code, doc, _ = bench(
        "raw", "--duration", "1", "--generator", "python", "-c", "2",
        "--url", server.hec_url, "--server-pid", str(server.proc.pid), "--server-name", "other",
        env={"BENCH_TOKEN": server.api_key},
    )  # fmt: skip
    (run,) = doc["runs"]
    check_measured(run)
    assert code == 0
    assert run["server"] == "other"
    assert run["url"] == server.url + "/services/collector/raw"
    assert run["stored_events"] is None  # the harness knows nothing of another server's storage
    assert server.api_key not in orjson.dumps(doc).decode()


def test_a_wrong_key_is_reported_as_errors_and_a_failing_exit(server: RunningServer) -> None:
    code, doc, _ = bench(
        "single", "--duration", "1", "--generator", "python", "-c", "1",
        "--url", server.url, "--token", "not-a-key",
    )  # fmt: skip
    (run,) = doc["runs"]
    assert code == 1
    assert run["ok_requests"] == 0
    assert run["errors"] == run["requests"] > 0
    # 403 for a wrong key, then 429 once the address is locked out (hec_auth_fail_limit)
    assert "403" in run["statuses"]
    assert set(run["statuses"]) <= {"403", "429"}
    assert "--token KEY" in doc["command"]


def test_single_events_are_also_measured_against_the_physical_limit_peer() -> None:
    code, doc, _ = bench("single", "--duration", "1", "--warmup", "0", "-c", "2")
    (run,) = doc["runs"]
    check_measured(run)
    assert code == 0
    peer = run["peer"]
    assert peer["requests_per_s"] > 0
    assert peer["ratio"] == round(run["requests_per_s"] / peer["requests_per_s"], 3)
    assert any(note.startswith("physical-limit peer") for note in run["notes"])


def test_the_connections_bench_measures_lakehose_and_the_peer_with_the_same_client() -> None:
    for peer in ([], ["--peer", "httptools"]):
        proc = subprocess.run(
            [sys.executable, "-m", "bench.connections_bench", "--idle", "20", "--hold", "0",
             "--steady", "20", "--seconds", "1", "--json", *peer],
            cwd=REPO, capture_output=True, timeout=90,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr.decode()
        doc = orjson.loads(proc.stdout)
        assert doc["idle"]["answered_ok"] == doc["idle"]["requests"] == 40
        steady = doc["steady"]
        assert steady["errors"] == 0 and steady["requests"] >= 20
        assert steady["disk_fdatasync_ms"]["syncs"] > 0
        assert peer or "main" in steady["server_cpu_s_by_thread"]
