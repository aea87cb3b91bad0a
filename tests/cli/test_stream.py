"""``lakehose stream`` as a user runs it: NDJSON on stdout, --max-events, --resume, signals."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from lakehose.testing import RunningServer, run_server
from tests.client.consumerkit import SHORT_SESSIONS, api_client, new_sourcetype, send


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("lake") / "data", args=SHORT_SESSIONS) as s:
        yield s


@pytest.fixture(scope="module")
def env(server: RunningServer) -> dict[str, str]:
    """The URL and credentials in the environment, where they stay out of ``ps``."""
    client_id, secret = api_client(server)
    base = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOSE_")}
    return {
        **base,
        "LAKEHOSE_URL": server.url,
        "LAKEHOSE_CLIENT_ID": client_id,
        "LAKEHOSE_CLIENT_SECRET": secret,
    }


def stream(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lakehose", "stream", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def events(stdout: str) -> list[Any]:
    return [orjson.loads(line) for line in stdout.splitlines()]


def seqs(stdout: str) -> list[int]:
    return [e["event"]["seq"] for e in events(stdout)]


def test_stream_prints_ndjson_events_and_stops_after_max_events(
    server: RunningServer, env: dict[str, str]
) -> None:
    st = new_sourcetype()
    send(server, st, range(10))
    out = stream(env, "--event-type", st, "--max-events", "7", "--app-id", "cli-max")
    assert out.returncode == 0, out.stderr
    assert seqs(out.stdout) == list(range(7))
    first = events(out.stdout)[0]
    assert first["metadata"]["eventType"] == st and "offset" in first["metadata"]


def test_resume_continues_right_after_the_last_printed_event(
    server: RunningServer, env: dict[str, str], tmp_path: Path
) -> None:
    st = new_sourcetype()
    send(server, st, range(12))
    checkpoint = tmp_path / "offsets.json"
    args = ["--event-type", st, "--resume", str(checkpoint), "--app-id", "cli-resume"]
    first = stream(env, *args, "--max-events", "5")
    assert first.returncode == 0, first.stderr
    last = events(first.stdout)[-1]["metadata"]["offset"]
    assert orjson.loads(checkpoint.read_bytes())["offsets"] == {"0": last}
    second = stream(env, *args, "--max-events", "7")
    assert seqs(first.stdout) + seqs(second.stdout) == list(range(12))
    assert events(second.stdout)[0]["metadata"]["offset"] == last + 1


def test_from_offset_starts_there_inclusive_in_either_format(
    server: RunningServer, env: dict[str, str]
) -> None:
    st = new_sourcetype()
    send(server, st, range(6))
    all_events = events(stream(env, "--event-type", st, "--max-events", "6").stdout)
    start = all_events[3]["metadata"]["offset"]
    out = stream(
        env, "--event-type", st, "--from-offset", str(start), "--format", "flatjson",
        "--max-events", "3",
    )  # fmt: skip
    assert seqs(out.stdout) == [3, 4, 5]


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_a_signal_stops_cleanly_and_commits_what_was_printed(
    server: RunningServer, env: dict[str, str], tmp_path: Path, sig: int, code: int
) -> None:
    st = new_sourcetype()
    send(server, st, range(20))
    checkpoint = tmp_path / "offsets.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lakehose", "stream", "--event-type", st,
         "--resume", str(checkpoint), "--app-id", f"cli-signal-{code}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        head = [proc.stdout.readline() for _ in range(20)]  # all 20, then it waits for more
        proc.send_signal(sig)
        rest, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    printed = events("".join(head) + rest)
    assert [e["event"]["seq"] for e in printed] == list(range(20))
    saved = orjson.loads(checkpoint.read_bytes())["offsets"]
    assert saved == {"0": printed[-1]["metadata"]["offset"]}


def test_wrong_credentials_fail_with_a_clear_error(
    server: RunningServer, env: dict[str, str]
) -> None:
    out = stream({**env, "LAKEHOSE_CLIENT_SECRET": "wrong"}, "--max-events", "1")
    assert out.returncode == 1
    assert "error:" in out.stderr and "access denied" in out.stderr
    assert "wrong" not in out.stderr and out.stdout == ""


def test_conflicting_start_options_are_refused(env: dict[str, str]) -> None:
    out = stream(env, "--from-offset", "3", "--tail")
    assert out.returncode == 2 and "--from-offset" in out.stderr


def test_a_missing_resume_file_is_created_and_an_unwritable_one_refused(
    server: RunningServer, env: dict[str, str], tmp_path: Path
) -> None:
    st = new_sourcetype()
    send(server, st, [0])
    checkpoint = tmp_path / "new.json"
    out = stream(env, "--event-type", st, "--resume", str(checkpoint), "--max-events", "1")
    assert out.returncode == 0 and checkpoint.exists()
    bad = stream(env, "--resume", str(tmp_path / "no-such-dir" / "x.json"), "--max-events", "1")
    assert bad.returncode == 2 and "cannot be written" in bad.stderr


def test_the_most_verbose_log_shows_no_secret_or_token(
    server: RunningServer, env: dict[str, str]
) -> None:
    st = new_sourcetype()
    send(server, st, range(2))
    out = stream(env, "--event-type", st, "--max-events", "2", "-vv", "--app-id", "cli-verbose")
    assert out.returncode == 0, out.stderr
    assert "/oauth2/token" in out.stderr and "datafeed" in out.stderr  # it did log requests
    assert env["LAKEHOSE_CLIENT_SECRET"] not in out.stderr
    assert not re.findall(r"[A-Za-z0-9_-]{40,}", out.stderr)  # no access or session token
