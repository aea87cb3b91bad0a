"""The sink's ``proxy`` key with tunnelling proxies: SOCKS5 (``socks5://``, and
``socks5h://`` where the proxy resolves the name) and HTTP ``CONNECT`` to an https HEC,
each carrying events into a real lakehose."""

from __future__ import annotations

import uuid
from pathlib import Path

import trustme

from lakehose.testing import RunningServer, run_server
from tests.collector.sink.sinktools import lake_numbers, marked, sink_for
from tests.collector.sink.test_sink_protocol import deliver
from tests.collector.sink.tunnel import tunnel


def test_a_socks5_proxy_carries_events_into_the_lake(server: RunningServer, tmp_path: Path) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    run = uuid.uuid4().hex[:12]
    with tunnel() as proxy:
        sink = sink_for(server, proxy=f"socks5://{proxy.address}")
        stats = deliver(sink, tmp_path, marked(run, 0, 50))
    assert proxy.targets and set(proxy.targets) == {("socks5", "127.0.0.1", port)}
    assert stats["sent"] == 50 and lake_numbers(server, run) == {n: 1 for n in range(50)}


def test_socks5h_leaves_the_name_to_the_proxy(server: RunningServer, tmp_path: Path) -> None:
    """``lake.invalid`` cannot be resolved here: only the proxy knows where it is."""
    port = int(server.url.rsplit(":", 1)[1])
    run = uuid.uuid4().hex[:12]
    with tunnel(aliases={"lake.invalid": "127.0.0.1"}) as proxy:
        sink = sink_for(
            server, url=f"http://lake.invalid:{port}", proxy=f"socks5h://{proxy.address}"
        )
        stats = deliver(sink, tmp_path, marked(run, 0, 5))
    assert set(proxy.targets) == {("socks5", "lake.invalid", port)}
    assert stats["sent"] == 5 and lake_numbers(server, run) == {n: 1 for n in range(5)}


def test_an_http_connect_proxy_tunnels_tls_to_an_https_hec(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_path, key_path, ca_path = (tmp_path / n for n in ("cert.pem", "key.pem", "ca.pem"))
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    ca.cert_pem.write_to_path(str(ca_path))
    args = ["--tls-cert", str(cert_path), "--tls-key", str(key_path)]
    run = uuid.uuid4().hex[:12]
    with run_server(tmp_path / "lake", args=args) as server, tunnel() as proxy:
        port = int(server.url.rsplit(":", 1)[1])
        sink = sink_for(server, ca_file=ca_path, proxy=f"http://{proxy.address}")
        stats = deliver(sink, tmp_path / "state", marked(run, 0, 5))
        assert set(proxy.targets) == {("connect", "127.0.0.1", port)}
        assert stats["sent"] == 5 and lake_numbers(server, run) == {n: 1 for n in range(5)}
