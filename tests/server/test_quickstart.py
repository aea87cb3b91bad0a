"""The first-run experience: a new data directory, a printed key, a curl that works."""

from __future__ import annotations

import subprocess
from pathlib import Path

from lakehose.testing import run_server
from tests.helpers import stored_events


def test_first_start_creates_default_connector_and_prints_a_working_curl(data_dir: Path) -> None:
    with run_server(data_dir) as server:
        assert server.api_key, "the first start must print the default connector's key"
        curl_line = next(line.strip() for line in server.output if line.strip().startswith("curl "))
        # not a terminal: the line reads the key from its 0600 file, $(cat …), so a shell runs it
        result = subprocess.run(["sh", "-c", curl_line], capture_output=True, text=True, timeout=30)
        assert result.stdout == '{"text":"Success","code":0}'
    events = stored_events(data_dir)
    assert [e["event"] for e in events] == ["hello, lake"]
    assert events[0]["connector"] == "default"


def test_second_start_does_not_print_a_key_again(data_dir: Path) -> None:
    with run_server(data_dir) as first:
        assert first.api_key
    with run_server(data_dir) as second:
        assert second.api_key is None
        assert not any(first.api_key in line for line in second.output)
