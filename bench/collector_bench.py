"""``python -m bench.collector_bench``: the collector end to end, beside syslog-ng doing the same job.

Every figure comes from one run on loopback against a fresh ``lakehose serve`` (one worker,
fsync on), each case bounded by a line count and a timeout:

- **file tail**: ``--lines`` lines already in a file; ``lakehose collect`` (file source, memory
  queue, gzip) ships them until the sink counted every one sent. Lines/s over the wall
  clock from the launch and from the moment the collector reported itself started (its
  imports take a second or more on a busy machine), per collector CPU-second (after
  startup, as the lines are shipped), and the collector's peak RSS (VmHWM).
- **syslog-ng**: the same number of lines in another file; syslog-ng's ``file()`` source to
  an ``http()`` destination on lakehose's ``/services/collector/raw`` (1000-line batches),
  until the lake holds them all. Lines/s, and per syslog-ng CPU-second.
- **syslog TCP / UDP**: ``--messages`` RFC 5424 messages sent as fast as one Python sender
  can (TCP newline-framed over one connection; UDP datagrams) to a collector with syslog
  sources; messages/s received (until the collector counted them, or until the UDP sender
  finished and the count stopped moving: UDP drops are reported, not hidden).

The machine is shared today: figures are noisy. Compare the ratio within one run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

from bench.procstat import read_stat
from bench.report import emit
from lakehose.testing import RunningServer, run_server

LINE = "<14>1 2026-12-05T10:00:00.000Z web01 nginx 4242 - - 10.1.2.3 GET /api/v1/items/{i} 200 512 {pad}"


def make_lines(path: Path, count: int, start: int = 0) -> int:
    pad = "x" * 40
    with path.open("w") as f:
        for i in range(start, start + count):
            f.write(LINE.format(i=i, pad=pad) + "\n")
    return path.stat().st_size


def hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    stat = read_stat(pid)
    return stat.cpu_seconds if stat is not None else 0.0


def lake_count(server: RunningServer) -> int:
    with urllib.request.urlopen(server.url + "/api/v1/status", timeout=10) as reply:
        status = orjson.loads(reply.read())["resources"][0]
    return sum(int(p["end_offset"]) for p in status["partitions"])


class Collector:
    """A ``lakehose collect`` process on a generated config."""

    def __init__(self, work: Path, server: RunningServer, sources: dict[str, Any]) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.state = work / "state"
        config = {
            "dataDirectory": str(self.state),
            "logLevel": "warn",
            "status": {"port": 0},
            "sources": sources,
            "sinks": {
                "lake": {
                    "type": "hec",
                    "url": server.hec_url,
                    "token": server.api_key,
                    "compression": "gzip",
                    "queue": {"type": "memory", "maxLimitInMB": 256},
                }
            },
        }
        path = work / "collector.yaml"
        path.write_text(yaml.safe_dump(config))
        self.log = (work / "collector.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lakehose", "collect", "--config", str(path)],
            stdout=self.log,
            stderr=self.log,
        )
        deadline = time.monotonic() + 30
        while not (self.state / "collector.json").exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"collector did not start: {(work / 'collector.log').read_text()}")
            time.sleep(0.05)
        self.url = orjson.loads((self.state / "collector.json").read_bytes())["status_url"]

    def status(self) -> dict[str, Any]:
        return httpx.get(self.url + "/status", timeout=10).json()  # type: ignore[no-any-return]

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        self.log.close()


def wait_count(
    read: Any, target: int, timeout: float, settle: float | None = None
) -> tuple[int, float]:
    """Poll ``read()`` until it reaches ``target`` (or, with ``settle``, stops moving);
    the value and the monotonic time it was last seen to change."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while True:
        value = int(read())
        now = time.monotonic()
        if value != last:
            last, since = value, now
        if value >= target:
            return value, now
        if settle is not None and now - since > settle:
            return value, since
        if now > deadline:
            return value, since
        time.sleep(0.02)


def file_tail(work: Path, server: RunningServer, lines: int) -> dict[str, Any]:
    logs = work / "logs"
    logs.mkdir(parents=True)
    size = make_lines(logs / "app.log", lines)
    sources = {"app": {"type": "file", "include": [str(logs / "*.log")], "sink": "lake"}}
    before = lake_count(server)
    t0 = time.monotonic()
    c = Collector(work, server, sources)
    ready = time.monotonic()
    cpu0 = c.cpu()
    sent, t1 = wait_count(lambda: c.status()["sinks"]["lake"].get("sent", 0), lines, 300)
    wall = t1 - t0
    cpu = c.cpu() - cpu0
    rss = hwm_mb(c.proc.pid)
    c.stop()
    stored = lake_count(server) - before
    return {
        "case": "file tail (lakehose collect)",
        "lines": lines,
        "sent": sent,
        "stored": stored,
        "MB": round(size / 1e6, 1),
        "seconds": round(wall, 2),
        "lines/s": round(sent / wall),
        "startup s": round(ready - t0, 2),
        "lines/s after startup": round(sent / (t1 - ready)),
        "lines/cpu-s": round(sent / cpu) if cpu else None,
        "peak RSS MB": round(rss, 1),
    }


