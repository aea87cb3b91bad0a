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
    field values, each alone and the three at once (as the page asks for them);
(4) the search page (``GET /console/search``, signed in) for each query, and in
    Chromium (Debian's, through Playwright) from navigation to the events listed, the
    histogram drawn and the field list shown; and the bytes the page transferred.

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

from bench.report import emit
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
    parser.add_argument(
        "--in-process-only", action="store_true", help="only the CPU figures, no server"
    )
    args = parser.parse_args(argv)
    info = orjson.loads((args.data_dir / MARKER).read_bytes())
    events = int(info["events"])
    newest = T0 + (events - 1) * STEP
    start, end = str(int(newest - DAY)), str(int(newest) + 1)
    results: dict[str, Any] = {"events": events, "range": [start, end]}
    results["in_process"] = in_process(args.data_dir, start, end, args.repeat)
    if args.in_process_only:
        emit(results, True, _lines)
        return 0
    with run_server(args.data_dir, timeout=120) as server:
        run = f"{time.time_ns():x}"  # clients and users are kept in the lake's catalog
        token = bearer_token(server, "search:read", name=f"page-bench-{run}")
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
        results.update(_console(server, f"bench-{run}", start, end, args.repeat))
    emit(results, args.json, _lines)
    return 0


def _lines(results: dict[str, Any]) -> None:
    for key, value in results.items():
        print(f"{key}: {value}")


def in_process(data_dir: Path, start: str, end: str, repeat: int) -> dict[str, Any]:
    """Wall and CPU seconds of the histogram and the field list run in this process (no
    HTTP), best of ``repeat``: the CPU figure is what a quiet core would take."""
    from lakehose.query import plan_query, time_range
    from lakehose.search.facets import top_values
    from lakehose.search.histogram import histogram
    from lakehose.storage.lake import open_readers

    span = time_range(start, end)
    out: dict[str, Any] = {}
    cases: dict[str, tuple[str, Callable[..., Any]]] = {
        "histogram_tag": ("#connector=edr", histogram),
        "histogram_star": ("*", histogram),
        "histogram_field": ("severity=ERROR", histogram),
        "top_values_field": ("severity=ERROR", top_values),
    }
    for name, (q, fn) in cases.items():
        best_wall = best_cpu = float("inf")
        stats: Any = None
        for _ in range(repeat):
            readers = open_readers(data_dir)
            wall, cpu = time.perf_counter(), time.process_time()
            result = fn(plan_query(q), readers, span)
            best_wall = min(best_wall, time.perf_counter() - wall)
            best_cpu = min(best_cpu, time.process_time() - cpu)
            stats = getattr(result, "stats", None)
            for r in readers:
                r.close()
        out[name] = {"wall_ms": best_wall * 1000, "cpu_ms": best_cpu * 1000}
        if stats is not None:
            out[name]["events_scanned"] = stats.events_scanned
            out[name]["events_from_summaries"] = stats.events_from_summaries
            out[name]["events_matched"] = stats.events_matched
    return out


def _console(server: Any, user: str, start: str, end: str, repeat: int) -> dict[str, Any]:
    """The search page itself: its HTML from request to response (httpx, signed in), then in
    Chromium from navigation to events listed, histogram drawn and field list shown."""
    from tests.console.session import PASSWORD, create_user, http_session

    create_user(server.data_dir, user, "analyst", PASSWORD)
    out: dict[str, Any] = {}
    queries = {"star": "*", "tag": "#connector=edr", "field": "severity=ERROR"}
    with http_session(server.url, user, PASSWORD) as client:
        for name, q in queries.items():
            params = {"q": q, "start": start, "end": end}

            def fetch(params: dict[str, str] = params) -> Any:
                return _ok(client.get("/console/search", params=params))

            out[f"console_html_{name}"] = timed(fetch, repeat)
    out.update(_browser(server, user, queries, start, end, repeat))
    return out


def _browser(
    server: Any, user: str, queries: dict[str, str], start: str, end: str, repeat: int
) -> Any:
    from urllib.parse import urlencode

    from playwright.sync_api import sync_playwright

    from tests.console.session import CHROMIUM, PASSWORD, sign_in

    out: dict[str, Any] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(base_url=server.url, viewport={"width": 1280, "height": 800})
        page.set_default_timeout(300_000)
        sign_in(page, user, PASSWORD)
        for name, q in queries.items():
            url = "/console/search?" + urlencode({"q": q, "start": start, "end": end})
            marks: dict[str, list[float]] = {"events": [], "histogram": [], "fields": []}
            for _ in range(repeat + 1):
                began = time.perf_counter()
                page.goto(url, wait_until="domcontentloaded")
                listed = time.perf_counter()
                page.wait_for_selector("#histogram[data-ready]")
                drawn = time.perf_counter()
                page.wait_for_selector("#fields h2")
                shown = time.perf_counter()
                marks["events"].append((listed - began) * 1000)
                marks["histogram"].append((drawn - began) * 1000)
                marks["fields"].append((shown - began) * 1000)
            out[f"browser_{name}"] = {
                k: {"median_ms": statistics.median(v[1:]), "best_ms": min(v[1:])}
                for k, v in marks.items()
            }
            if name == "star":
                out["browser_transfer_bytes"] = page.evaluate(
                    "performance.getEntriesByType('navigation').concat("
                    "performance.getEntriesByType('resource'))"
                    ".reduce((n, e) => n + (e.transferSize || e.encodedBodySize || 0), 0)"
                )
        browser.close()
    return out


def _ok(reply: httpx.Response) -> httpx.Response:
    if reply.status_code != 200:
        raise SystemExit(f"{reply.request.url}: {reply.status_code} {reply.text[:300]}")
    return reply


if __name__ == "__main__":
    sys.exit(main())
