"""Show results: one table per run for people, JSON for machines, a file under bench/results/."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench.wrk_load import wrk_path

RESULTS_DIR = Path(__file__).with_name("results")
COLUMNS = (
    ("scenario", "scenario", "<"),
    ("events/s", "events_per_s", ">"),
    ("MB/s", "mb_per_s", ">"),
    ("req/s", "requests_per_s", ">"),
    ("p50 ms", "p50", ">"),
    ("p99 ms", "p99", ">"),
    ("errors", "errors", ">"),
    ("srv CPU%", "cpu_percent", ">"),
    ("ev/s/core", "events_per_cpu_second", ">"),
    ("RSS/worker MB", "peak_rss_mb_per_worker", ">"),
    ("RSS total MB", "peak_rss_mb_total", ">"),
    ("gen CPU%/core", "generator_cpu_percent_per_core", ">"),
    ("other CPU%", "other_cpu_percent", ">"),
    ("kernel CPU%", "kernel_cpu_percent", ">"),
)


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": wrk_path(),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "branch": _git("rev-parse", "--abbrev-ref", "HEAD"),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except OSError:
        return None
    return out.stdout.strip() or None


def _cell(result: dict[str, Any], key: str) -> str:
    value: Any = result.get(key)
    if key in ("p50", "p99"):
        value = result["latency_ms"][key]
    elif result.get("server_usage") and key in result["server_usage"]:
        value = result["server_usage"][key]
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(results: list[dict[str, Any]]) -> str:
    """The results as an aligned text table, then each run's notes."""
    rows = [[title for title, _, _ in COLUMNS]]
    rows += [[_cell(r, key) for _, key, _ in COLUMNS] for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(
            f"{cell:{align}{width}}"
            for cell, width, (_, _, align) in zip(row, widths, COLUMNS, strict=True)
        )
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in results:
        for note in r["notes"]:
            lines.append(f"! {r['scenario']}: {note}")
    return "\n".join(lines)


def header(results: list[dict[str, Any]], info: dict[str, Any]) -> str:
    """One paragraph: machine, server, generator; enough to reproduce the run."""
    first = results[0]
    server = first["server"]
    settings = first["server_settings"]
    if settings:
        server += " (" + ", ".join(f"{k}={v}" for k, v in settings.items() if k != "args") + ")"
    usage = first.get("server_usage") or {}
    cpus = sorted({p["cpus"] for p in usage.get("processes", [])}) or ["?"]
    gen = first["generator"]
    detail = first["generator_detail"]
    parallel = f"{detail.get('threads', detail.get('processes'))} {'threads' if gen == 'wrk' else 'processes'}"
    return (
        f"{info['cpus']} x {info['cpu_model']}, Linux {info['kernel']}, Python {info['python']}, "
        f"commit {info['commit']} ({info['branch']})\n"
        f"server: {server}, CPUs {'/'.join(cpus)}\n"
        f"generator: {gen}, {parallel}, {first['connections']} connections, "
        f"CPUs {first['client_cpus'] or 'any'}, {first['seconds']} s per scenario"
    )


def save(document: dict[str, Any]) -> Path:
    """Write a run under bench/results/ (gitignored); the file's path."""
    RESULTS_DIR.mkdir(exist_ok=True)
    names = "+".join(r["scenario"] for r in document["runs"])
    path = RESULTS_DIR / f"{time.strftime('%Y%m%d-%H%M%S')}-{names}.json"
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    return path


def emit(document: Any, as_json: bool, report: Callable[[Any], None]) -> None:
    """A bench's result on stdout: indented JSON (``--json``, for scripts), else ``report``'s
    text for a reader."""
    if as_json:
        print(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
    else:
        report(document)
