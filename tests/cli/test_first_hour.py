"""A new user's first hour with the CLI, against a real server (issue 18, items 2, 4, 6, 8):
commands run as subprocesses, piped and on a pseudo-terminal."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

import lakehose
from lakehose.testing import RunningServer, run_server
from tests.helpers import bearer_token, new_lake, run_cli, stored_events, wait_for

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("firsthour") / "data") as s:
        yield s


def at(lake: RunningServer, *args: str, tty: bool = False, **kw: Any) -> tuple[int, str, str]:
    """A command on the module's lake, as LAKEHOSE_DATA_DIR points it there."""
    env = {"LAKEHOSE_DATA_DIR": str(lake.data_dir), **kw.pop("env", {})}
    return run_cli(*args, env=env, tty=tty, **kw)


def ok(lake: RunningServer, *args: str, **kw: Any) -> str:
    code, out, err = at(lake, *args, **kw)
    assert code == 0, (args, out, err)
    return out


def post(lake: RunningServer, key: str, body: Any, path: str = "/services/collector") -> Any:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    reply = httpx.post(lake.url + path, content=content, headers={"Authorization": f"Splunk {key}"})
    return reply.json()


# item 2 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["connector", "create", "oops"],
        ["client", "create", "c", "--scope", "search:read"],
        ["search", "x"],
    ],
)
def test_a_command_where_there_is_no_lake_says_so_and_creates_nothing(
    tmp_path: Path, args: list[str]
) -> None:
    code, out, err = run_cli(*args, cwd=tmp_path)
    assert code == 2, (out, err)
    assert "holds no lake" in err and "--data-dir" in err and "LAKEHOSE_DATA_DIR" in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # no lakehose-data made on the way


def test_lakehose_data_dir_points_every_command_at_the_running_servers_lake(
    lake: RunningServer, tmp_path: Path
) -> None:
    """(Every other test here reaches the lake through LAKEHOSE_DATA_DIR too.)"""
    created = orjson.loads(ok(lake, "connector", "create", "envdir", "--json", cwd=tmp_path))
    # the key works on the running server: the command used the server's lake
    assert post(lake, created["api_key"], {"event": "via env"}) == {"text": "Success", "code": 0}
    assert "via env" in ok(lake, "search", "#connector=envdir", cwd=tmp_path)
    assert "envdir" in ok(lake, "status", cwd=tmp_path)
    assert list(tmp_path.iterdir()) == []


# item 6 -------------------------------------------------------------------------------------


def test_connector_list_and_show_print_the_effective_defaults(lake: RunningServer) -> None:
    ok(lake, "connector", "create", "plain")
    for tty in (False, True):
        shown = ok(lake, "connector", "show", "plain", tty=tty)
        fields = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in shown.splitlines())
        assert (fields["index"], fields["source"], fields["sourcetype"]) == (
            "main",
            "http:plain",
            "httpevent",
        )
        assert fields["allowed indexes"] == "(any)" and "address" in fields["host"]
        assert all(value != "-" for value in fields.values()), fields
        listed = ok(lake, "connector", "list", tty=tty)
        row = next(line for line in listed.splitlines() if line.startswith("plain"))
        assert "main" in row and "http:plain" in row and "httpevent" in row
    # piped: tab-separated, nothing cut; on a terminal: aligned columns
    assert "\t" in ok(lake, "connector", "list") and "\t" not in ok(
        lake, "connector", "list", tty=True
    )


def test_json_output_uses_iso_8601_utc_for_every_time(lake: RunningServer) -> None:
    created = orjson.loads(ok(lake, "connector", "create", "timed", "--json"))
    post(lake, created["api_key"], {"event": "tick"})
    shown = orjson.loads(ok(lake, "connector", "show", "timed", "--json"))
    for key in ("created_at", "updated_at", "last_event_time"):
        assert ISO.match(shown[key]), (key, shown[key])
    assert datetime.fromisoformat(shown["last_event_time"]) >= datetime.fromisoformat(
        shown["created_at"]
    )
    client = orjson.loads(ok(lake, "client", "create", "timed", "--scope", "search:read", "--json"))
    assert ISO.match(client["created_at"]) and client["revoked_at"] is None
    listed = orjson.loads(ok(lake, "client", "list", "--json"))
    assert all(ISO.match(c["created_at"]) for c in listed)


def test_version_flag_and_command() -> None:
    for args in (["-V"], ["version"]):
        code, out, _ = run_cli(*args)
        assert code == 0 and out.strip() == f"lakehose, version {lakehose.__version__}"


