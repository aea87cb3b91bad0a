"""Syslog into the collector from real senders (``logger``, a syslog-ng daemon) and on to a real lake."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from lakehose.testing import RunningServer
from tests.collector.running import RunningCollector, collector_yaml, lake_events, tagged
from tests.helpers import cli, wait_for

NGSIEM_PAGE_CONFIG = """\
dataDirectory: {state}
status:
  port: 0
sources:
  syslog_udp_514:
    type: syslog
    mode: udp
    port: {port}
    bind: 127.0.0.1
    sink: ngsiem
    transforms:
      - type: static_fields
        fields:
          run: ngsiem-page
sinks:
  ngsiem:
    type: hec
    proxy: none
    token: {token}
    url: {url}
"""


def free_port(kind: int) -> int:
    import socket

    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def logger(*args: str, input: str | None = None) -> None:
    subprocess.run(["logger", *args], check=True, input=input, text=True, timeout=30)


def texts_with(server: RunningServer, tag: str, marker: str) -> list[str]:
    return [e["event"] for e in lake_events(server, tag) if marker in str(e["event"])]


def test_ngsiem_page_example_works_as_written_with_logger_over_udp(
    server: RunningServer, tmp_path: Path
) -> None:
    """The sources/sinks block from NG-SIEM's HEC page, a lakehose URL and token, a high port."""
    port = free_port(2)  # SOCK_DGRAM
    config = NGSIEM_PAGE_CONFIG.format(
        state=tmp_path / "state", port=port, token=server.api_key, url=server.hec_url
    )
    with RunningCollector(config, tmp_path, "unused").start() as c:
        lines = "\n".join(f"ngsiem page message {i}" for i in range(50))
        logger("--udp", "-n", "127.0.0.1", "-P", str(port), "-t", "webapp", input=lines)
        logger("--udp", "-n", "127.0.0.1", "-P", str(port), "--rfc3164", "-t", "old", "bsd style")
        wait_for(lambda: len(texts_with(server, "ngsiem-page", "message")) == 50, timeout=20)
        wait_for(lambda: texts_with(server, "ngsiem-page", "bsd style"), timeout=20)
        assert c.stop() == 0
    got = texts_with(server, "ngsiem-page", "message")
    assert all(t.startswith("<13>1 ") and " webapp " in t for t in got)  # RFC 5424 as sent
    (bsd,) = texts_with(server, "ngsiem-page", "bsd style")
    assert bsd.startswith("<13>") and "old: bsd style" in bsd  # RFC 3164 as sent
    events = lake_events(server, "ngsiem-page")
    assert events[0]["fields"]["@collect.source_name"] == "syslog_udp_514"
    assert events[0]["fields"]["@collect.peer"] == "127.0.0.1"


@pytest.mark.parametrize("framing", ["newline", "octet-count"])
def test_logger_over_tcp_in_both_framings(
    server: RunningServer, tmp_path: Path, framing: str
) -> None:
    tag = f"tcp-{framing}"
    sources = {
        "tcp": {
            "type": "syslog",
            "mode": "tcp",
            "port": 0,
            "bind": "127.0.0.1",
            "sink": "lake",
            "parser": "syslog",
            "transforms": tagged(tag),
        }
    }
    with RunningCollector(collector_yaml(tmp_path, server, sources), tmp_path, server.api_key) as c:
        c.start()
        _, port = c.address("tcp")
        extra = ["--octet-count"] if framing == "octet-count" else []
        lines = "\n".join(f"tcp line {i} with\ttab" for i in range(200))
        logger("--tcp", "-n", "127.0.0.1", "-P", str(port), *extra, "-t", "app", input=lines)
        wait_for(lambda: len(lake_events(server, tag)) == 200, timeout=20)
        status = c.status()
        assert status["sources"]["tcp"]["events"] == 200
        assert status["sinks"]["lake"]["sent"] >= 200
        assert c.stop() == 0
    events = lake_events(server, tag)
    assert sorted(
        str(e["event"]).rsplit("app - - ", 1)[-1].split("] ", 1)[-1] for e in events
    ) == sorted(f"tcp line {i} with\ttab" for i in range(200))
    assert events[0]["sourcetype"] == "syslog"


