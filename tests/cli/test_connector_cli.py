"""`lakehose connector ...` as a person and a script use it."""

from __future__ import annotations

from pathlib import Path

import httpx

from lakehose.testing import run_server
from tests.helpers import cli, cli_json, new_lake


def test_create_prints_the_key_once_and_stores_only_a_hash(tmp_path: Path) -> None:
    data = new_lake(tmp_path / "data")
    created = cli_json(
        "connector",
        "create",
        "fw",
        "--description",
        "edge firewalls",
        "--parser",
        "syslog",
        "--index",
        "net",
        "--allowed-index",
        "net-archive",
        "--source",
        "udp:514",
        "--sourcetype",
        "syslog",
        "--host",
        "fw1",
        "--ack",
        "--allow-query-token",
        "--rate-rps",
        "100",
        "--rate-bps",
        "1e6",
        data_dir=data,
    )
    assert {"id", "name", "api_key", "hec_url"} <= created.keys()
    assert created["hec_url"] == "http://127.0.0.1:8088/services/collector"
    assert (created["default_index"], created["allowed_indexes"], created["parser"]) == (
        "net",
        ["net-archive"],
        "syslog",
    )
    assert created["use_ack"] and created["allow_query_token"] and created["rate_rps"] == 100
    key = created["api_key"]
    assert key.encode() not in (data / "catalog.db").read_bytes()
    shown = cli_json("connector", "show", "fw", data_dir=data)
    assert "api_key" not in shown and shown["api_keys"] == ["…" + key[-4:]]
    assert key not in cli("connector", "list", data_dir=data).stdout


def test_show_reports_status_and_counts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with run_server(data) as server:
        key = cli_json("connector", "create", "counted", data_dir=data)["api_key"]
        assert cli_json("connector", "show", "counted", data_dir=data)["status"] == "idle"
        httpx.post(
            server.hec_url,
            content=b'{"event":"a"}{"event":"b"}',
            headers={"Authorization": f"Splunk {key}"},
        )
        shown = cli_json("connector", "show", "counted", data_dir=data)
        assert (shown["status"], shown["event_count"]) == ("active", 2)
        assert shown["byte_count"] > 0 and shown["last_event_time"].endswith("Z")
        assert shown["hec_url"] == server.hec_url
        cli("connector", "disable", "counted", data_dir=data)
        assert cli_json("connector", "show", "counted", data_dir=data)["status"] == "disabled"
        people = cli("connector", "show", "counted", data_dir=data).stdout
        assert "disabled" in people and "events" in people


def test_list_prints_a_table_for_people_and_json_for_scripts(tmp_path: Path) -> None:
    data = new_lake(tmp_path / "data")
    cli("connector", "create", "alpha", data_dir=data)
    cli("connector", "create", "beta", data_dir=data)
    table = cli("connector", "list", data_dir=data).stdout
    assert table.splitlines()[0].split()[:2] == ["NAME", "STATUS"]
    assert "alpha" in table and "beta" in table
    assert [c["name"] for c in cli_json("connector", "list", data_dir=data)] == ["alpha", "beta"]


def test_rotate_replaces_the_key_and_delete_removes_the_connector(tmp_path: Path) -> None:
    data = new_lake(tmp_path / "data")
    first = cli_json("connector", "create", "gone", data_dir=data)["api_key"]
    second = cli_json("connector", "rotate", "gone", data_dir=data)["api_key"]
    assert first != second
    deleted = cli_json("connector", "delete", "gone", data_dir=data)
    assert (deleted["name"], deleted["deleted"]) == ("gone", True)
    assert cli_json("connector", "list", data_dir=data) == []


def test_delete_asks_for_confirmation_without_yes(tmp_path: Path) -> None:
    data = new_lake(tmp_path / "data")
    cli("connector", "create", "keep", data_dir=data)
    proc = cli("connector", "delete", "keep", data_dir=data, check=False, input="n\n")
    assert proc.returncode == 1
    assert [c["name"] for c in cli_json("connector", "list", data_dir=data)] == ["keep"]
    cli("connector", "delete", "keep", "--yes", data_dir=data)
    assert cli_json("connector", "list", data_dir=data) == []


def test_errors_are_one_clear_line_and_a_nonzero_exit(tmp_path: Path) -> None:
    data = new_lake(tmp_path / "data")
    cli("connector", "create", "dup", data_dir=data)
    for args, message in [
        (["connector", "create", "dup"], "already exists"),
        (["connector", "create", "bad name"], "must be 1-64 letters"),
        (["connector", "create", "x", "--index", "UPPER"], "index name"),
        (["connector", "create", "y", "--parser", "nope"], "unknown parser"),
        (["connector", "show", "missing"], "not found"),
        (["connector", "rotate", "missing"], "not found"),
        (["connector", "rotate", "dup", "--grace", "999999d"], "at most 365d"),
    ]:
        proc = cli(*args, data_dir=data, check=False)
        assert proc.returncode != 0, args
        assert message in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr


def test_connector_commands_work_on_a_data_directory_with_more_partitions(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with run_server(data, args=["--partitions", "3"]) as server:
        key = cli_json("connector", "create", "wide", data_dir=data)["api_key"]
        httpx.post(
            server.hec_url,
            content=b'{"event":1}{"event":2}',
            headers={"Authorization": f"Splunk {key}"},
        )
    assert cli_json("connector", "show", "wide", data_dir=data)["event_count"] == 2
    assert "wide" in cli("connector", "list", data_dir=data).stdout
