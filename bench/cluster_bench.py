"""Distributed mode end to end (issue 17): a dev cluster (3 NATS servers, N lakehose nodes on
loopback), HEC ingest through every node, then search, replay and live latency.

    python -m bench.cluster_bench --nodes 3 --seconds 10 --concurrency 96
    python -m bench.cluster_bench --single --seconds 10 --concurrency 32

Prints events/s acknowledged (every 200 counted, nothing else), the CPU seconds the
nats-servers and the lakehose nodes used (events per CPU-second), a whole-lake ``count()``
search through one node, a replay of partition 0 from offset 0 through another (read by
``streams_bench``'s counting client, with that node's CPU), and the ingest -> stream
latency: a feed opened at the end on the last node while events are sent at ``--rate``
events/s through every node (p50/p99 from a request's 200, and from its send, to the
event's arrival on the feed). ``--single`` instead compares one node on one NATS server
(R1) with the embedded SQLite default, same load. Bounded in time; loopback only. Figures on a shared machine
are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.paced_sender import send_paced
from bench.streams_bench import _feed_reader, count_lines, percentile
from bench.wrk_load import LUA_SCRIPT, RESULT_MARK, wrk_path
from lakehose.storage.jetstream.devcluster import DevCluster
from lakehose.testing import RunningServer, run_server


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


def _body(batch: int, packed: bool = False) -> bytes:
    """``batch`` envelopes a line each, as ``bench``'s payloads (HEC's fast path); ``packed``:
    back to back with no newline (``}{``), which takes the parser's slower exact path."""
    return (b"" if packed else b"\n").join(
        orjson.dumps({"event": {"msg": "login ok", "user": f"u{i}", "n": i, "pad": "x" * 120}})
        for i in range(batch)
    )