def test_syslog_ng_daemon_sends_over_udp_and_tcp(server: RunningServer, tmp_path: Path) -> None:
    """syslog-ng's network() (UDP, BSD) and syslog() (TCP, RFC 5424 octet-counted) drivers."""
    sources = {
        "udp": {
            "type": "syslog",
            "mode": "udp",
            "port": 0,
            "bind": "127.0.0.1",
            "sink": "lake",
            "transforms": tagged("sng"),
        },
        "tcp": {
            "type": "syslog",
            "mode": "tcp",
            "port": 0,
            "bind": "127.0.0.1",
            "sink": "lake",
            "transforms": tagged("sng"),
        },
    }
    feed = tmp_path / "feed.log"
    feed.write_text("")
    with RunningCollector(collector_yaml(tmp_path, server, sources), tmp_path, server.api_key) as c:
        c.start()
        _, udp = c.address("udp")
        _, tcp = c.address("tcp")
        conf = tmp_path / "syslog-ng.conf"
        conf.write_text(
            f"""@version: 3.35
options {{ stats_freq(0); }};
source s_feed {{ file("{feed}" follow-freq(0.1) flags(no-parse)); }};
destination d_udp {{ network("127.0.0.1" port({udp}) transport("udp")); }};
destination d_tcp {{ syslog("127.0.0.1" port({tcp}) transport("tcp")); }};
log {{ source(s_feed); destination(d_udp); destination(d_tcp); }};
"""
        )
        sng_log = tmp_path / "syslog-ng.log"
        with sng_log.open("wb") as out:
            sng = subprocess.Popen(
                [
                    shutil.which("syslog-ng") or "/usr/sbin/syslog-ng",
                    "-F",
                    "--no-caps",
                    "-f",
                    str(conf),
                    "-R",
                    str(tmp_path / "sng.persist"),
                    "-p",
                    str(tmp_path / "sng.pid"),
                    "-c",
                    str(tmp_path / "sng.ctl"),
                ],
                stdout=out,
                stderr=out,
            )
        try:
            with feed.open("a") as f:
                for i in range(100):
                    f.write(f"from syslog-ng {i}\n")

            def arrived() -> bool:
                if sng.poll() is not None:
                    raise AssertionError(f"syslog-ng exited: {sng_log.read_text()}")
                return len(lake_events(server, "sng")) == 200

            wait_for(arrived, timeout=30)
        finally:
            sng.terminate()
            sng.wait(10)
        assert c.stop() == 0
    events = lake_events(server, "sng")
    by_source: dict[str, list[str]] = {"udp": [], "tcp": []}
    for e in events:
        by_source[e["fields"]["@collect.source_name"]].append(str(e["event"]))
    for name, texts in by_source.items():
        assert len(texts) == 100, name
        assert {t.rsplit(" ", 1)[-1] for t in texts} == {str(i) for i in range(100)}
    assert all(t.startswith("<") and "1 " in t[:8] for t in by_source["tcp"])  # RFC 5424


def test_stdin_source_delivers_and_exits(server: RunningServer, tmp_path: Path) -> None:
    sources = {"in": {"type": "stdin", "sink": "lake", "transforms": tagged("stdin")}}
    c = RunningCollector(collector_yaml(tmp_path, server, sources), tmp_path, server.api_key)
    c.start(stdin=subprocess.PIPE, wait=False)
    assert c.proc is not None and c.proc.stdin is not None
    c.proc.stdin.write(b"".join(b"stdin line %d\n" % i for i in range(1000)) + b"no newline")
    c.proc.stdin.close()
    assert c.proc.wait(60) == 0, c.logs()
    texts = [e["event"] for e in lake_events(server, "stdin")]
    assert texts == [f"stdin line {i}" for i in range(1000)] + ["no newline"]


def test_stdin_source_reads_a_redirected_file(server: RunningServer, tmp_path: Path) -> None:
    """``lakehose collect --config F < file``: a regular file is no pipe, and still works."""
    feed = tmp_path / "feed.txt"
    feed.write_text("".join(f"from a file {i}\n" for i in range(300)))
    sources = {"in": {"type": "stdin", "sink": "lake", "transforms": tagged("stdin-file")}}
    c = RunningCollector(collector_yaml(tmp_path, server, sources), tmp_path, server.api_key)
    with feed.open("rb") as stdin:
        c.start(stdin=stdin, wait=False)
        assert c.proc is not None
        assert c.proc.wait(60) == 0, c.logs()
    texts = [e["event"] for e in lake_events(server, "stdin-file")]
    assert texts == [f"from a file {i}" for i in range(300)]


def test_status_command_and_metrics_endpoint(server: RunningServer, tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    log = tmp_path / "logs" / "app.log"
    log.write_text("".join(f"status line {i}\n" for i in range(10)))
    sources = {
        "files": {
            "type": "file",
            "include": [str(tmp_path / "logs" / "*.log")],
            "sink": "lake",
            "transforms": tagged("status"),
        }
    }
    with RunningCollector(collector_yaml(tmp_path, server, sources), tmp_path, server.api_key) as c:
        c.start()
        wait_for(lambda: len(lake_events(server, "status")) == 10, timeout=20)
        wait_for(lambda: c.status()["sources"]["files"]["lag_bytes"] == 0, timeout=10)
        doc = cli("collect", "status", "--config", str(c.path), "--json")
        import orjson

        status = orjson.loads(doc.stdout)
        assert status["sources"]["files"]["events"] == 10
        assert status["sources"]["files"]["files"] == 1
        assert status["sinks"]["lake"]["sent"] == 10
        text = cli("collect", "status", "--config", str(c.path)).stdout
        assert "files" in text and "lake" in text
        metrics = httpx.get(c.url + "/metrics").text
        assert 'lakehose_collector_source_events_total{source="files",type="file"} 10' in metrics
        assert 'lakehose_collector_sink_sent_total{sink="lake"} 10' in metrics
        assert 'lakehose_collector_source_lag_bytes{source="files",type="file"} 0' in metrics
        second = subprocess.run(
            [sys.executable, "-m", "lakehose", "collect", "--config", str(c.path)],
            env=c.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2 and "another collector is using it" in second.stderr
        assert c.stop() == 0
    proc = cli("collect", "status", "--config", str(c.path), check=False)
    assert proc.returncode != 0 and "is it running?" in proc.stderr
