"""Search page benchmark: the requests the console's search page makes, timed end to end.

    python bench/search_bench.py --events 10000000 --data-dir /tmp/lake10m --keep   # the lake
    python bench/search_page_bench.py --data-dir /tmp/lake10m                     # then this

It starts a real ``lakehose serve`` (one worker, loopback) on a lake made by
``bench/search_bench.py`` and times, from request to complete response, over
the last 24 hours of the data set (its events carry times from 2023, so the range
is absolute: the 24 h that end at its newest event):

(1) the first page of the newest 200 events for ``*`` (``POST /api/v1/search``),
    and the search page itself (``GET /console/search``) when the console is there;
(2) the histogram of a tag-filtered query, ``#connector=edr``;
(3) a field-filtered query, ``severity=ERROR``: its first page, histogram and top
    field values, each alone and the three at once (as the page asks for them).

Each figure is the median and best of ``--repeat`` runs; the CPU is shared, so
they are noisy.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.search_bench import MARKER, STEP, T0
from lakehose.testing import run_server
from tests.helpers import bearer_token

DAY = 86_400


def timed(fn: Callable[[], Any], repeat: int) -> dict[str, Any]:
    """Median and best wall milliseconds of ``repeat`` calls (after one warm-up call)."""
    fn()
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - started) * 1000)
    return {"median_ms": statistics.median(runs), "best_ms": min(runs), "runs": len(runs)}


def together(*fns: Callable[[], Any]) -> Callable[[], None]:
    """Call every function at once, each in its own thread (as a page's requests go)."""

    def run() -> None:
        threads = [threading.Thread(target=fn) for fn in fns]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="a lake of search_bench.py")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (default 5)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    info = orjson.loads((args.data_dir / MARKER).read_bytes())
    events = int(info["events"])
    newest = T0 + (events - 1) * STEP
    start, end = str(int(newest - DAY)), str(int(newest) + 1)
    results: dict[str, Any] = {"events": events, "range": [start, end]}
    with run_server(args.data_dir, timeout=120) as server:
        token = bearer_token(server, "search:read", name="page-bench")
        api = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=300
        )

        def page(q: str) -> Callable[[], Any]:
            return lambda: _ok(
                api.post("/api/v1/search", json={"query": q, "start": start, "end": end})
            )

        def get(path: str, q: str) -> Callable[[], Any]:
            return lambda: _ok(api.get(path, params={"q": q, "start": start, "end": end}))

        histogram = "/api/v1/search/histogram"
        fields = "/api/v1/search/fields"
        results["first_page_star"] = timed(page("*"), args.repeat)
        results["histogram_tag"] = timed(get(histogram, "#connector=edr"), args.repeat)
        results["histogram_star"] = timed(get(histogram, "*"), args.repeat)
        q = "severity=ERROR"
        results["field_first_page"] = timed(page(q), args.repeat)
        results["field_histogram"] = timed(get(histogram, q), args.repeat)
        results["field_top_values"] = timed(get(fields, q), args.repeat)
        results["field_all_three"] = timed(
            together(page(q), get(histogram, q), get(fields, q)), args.repeat
        )
        h = api.get(histogram, params={"q": "#connector=edr", "start": start, "end": end}).json()
        results["histogram_tag_stats"] = h["resources"][0]["stats"]
        results["histogram_tag_total"] = h["resources"][0]["total"]
        results.update(_console(server, start, end, args.repeat))
    if args.json:
        print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
    else:
        for key, value in results.items():
            print(f"{key}: {value}")
    return 0


def _console(server: Any, start: str, end: str, repeat: int) -> dict[str, Any]:
    """The search page itself, signed in as a console user, when the console exists."""
    try:
        from tests.console.harness import console_login  # type: ignore[import-not-found]
    except ImportError:
        return {}
    client = console_login(server)
    out = {}
    for name, q in (("console_page_star", "*"), ("console_page_field", "severity=ERROR")):
        out[name] = timed(
            lambda q=q: _ok(
                client.get("/console/search", params={"q": q, "start": start, "end": end})
            ),
            repeat,
        )
    return out


def _ok(reply: httpx.Response) -> httpx.Response:
    if reply.status_code != 200:
        raise SystemExit(f"{reply.request.url}: {reply.status_code} {reply.text[:300]}")
    return reply


if __name__ == "__main__":
    sys.exit(main())
