"""A full disk: ingest answers 503 code 9, health says unhealthy, nothing stored is damaged,
and ingest resumes when space returns. Needs root to mount a small tmpfs."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from lakehose.testing import run_server
from tests.helpers import stored_events, wait_for


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        for log in mount.glob("*.server.log"):
            (tmp_path / log.name).write_bytes(log.read_bytes())
        subprocess.run(["umount", "-l", str(mount)], check=True)


def test_a_full_disk_gets_503_code_9_and_recovers_when_space_returns(small_disk: Path) -> None:
    data_dir = small_disk / "data"
    args = ["--max-body-bytes", "256KiB"]
    with run_server(data_dir, args=args) as server:
        headers = {"Authorization": f"Splunk {server.api_key}"}
        filler = small_disk / "filler"
        # leave ~1.5 MB free, then send incompressible events until the disk is full
        free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
        filler.write_bytes(b"\0" * max(0, free - 1_500_000))
        acked: list[int] = []
        refused = None
        for i in range(200):
            body = orjson.dumps({"event": {"i": i, "noise": os.urandom(60_000).hex()}})
            reply = httpx.post(server.hec_url, content=body, headers=headers, timeout=30)
            if reply.status_code == 200:
                acked.append(i)
            else:
                refused = reply
                break
        assert refused is not None, "the disk never filled"
        assert (refused.status_code, refused.json()) == (503, {"text": "Server is busy", "code": 9})
        assert "retry-after" in refused.headers
        health = httpx.get(server.url + "/services/collector/health")
        assert (health.status_code, health.json()["code"]) == (503, 18)
        again = httpx.post(server.hec_url, content=b'{"event":"while full"}', headers=headers)
        assert (again.status_code, again.json()["code"]) == (503, 9)
        assert acked, "some events must have fit before the disk filled"

        filler.unlink()
        wait_for(
            lambda: httpx.get(server.url + "/services/collector/health").status_code == 200,
            timeout=60,
        )
        after = httpx.post(server.hec_url, content=b'{"event":"space is back"}', headers=headers)
        assert after.json() == {"text": "Success", "code": 0}
    stored = stored_events(data_dir)
    assert [e["event"]["i"] for e in stored[:-1]] == acked
    assert stored[-1]["event"] == "space is back"
    assert [e["offset"] for e in stored] == list(range(len(stored)))
