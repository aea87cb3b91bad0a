"""``lakehose dev-cluster`` (``make cluster``): three NATS servers and three lakehose nodes on
loopback that serve one lake, stopped cleanly by Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.helpers import wait_for


def _status(url: str) -> Any:
    return httpx.get(url + "/api/v1/status").json()["resources"][0]


def test_dev_cluster_serves_one_lake_from_every_node(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOSE_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lakehose", "dev-cluster", "--dir", str(tmp_path), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if "dev cluster ready" in line or "exited" in line:
                break
        assert "dev cluster ready" in lines[-1], "".join(lines)
        urls = next(x for x in lines if x.startswith("lakehose nodes:")).split()[2:]
        assert len(urls) == 3
        key_line = next(x for x in lines if "Its API key is in " in x)
        key = Path(key_line.split("Its API key is in ")[1].split(" (")[0]).read_text().strip()
        sent = httpx.post(
            urls[2] + "/services/collector", content=orjson.dumps({"event": "try me"}),
            headers={"Authorization": f"Splunk {key}"},
        )  # fmt: skip
        assert sent.json() == {"text": "Success", "code": 0}
        for url in urls:  # the one lake, on every node (each follows the stream)
            wait_for(lambda u=url: _status(u)["partitions"][0]["end_offset"] == 1, timeout=60)
            assert len(_status(url)["cluster"]["servers"]) == 3
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert proc.returncode == 0, "".join(lines) + rest
    assert "dev cluster stopped" in rest