def syslog_ng(work: Path, server: RunningServer, lines: int) -> dict[str, Any]:
    binary = shutil.which("syslog-ng") or "/usr/sbin/syslog-ng"
    work.mkdir(parents=True)
    feed = work / "feed.log"
    make_lines(feed, lines, start=10_000_000)
    conf = work / "syslog-ng.conf"
    conf.write_text(
        f"""@version: 3.35
options {{ stats_freq(0); log_fifo_size(100000); }};
source s_feed {{ file("{feed}" follow-freq(0.1) flags(no-parse) log-fetch-limit(1000) log-iw-size(100000)); }};
destination d_http {{
  http(url("{server.url}/services/collector/raw") method("POST")
       headers("Authorization: Splunk {server.api_key}")
       body("${{MSG}}") delimiter("\\n")
       batch-lines(1000) batch-bytes(1048576) batch-timeout(100) workers(2));
}};
log {{ source(s_feed); destination(d_http); flags(flow-control); }};
"""
    )
    before = lake_count(server)
    t0 = time.monotonic()
    with (work / "syslog-ng.log").open("wb") as out:
        proc = subprocess.Popen(
            [binary, "-F", "--no-caps", "-f", str(conf), "-R", str(work / "persist"),
             "-p", str(work / "pid"), "-c", str(work / "ctl")],
            stdout=out, stderr=out,
        )  # fmt: skip
        stored, t1 = wait_count(lambda: lake_count(server) - before, lines, 300)
        wall = t1 - t0
        cpu = cpu_seconds(proc.pid)
        rss = hwm_mb(proc.pid)
        proc.terminate()
        proc.wait(30)
    return {
        "case": "file tail (syslog-ng file() -> http())",
        "lines": lines,
        "stored": stored,
        "seconds": round(wall, 2),
        "lines/s": round(stored / wall),
        "lines/cpu-s": round(stored / cpu) if cpu else None,
        "peak RSS MB": round(rss, 1),
    }


def syslog_net(work: Path, server: RunningServer, messages: int) -> list[dict[str, Any]]:
    sources = {
        mode: {"type": "syslog", "mode": mode, "port": 0, "bind": "127.0.0.1", "sink": "lake"}
        for mode in ("tcp", "udp")
    }
    c = Collector(work, server, sources)
    status = c.status()["sources"]
    out = []
    pad = "x" * 40
    payload = [LINE.format(i=i, pad=pad).encode() for i in range(messages)]
    for mode in ("tcp", "udp"):
        host, port = status[mode]["address"].rsplit(":", 1)
        cpu0 = c.cpu()
        t0 = time.monotonic()
        if mode == "tcp":
            with socket.create_connection((host, int(port))) as s:
                for i in range(0, messages, 5000):
                    s.sendall(b"\n".join(payload[i : i + 5000]) + b"\n")
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                for p in payload:
                    s.sendto(p, (host, int(port)))
        got, t1 = wait_count(
            lambda m=mode: c.status()["sources"][m]["events"], messages, 300, settle=2.0
        )
        wall = t1 - t0
        cpu = c.cpu() - cpu0
        out.append(
            {
                "case": f"syslog {mode.upper()} (lakehose collect)",
                "sent": messages,
                "received": got,
                "seconds": round(wall, 2),
                "msgs/s": round(got / wall),
                "msgs/cpu-s": round(got / cpu) if cpu else None,
            }
        )
    c.stop()
    return out


def glob_scan(work: Path, files: int) -> dict[str, Any]:
    """A ``**`` glob over a tree of ``files`` files in folders of 20: one scan's time, and the
    share of a core the source's cooldown (20 x the scan time, at least 1 s) leaves it."""
    from lakehose.collector.sources.file import SCAN_COOLDOWN
    from lakehose.collector.sources.globs import FileMatcher

    root = work / "tree"
    for i in range(files):
        folder = root / f"a{i // 400}" / f"b{i // 20}"
        if i % 20 == 0:
            folder.mkdir(parents=True)
        (folder / (f"f{i}.log" if i % 10 == 0 else f"f{i}.txt")).touch()
    matcher = FileMatcher([f"{root}/**/*.log"], [], [])
    matcher.scan()  # warm the dentry cache, as a running collector's later scans are
    t0 = time.perf_counter()
    found = matcher.scan()
    took = time.perf_counter() - t0
    cooldown = max(SCAN_COOLDOWN, 20 * took)
    return {
        "case": "glob scan (**)",
        "files in tree": files,
        "matched": len(found),
        "scan ms": round(took * 1000, 1),
        "cooldown s": round(cooldown, 2),
        "core share %": round(100 * took / (took + cooldown), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.collector_bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--lines", type=int, default=300_000, help="lines per file-tail case")
    parser.add_argument("--messages", type=int, default=200_000, help="messages per syslog case")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--skip-syslog-ng", action="store_true")
    parser.add_argument("--tree-files", type=int, default=50_000, help="files in the glob tree")
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lakehose-collector-bench-") as tmp:
        work = Path(tmp)
        with run_server(work / "lake", args=["--durability", "fsync"]) as server:
            rows.append(file_tail(work / "collect", server, args.lines))
            if not args.skip_syslog_ng:
                rows.append(syslog_ng(work / "syslog-ng", server, args.lines))
            rows += syslog_net(work / "syslog", server, args.messages)
        rows.append(glob_scan(work, args.tree_files))
    if len(rows) >= 2 and rows[1]["lines/s"]:
        rows[0]["vs syslog-ng"] = round(rows[0]["lines/s"] / rows[1]["lines/s"], 2)
    emit(rows, args.json, _rows)
    return 0


def _rows(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        print("  ".join(f"{k}: {v}" for k, v in row.items()))
    print(f"(cpus: {os.cpu_count()}, shared machine: figures are noisy)")


if __name__ == "__main__":
    raise SystemExit(main())
