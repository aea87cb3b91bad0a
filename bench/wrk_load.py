"""Drive load with wrk (C, epoll) and ``hec.lua``: the generator of choice, far from a bottleneck."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import orjson

from bench.load import LoadResult, LoadSpec
from bench.target import affinity

LUA_SCRIPT = Path(__file__).with_name("hec.lua")
RESULT_MARK = "BENCH_RESULT "


def wrk_path() -> str | None:
    return shutil.which("wrk")


class WrkLoad:
    """One wrk process posting ``payload`` for ``seconds`` (whole seconds, as wrk takes them)."""

    def __init__(self, spec: LoadSpec, *, threads: int, seconds: int) -> None:
        wrk = wrk_path()
        if wrk is None:
            raise RuntimeError("wrk is not installed")
        self.seconds = seconds
        self.threads = min(threads, spec.connections)
        self.argv = [
            wrk,
            f"--threads={self.threads}",
            f"--connections={spec.connections}",
            f"--duration={seconds}s",
            "--timeout=30s",
            f"--script={LUA_SCRIPT}",
            spec.endpoint,
            "--",
            str(spec.body_file),
            spec.token,
            spec.payload.content_type,
            spec.payload.content_encoding or "",
        ]
        self.shown_argv = ["KEY" if arg == spec.token else arg for arg in self.argv]
        with affinity(spec.cpus):
            self.proc = subprocess.Popen(
                self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )

    def wait(self) -> LoadResult:
        out, err = self.proc.communicate(timeout=self.seconds + 120)
        lines = [line for line in out.splitlines() if line.startswith(RESULT_MARK)]
        if self.proc.returncode != 0 or not lines:
            raise RuntimeError(f"wrk failed ({self.proc.returncode}):\n{out}\n{err}")
        raw = orjson.loads(lines[-1][len(RESULT_MARK) :])
        errors = {k: int(v) for k, v in raw["errors"].items() if v}
        statuses = {int(k): int(v) for k, v in raw["statuses"].items()}
        return LoadResult(
            generator="wrk",
            seconds=raw["duration_us"] / 1e6,
            requests=raw["requests"],
            statuses=statuses,
            bad_bodies=raw["bad_bodies"],
            socket_errors=errors,
            latency_ms={k: round(v / 1000.0, 3) for k, v in raw["latency_us"].items()},
            parallel=self.threads,
            acked_with_warmup=statuses.get(200, 0) - raw["bad_bodies"],
            detail={"threads": self.threads, "argv": self.shown_argv},
        )
