"""The server under test: a lakehose the harness starts (optionally pinned), or any HEC URL.

Pinning works as ``taskset`` does: the harness sets the CPU affinity of its own
calling thread, starts the process (which inherits it, as do its workers), and
restores the thread's affinity. The CPUs each server process may use are read
back from ``/proc`` and reported, so a run shows what it really measured.
"""

from __future__ import annotations

import os
import ssl
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import orjson


@dataclass
class Target:
    """Where to send, with which key, and (if known) the server's process id."""

    url: str
    token: str
    pid: int | None
    name: str
    settings: dict[str, object] = field(default_factory=dict)
    data_dir: Path | None = None

    def stored_events(self) -> int | None:
        """Events in lakehose's log (sum of partition end offsets), or None for other servers."""
        if self.data_dir is None:
            return None
        # Our own temporary server: a self-signed certificate (--server-arg=--tls-cert=…) is fine.
        context = ssl._create_unverified_context() if self.url.startswith("https") else None
        with urllib.request.urlopen(
            self.url + "/api/v1/status", timeout=10, context=context
        ) as reply:
            status = orjson.loads(reply.read())["resources"][0]
        return sum(int(p["end_offset"]) for p in status["partitions"])


@contextmanager
def affinity(cpus: set[int] | None) -> Iterator[None]:
    """Run the block with this thread pinned to ``cpus`` (processes started inherit it)."""
    if not cpus:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def autogroup_nice(pid: int, nice: int) -> int | None:
    """Give ``pid``'s scheduler autogroup this nice value; return the one it had (None where
    that cannot be done), so a harness can give its own session's back when it is done.

    With ``kernel.sched_autogroup_enabled`` (most distributions), a process's nice value
    counts only against processes of its own session: a server started in a session of
    its own (as ``run_server`` does) competes with every other session as an equal, so
    ``--nice`` alone changes nothing on a shared machine. The autogroup's nice does.
    """
    path = Path(f"/proc/{pid}/autogroup")
    try:
        before = int(path.read_text().rsplit("nice", 1)[1])
        path.write_text(str(nice))
    except (OSError, IndexError, ValueError):
        return None
    return before


def filesystem_of(path: Path) -> str:
    """The type of the filesystem holding ``path`` (``ext4``, ``tmpfs``…), from /proc/mounts."""
    best, kind = "", "?"
    resolved = str(path.resolve())
    for line in Path("/proc/mounts").read_text().splitlines():
        parts = line.split()
        mount = parts[1]
        inside = resolved == mount or resolved.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best):
            best, kind = mount, parts[2]
    return kind


@contextmanager
def local_lakehose(
    *,
    workers: int,
    cpus: set[int] | None,
    durability: str,
    access_log: bool,
    parent_dir: Path | None,
    extra_args: list[str],
) -> Iterator[Target]:
    """A fresh lakehose on 127.0.0.1 with its own temporary data directory."""
    from lakehose.testing import run_server

    args = ["--durability", durability, *extra_args]
    if not access_log:
        args.append("--no-access-log")
    if parent_dir is not None:
        parent_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lakehose-bench-", dir=parent_dir) as tmp:
        data_dir = Path(tmp) / "data"
        with ExitStack() as stack:
            with affinity(cpus):  # only while starting: the harness itself stays unpinned
                server = stack.enter_context(run_server(data_dir, workers=workers, args=args))
            assert server.proc is not None and server.api_key is not None
            settings: dict[str, object] = {
                "workers": workers,
                "durability": durability,
                "access_log": access_log,
                "data_filesystem": filesystem_of(Path(tmp)),
                "args": args,
            }
            yield Target(
                server.url,
                server.api_key,
                server.proc.pid,
                "lakehose",
                settings,
                data_dir,
            )


@contextmanager
def local_peer(mode: str, cpus: set[int] | None) -> Iterator[Target]:
    """``bench.peer`` (a canned HEC ``200``, nothing parsed or stored) on 127.0.0.1, pinned
    like the lakehose it is compared with: the most this process model could do."""
    import subprocess
    import sys

    with affinity(cpus):
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.peer", "--port", "0", "--mode", mode],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline().rsplit(":", 1)[1])
        yield Target(f"http://127.0.0.1:{port}", "peer", proc.pid, f"peer-{mode}", {"mode": mode})
    finally:
        proc.terminate()
        proc.wait(10)
