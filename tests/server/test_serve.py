"""`lakehose serve` starts clearly or fails clearly: TLS, bad data directories, busy ports."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from lakehose.testing import run_server
from tests.helpers import cli


def test_tls_serves_https_with_the_given_certificate(tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    with run_server(
        tmp_path / "data", args=["--tls-cert", str(cert_path), "--tls-key", str(key_path)]
    ) as server:
        assert server.url.startswith("https://")
        context = ssl.create_default_context()
        ca.configure_trust(context)
        reply = httpx.post(
            server.hec_url,
            content=b'{"event":"over tls"}',
            headers={"Authorization": f"Splunk {server.api_key}"},
            verify=context,
        )
        assert reply.json() == {"text": "Success", "code": 0}
        with pytest.raises(httpx.HTTPError):
            httpx.post(server.hec_url.replace("https", "http"), content=b"{}", timeout=5)

        # over TLS the console's cookies are Secure as well as HttpOnly and SameSite=Strict
        from tests.console.session import create_user, sign_in_http

        create_user(server.data_dir, "tls-admin", "admin", "a long password")
        with httpx.Client(base_url=server.url, verify=context) as console:
            sign_in_http(console, "tls-admin", "a long password")
            cookie = next(c for c in console.cookies.jar if c.name == "lakehose_session")
            assert cookie.secure and cookie.has_nonstandard_attr("HttpOnly")
            assert cookie.get_nonstandard_attr("SameSite") == "strict"


def test_a_read_only_data_directory_is_a_clear_error_with_exit_code_2(tmp_path: Path) -> None:
    data = tmp_path / "ro"
    data.mkdir()
    if os.geteuid() == 0:  # root writes through permissions: use a read-only mount instead
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(data)])
        assert mounted.returncode == 0, "root could not mount a read-only tmpfs"
    else:
        data.chmod(0o500)
    try:
        proc = cli("serve", "--port", "0", data_dir=data, check=False)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(data)], check=True)
        data.chmod(0o700)
    assert proc.returncode == 2
    assert "not writable" in proc.stderr


def test_a_data_directory_that_is_a_file_is_a_clear_error_with_exit_code_2(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    proc = cli("serve", "--port", "0", data_dir=path, check=False)
    assert proc.returncode == 2
    assert "error: data directory" in proc.stderr


def test_a_port_in_use_is_refused(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = cli("serve", "--port", str(port), data_dir=tmp_path / "data", check=False)
        assert proc.returncode == 2
        assert proc.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}")


def test_two_servers_cannot_share_a_data_directory(tmp_path: Path) -> None:
    with run_server(tmp_path / "data"):
        proc = cli("serve", "--port", "0", data_dir=tmp_path / "data", check=False)
        assert proc.returncode == 2
        assert "another lakehose server is using it" in proc.stderr


def test_bad_settings_are_refused_with_exit_code_2(tmp_path: Path) -> None:
    for args in (
        ["--workers", "0"],
        ["--max-body-bytes", "lots"],
        ["--durability", "maybe"],
        ["--tls-cert", "x.pem"],
    ):
        proc = cli("serve", *args, data_dir=tmp_path / "data", check=False)
        assert proc.returncode == 2, args
        assert proc.stderr.startswith("error:"), proc.stderr


def test_sigterm_stops_every_worker_and_frees_the_port(tmp_path: Path) -> None:
    with run_server(tmp_path / "data", workers=2) as server:
        port = server.port
        assert server.stop() == 0
    with socket.socket() as probe:  # nothing listens there any more (TIME_WAIT may linger)
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))


def test_the_listening_line_comes_only_once_every_worker_serves(tmp_path: Path) -> None:
    """A user who sends at once after "Listening on" must not be refused."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOSE_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lakehose",
            "serve",
            "--data-dir",
            str(tmp_path / "data"),
            "--port",
            "0",
            "--workers",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        key = url = None
        for line in proc.stdout:
            if line.strip() and key == "":
                key = line.strip()
            if "shown only this once" in line:
                key = ""
            if "Its API key is in " in line:
                key = Path(line.split("Its API key is in ")[1].split(" (")[0]).read_text().strip()
            if line.startswith("Listening on "):
                url = line.split()[2]
                break
        assert key and url
        with httpx.Client(headers={"Authorization": f"Splunk {key}"}) as client:
            for _ in range(8):  # new connections, so the kernel hands them to both workers
                reply = client.post(
                    url + "/services/collector",
                    content=b'{"event":"now"}',
                    headers={"Connection": "close"},
                )
                assert reply.json() == {"text": "Success", "code": 0}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        if proc.stdout is not None:
            proc.stdout.close()
