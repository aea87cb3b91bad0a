"""journald (real journal files, real journalctl), cmd and syslog_tls sources, end to end."""

from __future__ import annotations

import socket
import ssl
import subprocess
from pathlib import Path

import orjson
import trustme

from lakehose.testing import RunningServer
from tests.collector.running import RunningCollector, collector_yaml, lake_events, tagged
from tests.helpers import wait_for

JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"


def journal_append(directory: Path, entries: list[tuple[str, str]], seq: list[int]) -> None:
    """Write entries (unit, message) into a journal file with systemd-journal-remote."""
    lines = []
    for unit, message in entries:
        seq[0] += 1
        lines.append(
            f"__CURSOR=s=0;i={seq[0]}\n__REALTIME_TIMESTAMP={1_700_000_000_000_000 + seq[0]}\n"
            f"__MONOTONIC_TIMESTAMP={seq[0]}\n_BOOT_ID=0123456789abcdef0123456789abcdef\n"
            f"MESSAGE={message}\n_SYSTEMD_UNIT={unit}\n_HOSTNAME=jhost\nPRIORITY=6\n\n"
        )
    subprocess.run(
        [JOURNAL_REMOTE, "-o", str(directory / "remote.journal"), "-"],
        input="".join(lines).encode(),
        check=True,
        capture_output=True,
        timeout=30,
    )


def journal_cursor(directory: Path) -> str:
    """The cursor of the journal's last entry, as journalctl (and so the source) names it."""
    out = subprocess.run(
        ["journalctl", "-D", str(directory), "-n", "1", "-o", "json", "--no-pager"],
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout
    return str(orjson.loads(out.splitlines()[-1])["__CURSOR"])


def checkpointed_cursor(path: Path) -> str | None:
    try:
        return str(orjson.loads(path.read_bytes()).get("cursor"))
    except FileNotFoundError:
        return None


def test_journald_follows_a_journal_and_resumes_from_its_cursor(
    server: RunningServer, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    journal.mkdir()
    seq = [0]
    journal_append(journal, [("old.service", "before the collector")], seq)
    sources = {
        "journal": {
            "type": "journald",
            "directory": str(journal),
            "excludeUnits": ["noisy.service"],
            "sink": "lake",
            "transforms": tagged("journald"),
        }
    }
    config = collector_yaml(tmp_path, server, sources, queue={"flushTimeOutInMillisecond": 100})

    def messages() -> list[str]:
        return [e["event"] for e in lake_events(server, "journald")]

    with RunningCollector(config, tmp_path / "a", server.api_key) as c:
        c.start()
        n = 0

        def warm() -> bool:  # journalctl starts with new entries only: until it follows
            nonlocal n
            journal_append(journal, [("app.service", f"warmup {n}")], seq)
            n += 1
            return bool(messages())

        wait_for(warm, timeout=30, interval=0.3)
        journal_append(
            journal,
            [("app.service", "one"), ("noisy.service", "spam"), ("app.service", "two")],
            seq,
        )
        wait_for(lambda: "two" in messages(), timeout=20)
        # the kill comes once the cursor of "two" (the journal's last entry) is checkpointed:
        # before that, a restart rightly reads "one" and "two" again (a loaded machine's
        # receipt or checkpoint write can take longer than any fixed pause)
        last = journal_cursor(journal)
        wait_for(lambda: checkpointed_cursor(c.state / "checkpoints" / "journal.json") == last)
        c.kill()
    journal_append(journal, [("app.service", "while down")], seq)
    with RunningCollector(config, tmp_path / "b", server.api_key) as c:
        c.start()
        wait_for(lambda: "while down" in messages(), timeout=20)
        assert c.stop() == 0
    got = messages()
    assert "before the collector" not in got and "spam" not in got
    assert got.count("one") == 1 and got.count("two") == 1 and got.count("while down") == 1
    e = next(e for e in lake_events(server, "journald") if e["event"] == "one")
    assert e["fields"]["journal.unit"] == "app.service"
    assert e["host"] == "jhost"


def test_cmd_source_scheduled_and_streaming(server: RunningServer, tmp_path: Path) -> None:
    script = tmp_path / "emit.sh"
    script.write_text('#!/bin/sh\necho "run $GREETING $1"\necho oops >&2\n')
    script.chmod(0o755)
    sources = {
        "sched": {
            "type": "cmd",
            "cmd": str(script),
            "args": ["arg1"],
            "environment": {"GREETING": "hi"},
            "mode": "scheduled",
            "interval": 0.3,
            "sink": "lake",
            "transforms": tagged("cmd-sched"),
        },
        "stream": {
            "type": "cmd",
            "cmd": "/bin/sh",
            "args": ["-c", "for i in 1 2 3; do echo streamed $i; sleep 0.1; done; sleep 60"],
            "mode": "streaming",
            "sink": "lake",
            "transforms": tagged("cmd-stream"),
        },
    }
    with RunningCollector(collector_yaml(tmp_path, server, sources), tmp_path, server.api_key) as c:
        c.start()
        wait_for(lambda: len(lake_events(server, "cmd-sched")) >= 3, timeout=20)
        wait_for(lambda: len(lake_events(server, "cmd-stream")) == 3, timeout=20)
        assert c.status()["sources"]["sched"]["runs"] >= 3
        assert c.stop() == 0
    assert {e["event"] for e in lake_events(server, "cmd-sched")} == {"run hi arg1"}
    assert [e["event"] for e in lake_events(server, "cmd-stream")] == [
        f"streamed {i}" for i in (1, 2, 3)
    ]
    assert "oops" in c.logs()  # standard error goes to the log


def test_syslog_tls_with_client_certificates(server: RunningServer, tmp_path: Path) -> None:
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    server_cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    server_cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    sources = {
        "tls": {
            "type": "syslog_tls",
            "port": 0,
            "bind": "127.0.0.1",
            "certificateFile": "cert.pem",  # relative to the config file
            "keyFile": "key.pem",
            "clientCAFile": "ca.pem",
            "sink": "lake",
            "transforms": tagged("tls"),
        }
    }
    config = collector_yaml(tmp_path, server, sources)
    with RunningCollector(config, tmp_path, server.api_key) as c:
        c.start()
        _, port = c.address("tls")
        client_ctx = ssl.create_default_context()
        ca.configure_trust(client_ctx)
        ca.issue_cert("client.example").configure_cert(client_ctx)
        with socket.create_connection(("127.0.0.1", port)) as raw:
            with client_ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                frames = [b"<13>1 - h app - - - tls %d" % i for i in range(20)]
                s.sendall(b"".join(b"%d %s" % (len(f), f) for f in frames))
        wait_for(lambda: len(lake_events(server, "tls")) == 20, timeout=20)
        anonymous = ssl.create_default_context()
        ca.configure_trust(anonymous)
        try:
            with socket.create_connection(("127.0.0.1", port)) as raw:
                with anonymous.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                    s.sendall(b"<13>1 - h app - - - no certificate\n")
                    refused = s.recv(1) == b""  # TLS 1.3: the refusal comes after the handshake
        except (ssl.SSLError, ConnectionError):
            refused = True
        assert refused
        assert c.stop() == 0
    assert sorted(e["event"] for e in lake_events(server, "tls")) == sorted(
        f"<13>1 - h app - - - tls {i}" for i in range(20)
    )
