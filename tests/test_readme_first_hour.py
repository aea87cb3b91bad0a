"""The README's newcomer walkthrough, run as printed on a fresh setup (issue 18, item 1 and the
"done when"): a new clone (here: a directory holding only ``.venv``), the server started as
``make run`` starts it, on its real port 8088 in a network namespace of its own, and every
command of "Your first hour" typed into one shell with a PATH that does not know lakehose
until the README's own line adds it; after the first block, from another directory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).parents[1]
MARK = "@@@ block"


def walkthrough_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Your first hour\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.DOTALL)


def test_the_first_hour_walkthrough_runs_as_printed(tmp_path: Path) -> None:
    blocks = walkthrough_blocks()
    assert len(blocks) >= 5
    clone = tmp_path / "clone"
    clone.mkdir()
    (clone / ".venv").symlink_to(Path(sys.executable).parent.parent)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run_line = next(
        line.strip()
        for line in (ROOT / "Makefile").read_text().splitlines()
        if "lakehose serve" in line
    )
    assert run_line == "$(BIN)/lakehose serve"  # what `make run` starts, and so does this test
    lines = [
        "set -eo pipefail",
        "ip link set lo up",
        f"cd {clone}",
        ".venv/bin/lakehose serve >serve.out 2>serve.err &",
        "server=$!",
        "for i in $(seq 200); do",
        "  curl -sf http://127.0.0.1:8088/services/collector/health >/dev/null && break",
        "  sleep 0.1",
        "done",
        # the quick start's promise: the curl command the first start prints works
        "eval \"$(grep -A1 '^Send an event:' serve.out | tail -1)\"; echo",
        "! command -v lakehose",  # not on the PATH before the README's line
    ]
    for n, block in enumerate(blocks):
        lines.append(f"echo '{MARK} {n}'")
        lines.append(block)
        if n == 0:
            lines.append(f"cd {elsewhere}")  # every later command, from another directory
    lines += [f"echo '{MARK} end'", "kill -INT $server", "wait $server"]
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
    }
    proc = subprocess.run(
        ["unshare", "--net", "bash", "-c", "\n".join(lines)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    server_err = (clone / "serve.err").read_text() if (clone / "serve.err").exists() else ""
    assert proc.returncode == 0, (proc.stdout, proc.stderr, server_err[-3000:])
    out = proc.stdout
    quick_start, *parts = out.split(MARK)
    assert '{"text":"Success","code":0}' in quick_start  # the printed curl
    assert not os.path.exists(elsewhere / "lakehose-data")  # no stray lake made on the way
    by_block = {
        int(p.split("\n", 1)[0]): p.split("\n", 1)[1] for p in parts if p[:2].strip().isdigit()
    }
    send = by_block[1]
    assert '{"text":"Success","code":0}' in send
    assert "sent 2 events in 1 request" in send and "2 accepted, 0 rejected" in send
    see = by_block[2]
    assert "first-hour" in see and re.search(r"events\s+3\b", see), see
    assert "healthy: HEC is healthy" in see
    search = by_block[3]
    assert search.count("alice") == 2, search
    assert "host\t_count\nweb1\t2\nweb2\t1\n" in search  # the event's own host, item 3
    stream = by_block[4]
    events = [orjson.loads(line) for line in stream.splitlines() if line.startswith("{")]
    assert [e["metadata"]["offset"] for e in events[:3]] == [0, 1, 2]
    assert events[1]["event"] == {"action": "login", "user": "alice", "host": "web1"}
    assert "logout" in stream.splitlines()[-1]  # the search through the server
    assert "Traceback" not in proc.stderr
