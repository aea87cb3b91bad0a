"""Ingest latency while heavy regex searches run (issue 19, item 1).

Starts a server (1 worker, ``--search-timeout 5s``), stores one 200 KB event and one
26-character event, then measures HEC ingest latency (small single events from
``--senders`` threads) twice: with no search running, and while ``--searchers``
threads keep sending the regex searches that stalled a worker on Python's ``re``
(``/[a-z]*z$/`` over the 200 KB event, ``/^(.|.)*Q$/`` over the 26 characters).
Prints p50/p99/max of ingest and how the searches answered. Loopback only, bounded
by ``--seconds`` per phase (a search already running may end a phase late).

    python -m bench.regex_stall --seconds 20

``LAKEHOSE_BENCH_SRC`` (a ``src`` directory) runs another checkout's server, for a
before/after comparison with the same client.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from lakehose.testing import run_server

QUERIES = ("/[a-z]*z$/ | count()", "/^(.|.)*Q$/ | count()")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


INGEST_TIMEOUT = 30.0  # an ingest request still waiting then counts as timed out


def _ingest(url: str, key: str, stop: threading.Event, out: list[float]) -> None:
    headers = {"Authorization": f"Splunk {key}"}
    with httpx.Client(headers=headers, timeout=INGEST_TIMEOUT) as client:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                reply = client.post(url, json={"event": "small"})
                assert reply.status_code == 200, reply.text
            except httpx.TimeoutException:
                pass  # recorded as INGEST_TIMEOUT: the real wait was longer
            out.append(time.perf_counter() - started)
            time.sleep(0.01)


def _search(url: str, token: str, stop: threading.Event, out: list[tuple[int, float]]) -> None:
    n = 0
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=600) as client:
        while not stop.is_set():
            started = time.perf_counter()
            query = QUERIES[n % len(QUERIES)]
            try:
                reply = client.post(url + "/api/v1/search", json={"query": query, "start": 0})
                status = reply.status_code
            except httpx.TransportError:
                status = 0  # the server was stopped under it (end of a phase that overran)
            out.append((status, time.perf_counter() - started))
            n += 1


def _phase(url: str, key: str, token: str, seconds: float, senders: int, searchers: int) -> str:
    stop = threading.Event()
    latencies: list[float] = []
    searches: list[tuple[int, float]] = []
    senders_ = [
        threading.Thread(target=_ingest, args=(url + "/services/collector", key, stop, latencies))
        for _ in range(senders)
    ]
    searchers_ = [
        threading.Thread(target=_search, args=(url, token, stop, searches), daemon=True)
        for _ in range(searchers)
    ]
    for t in senders_ + searchers_:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in senders_:  # a search still running is not waited for
        t.join()
    ms = [x * 1000 for x in latencies]
    line = (
        f"ingest n={len(ms)} p50={statistics.median(ms):.1f} ms "
        f"p99={_percentile(ms, 0.99):.1f} ms max={max(ms):.1f} ms "
        f"timed-out(>{INGEST_TIMEOUT:g}s)={sum(x >= INGEST_TIMEOUT for x in latencies)}"
    )
    if searches:
        codes = sorted({code for code, _ in searches})
        took = [s for _, s in searches]
        line += (
            f"; searches n={len(searches)} statuses={codes} "
            f"p50={statistics.median(took):.2f} s max={max(took):.2f} s"
        )
    else:
        line += "; searches: none finished in the phase" if searchers else ""
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--searchers", type=int, default=2)
    args = parser.parse_args()
    env = {}
    if os.environ.get("LAKEHOSE_BENCH_SRC"):
        env["PYTHONPATH"] = os.environ["LAKEHOSE_BENCH_SRC"]
    with tempfile.TemporaryDirectory() as tmp:
        serve = ["--search-timeout", "5s"]
        with run_server(Path(tmp) / "data", args=serve, env=env) as server:
            key = str(server.api_key)
            headers = {"Authorization": f"Splunk {key}"}
            for text in ("abcdefghijklmnopqrstuvwxyz", "x" * 200_000):
                reply = httpx.post(server.hec_url, json={"event": text}, headers=headers)
                assert reply.status_code == 200, reply.text
            created = subprocess.run(
                [sys.executable, "-m", "lakehose", "client", "create", "bench", "--json"]
                + ["--scope", "search:read", "--data-dir", str(server.data_dir)],
                capture_output=True,
                check=True,
                env={**os.environ, **env},
            )
            made = json.loads(created.stdout)
            token = httpx.post(
                server.url + "/oauth2/token",
                data={"client_id": made["client_id"], "client_secret": made["client_secret"]},
            ).json()["access_token"]
            s = args.seconds
            print("idle:   ", _phase(server.url, key, token, s, args.senders, 0), flush=True)
            print("regexes:", _phase(server.url, key, token, s, args.senders, args.searchers))


if __name__ == "__main__":
    main()
