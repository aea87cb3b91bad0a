"""Porting from FalconPy: one script, run with ``from falconpy import HEC`` and with
``from lakehose.client import HEC``, against the same lakehose, stores the same events.

FalconPy always builds ``https://{api_url_key}.ingest...crowdstrike.com/services/collector``
and ignores keywords it does not know, such as ``base_url``; lakehose routes on the
``/services/collector`` suffix, so with ``api_url_key="127.0.0.1:PORT/x"`` and a
trusted certificate FalconPy reaches it unmodified, while lakehose.client uses
``base_url``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from lakehose.testing import RunningServer, run_server
from tests.helpers import stored_events

SCRIPT = """
{import_line}
import sys

KEY, URL_KEY, BASE, RUN = sys.argv[1:5]
with HEC(api_key=KEY, api_url_key=URL_KEY, base_url=BASE, ingest_timeunit="seconds", thread_count=2) as hec:
    ok = hec.test_connection()
    status = hec.send_event(
        {{"host": "web1", "run": RUN, "n": 0, "timestamp": 1700000000, "fields": {{"env": "prod"}}}}
    )
    count = hec.send_event_list(
        [{{"host": "web1", "run": RUN, "n": i, "timestamp": 1700000000 + i}} for i in range(1, 21)]
    )
    progress = list(
        hec.send_event_list([{{"run": RUN, "n": i, "user": {{"name": "a"}}}} for i in range(21, 26)], show_progress=True)
    )
    print(ok, status, count, progress[-1], hec.last_status, hec.ingest_format, hec.raw_ingest)
"""


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Path]]:
    where = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca_file, cert_file, key_file = where / "ca.pem", where / "cert.pem", where / "key.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    args = ["--tls-cert", str(cert_file), "--tls-key", str(key_file)]
    with run_server(where / "data", args=args) as server:
        yield server, ca_file


def _run(import_line: str, server: RunningServer, ca_file: Path, run: str) -> str:
    script = SCRIPT.format(import_line=import_line)
    env = {**os.environ, "REQUESTS_CA_BUNDLE": str(ca_file), "SSL_CERT_FILE": str(ca_file)}
    assert server.api_key
    argv = [
        sys.executable,
        "-c",
        script,
        server.api_key,
        f"127.0.0.1:{server.port}/x",
        server.url,
        run,
    ]
    out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def _comparable(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Events without their run marker; for "now" timestamps, without the time itself."""
    out = []
    for e in events:
        event = {**e["event"], "run": "-"}
        time = e["time"]
        if "user" in event:
            assert event["timeunit"] == "seconds" and time == event["timestamp"] * 10**9
            event["timestamp"] = time = None
        out.append((event["n"], repr(event), time, repr(e.get("fields"))))
    return sorted(out)


def test_a_falconpy_script_ported_by_changing_the_import_stores_the_same_events(
    tls_server: tuple[RunningServer, Path],
) -> None:
    server, ca_file = tls_server
    falcon_run, lake_run = uuid.uuid4().hex[:8], uuid.uuid4().hex[:8]
    falcon_out = _run("from falconpy import HEC", server, ca_file, falcon_run)
    lake_out = _run("from lakehose.client import HEC", server, ca_file, lake_run)
    assert falcon_out == lake_out == "True 200 20 5 200 application/json False"

    stored = stored_events(server.data_dir)
    falcon = [
        e for e in stored if isinstance(e["event"], dict) and e["event"].get("run") == falcon_run
    ]
    lake = [e for e in stored if isinstance(e["event"], dict) and e["event"].get("run") == lake_run]
    assert len(falcon) == len(lake) == 26
    assert _comparable(falcon) == _comparable(lake)
    connection_tests = [
        e["event"]
        for e in stored
        if isinstance(e["event"], dict) and e["event"].get("test") == "connection"
    ]
    assert len(connection_tests) >= 2 and all(
        t["host"] == "connection_test" for t in connection_tests
    )
