"""Stream consumer benchmark: how fast the SDK's consumers and ``lakehose stream`` read a replay.

    python bench/consumer_bench.py --events 200000

Loads N events over HEC into a fresh server (durability none), then reads them from
offset 0, each reader timed from start to the N-th event, best of ``--runs``:

- ``plain-httpx``: httpx streaming the feed and counting lines (the floor any
  Python httpx reader pays);
- ``StreamConsumer``: events as dicts, and with ``raw=True`` as text lines;
- ``AsyncStreamConsumer``: events as dicts;
- ``lakehose stream``: the CLI printing NDJSON to /dev/null (process start included).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.streams_bench import bench_server, load  # noqa: E402
from lakehose.client import AsyncStreamConsumer, EventStreams, StreamConsumer  # noqa: E402
from lakehose.testing import RunningServer  # noqa: E402


def credentials(server: RunningServer) -> tuple[str, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "lakehose", "client", "create", f"bench-{time.time_ns()}"]
        + ["--scope", "streams:read", "--json", "--data-dir", str(server.data_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    created = json.loads(proc.stdout)
    return created["client_id"], created["client_secret"]


def plain_httpx(server: RunningServer, creds: tuple[str, str], n: int, app: str) -> float:
    with EventStreams(client_id=creds[0], client_secret=creds[1], base_url=server.url) as es:
        (stream,) = es.discover(app)
    began = time.perf_counter()
    lines = 0
    headers = {"Authorization": f"Token {stream.session_token}"}
    with (
        httpx.Client(timeout=60) as client,
        client.stream("GET", stream.data_feed_url + "&offset=0", headers=headers) as response,
    ):
        for chunk in response.iter_bytes():
            lines += chunk.count(b"\n")
            if lines >= n:
                break
    return time.perf_counter() - began


def sync_consumer(
    server: RunningServer, creds: tuple[str, str], n: int, app: str, raw: bool
) -> float:
    began = time.perf_counter()
    with StreamConsumer(
        server.url, client_id=creds[0], client_secret=creds[1], app_id=app, raw=raw
    ) as consumer:
        for count, _ in enumerate(consumer, 1):
            if count >= n:
                break
    return time.perf_counter() - began


def async_consumer(server: RunningServer, creds: tuple[str, str], n: int, app: str) -> float:
    async def run() -> float:
        began = time.perf_counter()
        async with AsyncStreamConsumer(
            server.url, client_id=creds[0], client_secret=creds[1], app_id=app
        ) as consumer:
            count = 0
            async for _ in consumer:
                count += 1
                if count >= n:
                    break
        return time.perf_counter() - began

    return asyncio.run(run())


def cli(server: RunningServer, creds: tuple[str, str], n: int, app: str) -> float:
    env = {
        **os.environ,
        "LAKEHOSE_URL": server.url,
        "LAKEHOSE_CLIENT_ID": creds[0],
        "LAKEHOSE_CLIENT_SECRET": creds[1],
    }
    began = time.perf_counter()
    with open(os.devnull, "w") as devnull:
        subprocess.run(
            [sys.executable, "-m", "lakehose", "stream", "--max-events", str(n), "--app-id", app],
            stdout=devnull,
            env=env,
            check=True,
        )
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3, help="timed runs; the best is reported")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args(argv)
    n = args.events
    results: dict[str, Any] = {"events": n}
    with bench_server(1, "none", []) as server:
        load(server, n, 1000, 4)
        creds = credentials(server)
        readers: dict[str, Callable[[str], float]] = {
            "plain-httpx": lambda app: plain_httpx(server, creds, n, app),
            "StreamConsumer": lambda app: sync_consumer(server, creds, n, app, raw=False),
            "StreamConsumer raw": lambda app: sync_consumer(server, creds, n, app, raw=True),
            "AsyncStreamConsumer": lambda app: async_consumer(server, creds, n, app),
            "lakehose stream": lambda app: cli(server, creds, n, app),
        }
        for name, read in readers.items():
            best = min(read(f"bench{i}-{time.time_ns()}") for i in range(args.runs))
            results[name] = round(n / best)
    if args.json:
        print(json.dumps(results))
    else:
        for name, rate in results.items():
            if name != "events":
                print(f"{name:22s} {rate:>10,} events/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
