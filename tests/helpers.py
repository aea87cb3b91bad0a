"""Test helpers: run the CLI, read what the lake holds (straight from its files)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from lakehose.parsers.hec import IngestContext
from lakehose.records import decompress_lines, split_line
from lakehose.storage.sqlite.partition import PartitionReader, partition_path


def cli(
    *args: str, data_dir: Path | None = None, check: bool = True, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``lakehose ARGS`` as a user would; raise with its output if it fails and ``check``."""
    argv = [sys.executable, "-m", "lakehose", *args]
    if data_dir is not None:
        argv += ["--data-dir", str(data_dir)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOSE_")}
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, input=input, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"lakehose {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    input: str | None = None,
    tty: bool = False,
    expect: str | None = None,
    timeout: float = 60,
) -> tuple[int, str, str]:
    """``lakehose ARGS`` as a subprocess with exactly ``env`` (plus PATH and HOME), from ``cwd``:
    ``(exit status, stdout, stderr)``. With ``tty`` it runs on a pseudo-terminal (stdin,
    stdout and stderr all on it, as in an interactive shell); its output comes back as
    stdout (with ``\r\n`` turned into ``\n``) and stderr is empty; ``input`` is typed once
    ``expect`` (a prompt) has appeared, or at once (a password prompt flushes what was
    typed before it).
    """
    import pty
    import select

    full_env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root")}
    full_env.update({"COLUMNS": "100", "LINES": "40", "TERM": "xterm"} if tty else {})
    full_env.update(env or {})
    argv = [sys.executable, "-m", "lakehose", *args]
    if not tty:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env=full_env,
            cwd=cwd,
            input=input,
            timeout=timeout,
        )
        return proc.returncode, proc.stdout, proc.stderr
    master, slave = pty.openpty()
    child = subprocess.Popen(
        argv,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=full_env,
        cwd=cwd,
        close_fds=True,
        start_new_session=True,
    )
    os.close(slave)
    if input is not None and expect is None:
        os.write(master, input.encode())
        input = None
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
            if input is not None and expect is not None and expect.encode() in b"".join(chunks):
                time.sleep(0.2)  # the prompt is written before the terminal is set up to read
                os.write(master, input.encode())
                input = None
        elif child.poll() is not None:
            break
    os.close(master)
    code = child.wait(timeout=10)
    text = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    return code, text, ""


def new_lake(data_dir: Path) -> Path:
    """An empty lake in ``data_dir``, as ``lakehose serve`` makes at its first start (only
    ``serve`` creates one; CLI tests without a server start from this)."""
    from lakehose.config import load_settings
    from lakehose.storage.lake import open_data_dir

    open_data_dir(load_settings({"data_dir": str(data_dir)}, environ={})).close()
    return data_dir


def cli_json(*args: str, data_dir: Path | None = None) -> Any:
    return orjson.loads(cli(*args, "--json", data_dir=data_dir).stdout)


def stored_events(data_dir: Path) -> list[dict[str, Any]]:
    """Every event in every partition, in offset order, with its batch tags."""
    out: list[dict[str, Any]] = []
    p = 0
    while partition_path(data_dir, p).exists():
        reader = PartitionReader(data_dir, p)
        try:
            for info, blob in reader.batches_from(0, 10**9):
                lines = decompress_lines(blob, p, info.first_offset, info.count)
                for i, line in enumerate(lines):
                    meta, event_json = split_line(line)
                    out.append(
                        {
                            "partition": p,
                            "offset": info.first_offset + i,
                            "connector": info.connector,
                            "index": info.index,
                            "sourcetype": info.sourcetype,
                            "event": orjson.loads(event_json),
                            **meta,
                        }
                    )
        finally:
            reader.close()
        p += 1
    return out


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds.

    The timeout is a hang guard, not a timing: a loaded 2-core CI machine running the suite
    in four workers can take many seconds for what takes milliseconds here, so never pass one
    shorter than what the slowest such machine needs (speed belongs in ``bench/``).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def bearer_token(server: Any, *scopes: str, name: str | None = None) -> str:
    """A bearer token for a new API client with ``scopes``, the way a user gets one."""
    import httpx

    name = name or f"client-{time.monotonic_ns()}"
    args = ["client", "create", name]
    for scope in scopes:
        args += ["--scope", scope]
    created = cli_json(*args, data_dir=server.data_dir)
    reply = httpx.post(
        server.url + "/oauth2/token",
        data={"client_id": created["client_id"], "client_secret": created["client_secret"]},
    )
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert body["token_type"] == "bearer" and isinstance(body["expires_in"], int)
    assert "x-cs-region" not in reply.headers  # FalconPy would leave for CrowdStrike's cloud
    return str(body["access_token"])


def create_connector(admin: Any, name: str, **options: Any) -> str:
    """Create a connector through the admin API; return its API key."""
    reply = admin.post("/api/v1/connectors", json={"name": name, **options})
    assert reply.status_code == 201, reply.text
    return str(reply.json()["resources"][0]["api_key"])


def process_rss(root: int) -> dict[int, int]:
    """Resident memory (VmRSS, bytes) of process ``root`` and each of its descendants, by pid.

    Read from /proc, so it needs Linux; a process that exits meanwhile is left out.
    """
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(child for child, parent in parents.items() if parent == pid)
    out: dict[int, int] = {}
    for pid in tree:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                out[pid] = int(line.split()[1]) * 1024
    return out


def process_role(pid: int) -> str:
    """What a process of a server's tree is: ``worker``, ``search``, ``compact``,
    ``resource-tracker`` or ``supervisor``."""
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        if comm == "lakehose-search":
            return "search"
        if comm == "lakehose-column":
            return "compact"
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "gone"
    text = b" ".join(argv)
    if b"resource_tracker" in text:
        return "resource-tracker"
    if b"spawn_main" in text or b"forkserver" in text:
        return "worker"
    return "supervisor" if b"serve" in argv else "other"


def lake_context(connector: str, source: str = "test") -> IngestContext:
    """The ingest context of events written straight into a test lake (index main,
    sourcetype json, received now, any index allowed)."""
    return IngestContext(
        connector=connector,
        index="main",
        sourcetype="json",
        source=source,
        host=None,
        now_ns=time.time_ns(),
        allowed_index=lambda _: True,
    )


def assert_documented(server: Any, method: str, path: str, reply: Any) -> None:
    """``reply`` (an httpx response to ``method path``) has a status, and a content type, that
    the served OpenAPI document lists for that operation."""
    import httpx

    doc = httpx.get(server.url + "/api/v1/openapi.json").json()
    responses = doc["paths"][path][method.lower()]["responses"]
    status = str(reply.status_code)
    assert status in responses, f"{method} {path}: {status} is not documented: {sorted(responses)}"
    content = responses[status].get("content")
    if content:
        kind = reply.headers.get("content-type", "").split(";")[0].strip()
        assert kind in content, f"{method} {path} {status}: {kind} is not in {sorted(content)}"
