"""Distributed mode end to end (issue 17): a dev cluster (3 NATS servers, N lakehose nodes on
loopback), HEC ingest through every node, then search and replay from one node.

    python -m bench.cluster_bench --nodes 3 --seconds 20 --concurrency 48

Prints events/s acknowledged (every 200 counted, nothing else), the CPU seconds the
nats-servers and the lakehose nodes used (events per CPU-second), a whole-lake ``count()``
search through one node, and a replay of partition 0 from offset 0 through another. Bounded
in time; loopback only. Figures on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU seconds the processes have used so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    out, todo = [], [pid]
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


async def _sender(client: httpx.AsyncClient, url: str, key: str, body: bytes, n: int,
                  until: float, counts: list[int]) -> None:  # fmt: skip
    while time.monotonic() < until:
        try:
            r = await client.post(url, content=body, headers={"Authorization": f"Splunk {key}"})
        except httpx.HTTPError:
            continue
        if r.status_code == 200 and b'"code":0' in r.content:
            counts[0] += n
        else:
            counts[1] += 1


async def _load(
    urls: list[str], key: str, seconds: float, concurrency: int, batch: int
) -> tuple[int, int, float]:
    body = b"".join(
        orjson.dumps({"event": {"msg": "login ok", "user": f"u{i}", "n": i, "pad": "x" * 120}})
        for i in range(batch)
    )
    counts = [0, 0]
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        started = time.monotonic()
        until = started + seconds
        await asyncio.gather(*(
            _sender(client, urls[i % len(urls)] + "/services/collector", key, body, batch,
                    until, counts)
            for i in range(concurrency)
        ))  # fmt: skip
        return counts[0], counts[1], time.monotonic() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--concurrency", type=int, default=48)
    ap.add_argument("--batch", type=int, default=100)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="lakehose-cluster-bench-"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "lakehose", "dev-cluster", "--dir", str(root), "--port", "0",
         "--nodes", str(args.nodes), "--workers", str(args.workers)],
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if "dev cluster ready" in line:
                break
        urls = next(x for x in lines if x.startswith("lakehose nodes:")).split()[2:]
        nats_urls = next(x for x in lines if x.startswith("NATS cluster:")).split()[2]
        key_line = next(x for x in lines if "Its API key is in " in x)
        key = Path(key_line.split("Its API key is in ")[1].split(" (")[0]).read_text().strip()
        pids = _tree(proc.pid)
        nats = [p for p in pids if Path(f"/proc/{p}/comm").read_text().strip() == "nats-server"]
        lake = [p for p in pids if p not in nats and p != proc.pid]
        before = (cpu_seconds(nats), cpu_seconds(lake))
        events, errors, took = asyncio.run(
            _load(urls, key, args.seconds, args.concurrency, args.batch)
        )
        used = (cpu_seconds(nats) - before[0], cpu_seconds(lake) - before[1])
        rate = events / took
        print(f"ingest: {events:,} events acknowledged in {took:.1f} s through {len(urls)} nodes "
              f"= {rate:,.0f} events/s ({errors} refused requests)")  # fmt: skip
        print(
            f"  CPU: nats-servers {used[0]:.1f} s, lakehose nodes {used[1]:.1f} s; "
            f"{events / max(sum(used), 1e-9):,.0f} events per CPU-second"
        )
        # search through node 1, replay through the last node
        reply = httpx.post(urls[0] + "/api/v1/search", json={"query": "count()", "start": "1h"},
                           headers={"Authorization": f"Bearer {_token(urls[0], nats_urls)}"},
                           timeout=300)  # fmt: skip
        body = reply.json()
        print(
            f"search count() through node 1: {body['resources']} in "
            f"{body['meta'].get('query_time', 0) * 1000:.0f} ms (meta query_time)"
        )
        replay = _replay(urls[-1], _token(urls[-1], nats_urls), events)
        print(
            f"replay of partition 0 from offset 0 through node {len(urls)}: {replay:,.0f} events/s"
        )
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _replay(url: str, token: str, events: int) -> float:
    """Events per second a data feed from offset 0 delivers until ``events`` have come."""
    auth = {"Authorization": f"Bearer {token}"}
    found = httpx.get(url + "/sensors/entities/datafeed/v2", params={"appId": "bench"},
                      headers=auth).json()["resources"][0]  # fmt: skip
    feed = found["dataFeedURL"] + "&offset=0"
    session = {"Authorization": f"Token {found['sessionToken']['token']}"}
    seen = 0
    started = time.monotonic()
    with httpx.stream("GET", feed, headers=session, timeout=120) as reply:
        for line in reply.iter_lines():
            if line.startswith("{") and '"metadata"' in line:
                seen += 1
                if seen >= events:
                    break
    return seen / (time.monotonic() - started)


def _token(url: str, nats_urls: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "lakehose", "client", "create", f"bench-{time.time_ns()}",
         "--scope", "search:read", "--scope", "streams:read", "--cluster", nats_urls, "--json"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    created = orjson.loads(out)
    r = httpx.post(url + "/oauth2/token", data={"client_id": created["client_id"],
                   "client_secret": created["client_secret"]})  # fmt: skip
    return str(r.json()["access_token"])


if __name__ == "__main__":
    main()