def test_connector_update_changes_what_the_server_applies(lake: RunningServer) -> None:
    key = orjson.loads(ok(lake, "connector", "create", "movable", "--json"))["api_key"]
    updated = orjson.loads(
        ok(
            lake,
            "connector",
            "update",
            "movable",
            "--index",
            "moved",
            "--sourcetype",
            "st",
            "--json",
        )
    )
    assert (updated["index"], updated["sourcetype"]) == ("moved", "st")

    def stored() -> list[dict[str, Any]]:
        assert post(lake, key, {"event": "after update"})["code"] == 0
        return [e for e in stored_events(lake.data_dir) if e["connector"] == "movable"]

    found = wait_for(lambda: [e for e in stored() if e["index"] == "moved"])
    assert found[0]["sourcetype"] == "st"
    code, _, err = at(lake, "connector", "update", "movable")
    assert code == 2 and "nothing to change" in err


def test_rotate_with_grace_keeps_the_old_key_working_and_without_it_stops_it(
    lake: RunningServer,
) -> None:
    first = orjson.loads(ok(lake, "connector", "create", "rotating", "--json"))["api_key"]
    rotated = orjson.loads(ok(lake, "connector", "rotate", "rotating", "--grace", "1h", "--json"))
    second = rotated["api_key"]
    assert ISO.match(rotated["old_keys_until"])
    assert post(lake, first, {"event": "old key, in grace"})["code"] == 0
    assert post(lake, second, {"event": "new key"})["code"] == 0
    people = orjson.loads(ok(lake, "connector", "show", "rotating", "--json"))["api_keys"]
    assert any("until" in hint for hint in people) and len(people) == 2
    third = orjson.loads(ok(lake, "connector", "rotate", "rotating", "--json"))["api_key"]
    wait_for(lambda: post(lake, first, {"event": "x"})["code"] == 4)
    assert post(lake, second, {"event": "x"})["code"] == 4
    assert post(lake, third, {"event": "x"})["code"] == 0
    # the admin API does the same for the console
    token = bearer_token(lake, "connectors:write")
    reply = httpx.post(
        lake.url + "/api/v1/connectors/rotating/rotate",
        json={"grace": "10m"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert reply.status_code == 200, reply.text
    assert ISO.match(reply.json()["resources"][0]["old_keys_until"])
    assert post(lake, third, {"event": "still in grace"})["code"] == 0


def test_client_show_rotate_and_revoke_with_confirmation(lake: RunningServer) -> None:
    made = orjson.loads(ok(lake, "client", "create", "rotor", "--scope", "search:read", "--json"))
    shown = ok(lake, "client", "show", "rotor")
    assert made["client_id"] in shown and made["client_secret"] not in shown
    new = orjson.loads(ok(lake, "client", "rotate", "rotor", "--json"))["client_secret"]

    def token_status(secret: str) -> int:
        form = {"client_id": made["client_id"], "client_secret": secret}
        return httpx.post(lake.url + "/oauth2/token", data=form).status_code

    assert (token_status(made["client_secret"]), token_status(new)) == (403, 201)
    code, out, _ = at(lake, "client", "revoke", "rotor", input="n\n")
    assert code == 1 and "revoke client rotor?" in out
    assert orjson.loads(ok(lake, "client", "show", "rotor", "--json"))["state"] == "active"
    code, out, _ = at(lake, "client", "revoke", "rotor", tty=True, input="y\n", expect="[y/N]")
    assert code == 0 and "client rotor revoked" in out
    assert token_status(new) == 403


def make_read_only(root: Path) -> None:
    for path in (root, *root.rglob("*")):
        mode = path.stat().st_mode
        path.chmod(
            (mode | stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH) & ~0o222 | 0o111 * path.is_dir()
        )


def as_nobody(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``lakehose ARGS`` as an unprivileged user (root writes anyway), from ``root``."""
    return subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        + [sys.executable, "-m", "lakehose", *args],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "HOME": str(root)},
        cwd=root,
        timeout=60,
    )


def remove_tree(root: Path) -> None:
    for path in (root, *root.rglob("*")):
        path.chmod(0o755)
    shutil.rmtree(root)


def test_read_only_commands_work_on_a_read_only_data_directory() -> None:
    """As an unprivileged user (root writes anyway) on a lake it may only read."""
    root = Path(tempfile.mkdtemp(prefix="lakehose-ro-"))
    try:
        data = new_lake(root / "lake")
        code, out, err = run_cli("connector", "create", "ro", "--data-dir", str(data))
        assert code == 0, err
        make_read_only(root)
        for args in (["connector", "show", "ro"], ["client", "list"], ["search", ""], ["status"]):
            proc = as_nobody(root, *args, "--data-dir", str(data))
            assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        proc = as_nobody(root, "connector", "create", "w", "--data-dir", str(data))
        assert proc.returncode == 2 and "not writable" in proc.stderr
    finally:
        remove_tree(root)


def test_search_reads_a_read_only_lake_with_a_columnar_tier() -> None:
    """The search opens the columnar manifest without writing to it."""
    from tests.search.tierkit import build_lake

    root = Path(tempfile.mkdtemp(prefix="lakehose-ro-"))
    try:
        data = new_lake(root / "lake")
        build_lake(data, 3, partitions=1)  # two thirds of it compacted
        assert (data / "columnar" / "manifest.db").is_file()
        make_read_only(root)
        proc = as_nobody(root, "search", "severity=ERROR | count()", "--data-dir", str(data))
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines()[0] == "_count"
        assert int(proc.stdout.splitlines()[1]) > 0
    finally:
        remove_tree(root)


def test_search_reads_url_and_credentials_from_the_environment(
    lake: RunningServer, tmp_path: Path
) -> None:
    made = orjson.loads(
        ok(lake, "client", "create", "envsearch", "--scope", "search:read", "--json")
    )
    key = orjson.loads(ok(lake, "connector", "create", "envsearched", "--json"))["api_key"]
    assert post(lake, key, {"event": "found through the server"})["code"] == 0
    env = {"LAKEHOSE_URL": lake.url, "LAKEHOSE_CLIENT_ID": made["client_id"]}
    secret = {"LAKEHOSE_CLIENT_SECRET": made["client_secret"]}
    # remote: run where no lake is, so a local search could not answer
    code, out, err = run_cli("search", "#connector=envsearched", env=env | secret, cwd=tmp_path)
    assert code == 0 and "found through the server" in out, err
    # without a terminal, no secret is an error naming the variable, never a getpass warning
    code, out, err = run_cli("search", "x", env=env, cwd=tmp_path)
    assert code == 2 and "LAKEHOSE_CLIENT_SECRET" in err and "Warning" not in err
    # on a terminal it asks, without echoing the secret
    code, out, _ = run_cli(
        "search",
        "x | count()",
        env=env,
        cwd=tmp_path,
        tty=True,
        input=made["client_secret"] + "\n",
        expect="client secret",
    )
    assert code == 0 and "client secret" in out and made["client_secret"] not in out
    # $LAKEHOSE_URL alone (set for `send`) keeps search on the local lake
    code, out, err = at(lake, "search", "#connector=envsearched", env={"LAKEHOSE_URL": lake.url})
    assert code == 0 and "found through the server" in out, err


def test_shell_completion_is_documented_and_works() -> None:
    code, out, _ = run_cli(env={"_LAKEHOSE_COMPLETE": "bash_source"})
    assert code == 0 and "_lakehose_completion" in out
    code, out, _ = run_cli(
        env={
            "_LAKEHOSE_COMPLETE": "bash_complete",
            "COMP_WORDS": "lakehose conn",
            "COMP_CWORD": "1",
        }
    )
    assert "connector" in out
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert "_LAKEHOSE_COMPLETE=bash_source" in readme


def test_status_shows_health_connectors_partitions_disk_and_consumers(lake: RunningServer) -> None:
    from lakehose.client import EventStreams

    made = orjson.loads(
        ok(lake, "client", "create", "watcher", "--scope", "streams:read", "--json")
    )
    with EventStreams(
        client_id=made["client_id"], client_secret=made["client_secret"], base_url=lake.url
    ) as streams:
        stream = streams.discover("status-app")[0]
        headers = {"Authorization": f"Token {stream.session_token}"}
        with httpx.stream("GET", stream.data_feed_url, headers=headers, timeout=30) as feed:
            assert feed.status_code == 200
            status = wait_for(
                lambda: (s := orjson.loads(ok(lake, "status", "--json")))["consumers"] and s
            )
            text = ok(lake, "status")
            tty_text = ok(lake, "status", tty=True)
    # a consumer group's committed offset (server-kept position) and its lag
    token = httpx.post(
        lake.url + "/oauth2/token",
        data={"client_id": made["client_id"], "client_secret": made["client_secret"]},
    ).json()["access_token"]
    committed = httpx.post(
        f"{lake.url}/api/v1/stream-groups/status-app/commit",
        json={"partition": 0, "offset": 0},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert committed.status_code == 200, committed.text
    groups = orjson.loads(ok(lake, "status", "--json"))["consumer_groups"]
    assert "Consumer groups" in ok(lake, "status")
    assert status["server"]["running"] and status["server"]["health"]["code"] == 17
    assert [c["app_id"] for c in status["consumers"]] == ["status-app"]
    consumer = status["consumers"][0]
    end = status["partitions"][0]["end_offset"]
    assert 0 <= consumer["next_offset"] <= end  # from offset 0 on, as of its last beat
    assert consumer["behind"] == end - consumer["next_offset"]
    assert [(g["app_id"], g["partition"], g["committed"]) for g in groups] == [("status-app", 0, 0)]
    assert groups[0]["lag_events"] >= end - 1 >= 0  # events after offset 0 (more may arrive)
    assert "default" in {c["name"] for c in status["connectors"]}
    assert all("events_per_second" in c for c in status["connectors"])
    assert status["partitions"][0]["end_offset"] >= 1
    assert status["disk"]["lake_bytes"] > 0
    for title in (
        "Server",
        "Connectors",
        "Partitions",
        "Disk and retention",
        "status-app",
        "default",
    ):
        assert title in text and title in tty_text


# item 4 -------------------------------------------------------------------------------------


def test_search_prints_one_whole_line_per_event_piped_and_on_a_terminal(
    lake: RunningServer,
) -> None:
    key = orjson.loads(ok(lake, "connector", "create", "wordy-connector-name", "--json"))["api_key"]
    text = " ".join(f"word{i}" for i in range(80)) + "\nsecond line"
    assert post(lake, key, {"event": text, "time": 1_700_000_000.5, "host": "h1"})["code"] == 0
    code, out, err = at(lake, "search", "#connector=wordy-connector-name")
    assert code == 0
    header, row = out.splitlines()
    assert header.split("\t") == ["TIME", "#CONNECTOR", "HOST", "EVENT"]
    assert row.split("\t") == [
        "2023-11-14T22:13:20.500Z",
        "wordy-connector-name",
        "h1",
        text.replace("\n", "\\n"),
    ]
    assert "1 row; 1 of " in err and "1 rows" not in err
    code, out, _ = at(lake, "search", "#connector=wordy-connector-name", tty=True)
    lines = out.splitlines()
    assert lines[0].split() == ["TIME", "#CONNECTOR", "HOST", "EVENT"]
    assert lines[1].startswith("2023-11-14T22:13:20.500Z  wordy-connector-name  h1")
    assert lines[1].endswith(text.replace("\n", "\\n")) and "…" not in out
    assert lines[2].startswith("1 row; ")


def test_table_times_print_in_iso_8601(lake: RunningServer) -> None:
    key = orjson.loads(ok(lake, "connector", "create", "tabled", "--json"))["api_key"]
    assert post(lake, key, {"event": "t", "time": 1_700_000_000.25, "host": "h2"})["code"] == 0
    code, out, _ = at(lake, "search", "#connector=tabled | table([@timestamp, time, host])")
    assert out.splitlines() == [
        "@timestamp\ttime\thost",
        "2023-11-14T22:13:20.250Z\t2023-11-14T22:13:20.250Z\th2",
    ]


def test_a_group_by_on_a_field_no_event_has_says_so(lake: RunningServer) -> None:
    key = orjson.loads(ok(lake, "connector", "create", "colourless", "--json"))["api_key"]
    assert post(lake, key, {"event": {"shape": "round"}, "host": "h3"})["code"] == 0
    code, out, err = at(lake, "search", "#connector=colourless | groupBy(colour)")
    assert code == 0 and out.splitlines() == ["colour\t_count"]
    assert "note: groupBy(colour): no matching event has the field colour" in err


# item 8 -------------------------------------------------------------------------------------


def test_connector_errors_shows_recent_refusals_with_secrets_masked(lake: RunningServer) -> None:
    key = orjson.loads(ok(lake, "connector", "create", "picky", "--json"))["api_key"]
    secret = "6f1c0a52-2f8e-4d5b-9a51-0d7d3c9f1e2a"
    body = b'{"event": "fine"}\n{"event": "", "fields": {"api_key": "' + secret.encode() + b'"}}\n'
    assert post(lake, key, body)["code"] == 13
    assert post(lake, key, b"", path="/services/collector/raw")["code"] == 5
    refusals = wait_for(
        lambda: (
            len(r := orjson.loads(ok(lake, "connector", "errors", "picky", "--json"))) == 2 and r
        )
    )
    no_data, blank = refusals  # newest first
    assert (blank["status"], blank["code"], blank["text"]) == (
        400,
        13,
        "Event field cannot be blank",
    )
    assert (
        blank["event_number"] == 1 and blank["client"] == "127.0.0.1" and ISO.match(blank["time"])
    )
    assert blank["excerpt"].startswith('{"event": ""') and secret not in blank["excerpt"]
    assert blank["path"] == "/services/collector"
    assert (no_data["code"], no_data["event_number"], no_data["path"]) == (
        5,
        None,
        "/services/collector/raw",
    )
    people = ok(lake, "connector", "errors", "picky")
    assert "code 13: Event field cannot be blank event #1" in people and secret not in people
    token = bearer_token(lake, "connectors:read")
    reply = httpx.get(
        lake.url + "/api/v1/connectors/picky/errors",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert reply.status_code == 200 and reply.json()["resources"] == refusals
    code, _, err = at(lake, "connector", "errors", "nobody-here")
    assert code == 1 and "not found" in err