def _load_wrk(
    urls: list[str], key: str, seconds: float, concurrency: int, batch: int, packed: bool
) -> tuple[int, int, float]:
    """One wrk per node (C, epoll: far from a bottleneck, unlike a Python client)."""
    wrk = wrk_path()
    assert wrk is not None
    with tempfile.NamedTemporaryFile(suffix=".json") as body:
        body.write(_body(batch, packed))
        body.flush()
        procs = [
            subprocess.Popen(
                [
                    wrk,
                    "--threads=1",
                    f"--connections={max(1, concurrency // len(urls))}",
                    f"--duration={max(1, round(seconds))}s",
                    "--timeout=30s",
                    f"--script={LUA_SCRIPT}",
                    url + "/services/collector",
                    "--",
                    body.name,
                    key,
                    "application/json",
                    "",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            for url in urls
        ]
        events = errors = 0
        took = 0.0
        for proc in procs:
            out, err = proc.communicate(timeout=seconds + 120)
            lines = [x for x in out.splitlines() if x.startswith(RESULT_MARK)]
            if proc.returncode != 0 or not lines:
                raise SystemExit(f"wrk failed ({proc.returncode}):\n{out}\n{err}")
            raw = orjson.loads(lines[-1][len(RESULT_MARK) :])
            ok = int(raw["statuses"].get("200", 0)) - int(raw["bad_bodies"])
            events += ok * batch
            errors += sum(int(v) for v in raw["statuses"].values()) - ok
            errors += sum(int(v) for v in raw["errors"].values())
            took = max(took, raw["duration_us"] / 1e6)
    return events, errors, took


async def _load(
    urls: list[str], key: str, seconds: float, concurrency: int, batch: int, packed: bool
) -> tuple[int, int, float]:
    """The Python fallback when wrk is not installed (a bottleneck of its own)."""
    body = _body(batch, packed)
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
    ap.add_argument(
        "--packed", action="store_true",
        help="send envelopes back to back (}{) instead of one a line",
    )  # fmt: skip
    ap.add_argument("--rate", type=int, default=50_000, help="events/s of the latency run")
    ap.add_argument("--latency-seconds", type=float, default=10, help="0: no latency run")
    ap.add_argument("--senders", type=int, default=2, help="processes of the latency run")
    ap.add_argument("--replays", type=int, default=1, help="replays (the first reads NATS)")
    ap.add_argument(
        "--pin", action="store_true",
        help="replay with the node alone on CPU 1 and the client on CPU 0, both at nice -10",
    )  # fmt: skip
    ap.add_argument(
        "--single", action="store_true",
        help="instead: one node on one NATS server (R1) vs the embedded SQLite default",
    )  # fmt: skip
    args = ap.parse_args()
    if args.single:
        _single(args)
        return
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
        load = (urls, key, args.seconds, args.concurrency, args.batch, args.packed)
        if wrk_path() is not None:
            events, errors, took = _load_wrk(*load)
        else:
            events, errors, took = asyncio.run(_load(*load))
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
        token = _token(urls[-1], nats_urls)
        for _ in range(args.replays):
            _replay_measured(urls[-1], token, nats, events, args.pin)
        if args.latency_seconds > 0:
            _latency(urls, key, token, args)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _one_node(name: str, server: RunningServer, nats: list[int], args: argparse.Namespace) -> None:
    """wrk through one node: events/s and events per CPU-second (the node and ``nats``)."""
    assert server.proc is not None and server.api_key is not None
    node = _tree(server.proc.pid)
    before = (cpu_seconds(node), cpu_seconds(nats))
    load = ([server.url], server.api_key, args.seconds, args.concurrency, args.batch, args.packed)
    if wrk_path() is not None:
        events, errors, took = _load_wrk(*load)
    else:
        events, errors, took = asyncio.run(_load(*load))
    used = (cpu_seconds(node) - before[0], cpu_seconds(nats) - before[1])
    split = f" (node {used[0]:.1f} s, NATS {used[1]:.1f} s)" if nats else ""
    print(
        f"{name:28} {events / took:>9,.0f} events/s  CPU {sum(used):5.1f} s{split}  "
        f"{events / max(sum(used), 1e-9):>9,.0f} events per CPU-second  ({errors} refused)"
    )


def _single(args: argparse.Namespace) -> None:
    """One node, ``--workers`` workers: embedded SQLite (fsync) vs one NATS server, R1."""
    with tempfile.TemporaryDirectory(prefix="lakehose-single-bench-") as tmp:
        root = Path(tmp)
        with run_server(root / "embedded", workers=args.workers) as server:
            _one_node("embedded SQLite (fsync)", server, [], args)
        with DevCluster(root / "nats", nodes=1) as cluster:
            env = {"LAKEHOSE_CLUSTER": cluster.urls, "LAKEHOSE_CLUSTER_REPLICAS": "1"}
            with run_server(root / "node", workers=args.workers, env=env) as server:
                _one_node("1 node + 1 NATS server, R1", server, [cluster.nodes[0].pid], args)


def _node_pids(url: str) -> list[int]:
    """The processes listening on ``url``'s port and their children (a node's workers)."""
    port = int(url.rsplit(":", 1)[1])
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                inodes.add(fields[9])
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{entry}/fd")
            if any(os.readlink(f"/proc/{entry}/fd/{fd}")[8:-1] in inodes for fd in fds):
                return _tree(int(entry))
        except OSError:
            continue
    return []


def _discover(url: str, token: str, app_id: str) -> dict[str, Any]:
    found = httpx.get(url + "/sensors/entities/datafeed/v2", params={"appId": app_id},
                      headers={"Authorization": f"Bearer {token}"}).json()  # fmt: skip
    resource: dict[str, Any] = found["resources"][0]
    return resource


def _replay_measured(url: str, token: str, nats: list[int], events: int, pin: bool) -> None:
    """A data feed of partition 0 from offset 0 until ``events`` have come, counted: events/s,
    and the CPU of the node, of the NATS servers and of the counting client (this process)."""
    found = _discover(url, token, "bench")
    node = _node_pids(url)
    if pin:  # the node on a core of its own as far as this machine allows (root only)
        for pid in node:
            for task in os.listdir(f"/proc/{pid}/task"):  # every thread
                os.sched_setaffinity(int(task), {1})
                os.setpriority(os.PRIO_PROCESS, int(task), -10)
        os.sched_setaffinity(0, {0})
        os.setpriority(os.PRIO_PROCESS, 0, -10)
    before = (cpu_seconds(node), cpu_seconds(nats), time.process_time(), _waited(node))
    seconds, _ = count_lines(
        found["dataFeedURL"] + "&offset=0", found["sessionToken"]["token"], events
    )
    used = (cpu_seconds(node) - before[0], cpu_seconds(nats) - before[1],
            time.process_time() - before[2], _waited(node) - before[3])  # fmt: skip
    print(
        f"replay of partition 0 from offset 0 through node {url}: {events:,} events in "
        f"{seconds:.2f} s = {events / seconds:,.0f} events/s; CPU: node {used[0]:.2f} s "
        f"({events / max(used[0], 1e-9):,.0f} events per CPU-second; its threads waited "
        f"{used[3]:.2f} s for a CPU), NATS {used[1]:.2f} s, client {used[2]:.2f} s"
    )


def _waited(pids: list[int]) -> float:
    """Seconds the threads of ``pids`` were runnable but not running (``schedstat``): the
    CPU they wanted and another process had."""
    total = 0
    for pid in pids:
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                total += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[1])
        except OSError:
            continue
    return total / 1e9


def _latency(urls: list[str], key: str, token: str, args: argparse.Namespace) -> None:
    """Ingest -> stream: a feed at the end on the last node, events sent through every node
    (``paced_sender``: ``--senders`` processes, requests of ``--batch`` events at ``--rate``)."""
    rate, seconds, batch = args.rate, args.latency_seconds, args.batch
    found = _discover(urls[-1], token, "latency")
    total = int(rate * seconds) // batch * batch
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    receive, give = ctx.Pipe(duplex=False)
    reader = ctx.Process(
        target=_feed_reader,
        args=(found["dataFeedURL"] + "&whence=2", found["sessionToken"]["token"], total, ready,
              give),
        daemon=True,
    )  # fmt: skip
    reader.start()
    if not ready.wait(30):
        raise SystemExit("the latency feed did not open")
    times = send_paced(urls, key, rate, seconds, batch, args.senders)
    if not receive.poll(120):
        raise SystemExit("the latency feed did not get every event")
    seen: list[tuple[int, int, int]] = receive.recv()
    reader.join(10)
    sends = sorted(sent for sent, _ in times.values())
    offered = len(times) * batch / max((sends[-1] - sends[0]) / 1e9, 1e-9)
    refused = sum(1 for _, done in times.values() if done < 0)
    acks = [(done - sent) / 1e6 for sent, done in times.values() if done > 0]
    warm = [x for x in seen if x[0] >= rate]  # the first second warms up
    after_ack = [(arrived - times[i // batch][1]) / 1e6 for i, _, arrived in warm]
    after_send = [(arrived - sent) / 1e6 for i, sent, arrived in warm]
    print(
        f"ingest -> stream at {rate:,} events/s asked ({offered:,.0f} sent by {args.senders} "
        f"processes in requests of {batch}) through {len(urls)} nodes, feed on node "
        f"{len(urls)}: {len(seen):,} events ({refused} requests refused)\n"
        f"  HEC 200 after the send: p50 {percentile(acks, 0.5):.1f} ms, "
        f"p99 {percentile(acks, 0.99):.1f} ms\n"
        f"  on the feed after the 200: p50 {percentile(after_ack, 0.5):.1f} ms, "
        f"p99 {percentile(after_ack, 0.99):.1f} ms\n"
        f"  on the feed after the send: p50 {percentile(after_send, 0.5):.1f} ms, "
        f"p99 {percentile(after_send, 0.99):.1f} ms, max {max(after_send):.1f} ms"
    )


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
