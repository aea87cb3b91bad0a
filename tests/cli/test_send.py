"""``lakehose send`` against a real lakehose: every input format, raw, gzip, the summary."""

from __future__ import annotations

import gzip
import uuid
from pathlib import Path
from typing import Any

import orjson

from lakehose.testing import RunningServer
from tests.helpers import cli, stored_events


def _send(server: RunningServer, *args: str, input: str | None = None, check: bool = True) -> Any:
    assert server.api_key
    return cli(
        "send", *args, "--url", server.url, "--token", server.api_key, input=input, check=check
    )


def _mine(server: RunningServer, run: str) -> list[Any]:
    return [e for e in stored_events(server.data_dir) if run in orjson.dumps(e["event"]).decode()]


def test_send_ndjson_file_stores_each_line_and_prints_a_summary(
    server: RunningServer, tmp_path: Path
) -> None:
    run = "r" + uuid.uuid4().hex[:8]  # a letter first: YAML reads an all-digit id as a number
    path = tmp_path / "events.ndjson"
    lines = [{"run": run, "n": i} for i in range(50)]
    lines[10] = {"event": {"run": run, "n": 10}, "sourcetype": "app", "time": 1_700_000_000}
    path.write_text("\n".join(orjson.dumps(x).decode() for x in lines) + "\n")
    out = _send(server, str(path), "--batch-size", "7").stdout
    assert out.startswith("sent 50 events in 8 requests")
    assert "50 accepted, 0 rejected" in out
    stored = _mine(server, run)
    assert [e["event"]["n"] for e in sorted(stored, key=lambda e: e["event"]["n"])] == list(
        range(50)
    )
    (tenth,) = [e for e in stored if e["event"]["n"] == 10]
    assert (tenth["sourcetype"], tenth["time"]) == ("app", 1_700_000_000 * 10**9)


def test_send_reads_stdin_and_gzip(server: RunningServer, tmp_path: Path) -> None:
    run = "r" + uuid.uuid4().hex[:8]  # a letter first: YAML reads an all-digit id as a number
    _send(server, "-", "--gzip", input=f'{{"run":"{run}","via":"stdin"}}\n')
    path = tmp_path / "e.ndjson.gz"
    path.write_bytes(gzip.compress(f'{{"run":"{run}","via":"gz"}}\n'.encode()))
    _send(server, str(path), "--zstd")
    assert sorted(e["event"]["via"] for e in _mine(server, run)) == ["gz", "stdin"]


def test_send_yaml_xml_and_csv_become_json_events(server: RunningServer, tmp_path: Path) -> None:
    run = "r" + uuid.uuid4().hex[:8]  # a letter first: YAML reads an all-digit id as a number
    (tmp_path / "e.yaml").write_text(
        f"run: {run}\nfmt: yaml\nn: 1\n---\n- {{run: {run}, fmt: yaml, n: 2}}\n"
    )
    (tmp_path / "e.xml").write_text(f'<events><e n="1"><run>{run}</run><fmt>xml</fmt></e></events>')
    (tmp_path / "e.csv").write_text(f"run,fmt,n\n{run},csv,1\n{run},csv,2\n")
    for fmt in ("yaml", "xml", "csv"):
        _send(server, str(tmp_path / f"e.{fmt}"), "--format", fmt)
    events = [e["event"] for e in _mine(server, run)]
    assert {"run": run, "fmt": "yaml", "n": 1} in events and {
        "run": run,
        "fmt": "yaml",
        "n": 2,
    } in events
    assert {"@n": "1", "run": run, "fmt": "xml"} in events
    assert {"run": run, "fmt": "csv", "n": "1"} in events and {
        "run": run,
        "fmt": "csv",
        "n": "2",
    } in events
    assert len(events) == 5


def test_send_raw_sends_lines_unchanged(server: RunningServer, tmp_path: Path) -> None:
    run = "r" + uuid.uuid4().hex[:8]  # a letter first: YAML reads an all-digit id as a number
    path = tmp_path / "app.log"
    path.write_text(f"{run} first line\n\n{run} second line\r\n")
    out = _send(server, str(path), "--raw").stdout
    assert "2 accepted" in out
    assert [e["event"] for e in _mine(server, run)] == [f"{run} first line", f"{run} second line"]


def test_rejected_and_unreadable_events_are_listed_and_exit_1(
    server: RunningServer, tmp_path: Path
) -> None:
    run = "r" + uuid.uuid4().hex[:8]  # a letter first: YAML reads an all-digit id as a number
    path = tmp_path / "mixed.ndjson"
    path.write_text(f'{{"run":"{run}","n":0}}\n{{"event":""}}\nnot json\n{{"run":"{run}","n":3}}\n')
    proc = _send(server, str(path), check=False)
    assert proc.returncode == 1
    # sent = accepted + rejected; the unreadable record was never sent
    assert "sent 3 events" in proc.stdout and "2 accepted, 1 rejected" in proc.stdout
    assert "1 unreadable record, not sent" in proc.stdout
    assert "event #2: 400 code 13: Event field cannot be blank" in proc.stdout
    assert "line 3: not valid JSON" in proc.stdout
    assert sorted(e["event"]["n"] for e in _mine(server, run)) == [0, 3]

    summary = orjson.loads(_send(server, str(path), "--json", check=False).stdout)
    assert (summary["sent"], summary["accepted"], summary["rejected"], summary["unreadable"]) == (
        3,
        2,
        1,
        1,
    )
    assert summary["rejections"] == [
        {
            "event_number": 2,  # as the summary for people says "event #2"
            "index": 1,
            "count": 1,
            "status": 400,
            "code": 13,
            "text": "Event field cannot be blank",
            "invalid_event_number": 1,
        }
    ]
    assert summary["input_errors"][0]["line"] == 3


def test_a_wrong_token_is_reported_with_its_reason(server: RunningServer, tmp_path: Path) -> None:
    path = tmp_path / "e.ndjson"
    path.write_text('{"a":1}\n{"a":2}\n')
    proc = cli("send", str(path), "--url", server.url, "--token", "wrong", check=False)
    assert proc.returncode == 1
    assert "2 × 403 code 4: Invalid token" in proc.stdout


def test_progress_bar_is_drawn_on_stderr_when_asked(server: RunningServer, tmp_path: Path) -> None:
    run = "r" + uuid.uuid4().hex[:8]  # a letter first: YAML reads an all-digit id as a number
    path = tmp_path / "many.ndjson"
    path.write_text("".join(f'{{"run":"{run}","n":{i}}}\n' for i in range(3000)))
    proc = _send(server, str(path), "--progress", "--batch-size", "500")
    assert "sending" in proc.stderr and "3,000 sent, 3,000 accepted, 0 rejected" in proc.stderr
    assert "100%" in proc.stderr
    assert "sending" not in proc.stdout
    quiet = _send(server, str(path))
    assert quiet.stderr == "", "no bar when stderr is not a terminal"


def test_the_token_can_come_from_the_environment(server: RunningServer, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    path = tmp_path / "e.ndjson"
    path.write_text('{"from":"env"}\n')
    assert server.api_key
    env = {**os.environ, "LAKEHOSE_TOKEN": server.api_key, "LAKEHOSE_URL": server.url}
    proc = subprocess.run(
        [sys.executable, "-m", "lakehose", "send", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "1 accepted" in proc.stdout
