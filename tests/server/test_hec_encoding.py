"""Content-Encoding, size limits and compression bombs: a clear answer, bounded memory."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import zstandard

from lakehose.testing import RunningServer, run_server
from tests.helpers import stored_events

LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server with a 64 KiB body limit."""
    with run_server(
        tmp_path_factory.mktemp("enc") / "data", args=["--max-body-bytes", str(LIMIT)]
    ) as s:
        yield s


def post(
    server: RunningServer,
    body: bytes,
    encoding: str | None = None,
    path: str = "/services/collector",
) -> httpx.Response:
    headers = {"Authorization": f"Splunk {server.api_key}"}
    if encoding is not None:
        headers["Content-Encoding"] = encoding
    return httpx.post(server.url + path, content=body, headers=headers, timeout=30)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_gzip_and_zstd_bodies_are_decoded(small: RunningServer) -> None:
    before = len(stored_events(small.data_dir))
    assert post(small, gzip.compress(b'{"event":"gz"}'), "gzip").json()["code"] == 0
    assert (
        post(small, zstandard.ZstdCompressor().compress(b'{"event":"zs"}'), "zstd").json()["code"]
        == 0
    )
    assert (
        post(small, gzip.compress(b"raw gz line"), "gzip", "/services/collector/raw").json()["code"]
        == 0
    )
    assert post(small, zlib.compress(b'{"event":"zlib-wrapped gzip"}'), "gzip").json()["code"] == 0
    assert (
        post(
            small, gzip.compress(b'{"event":"a"}') + gzip.compress(b'{"event":"b"}'), "gzip"
        ).json()["code"]
        == 0
    )
    assert [e["event"] for e in stored_events(small.data_dir)[before:]] == [
        "gz",
        "zs",
        "raw gz line",
        "zlib-wrapped gzip",
        "a",
        "b",
    ]


@pytest.mark.parametrize("encoding", ["gzip", "zstd"])
def test_a_body_that_does_not_decode_is_code_6_without_an_event_number(
    small: RunningServer, encoding: str
) -> None:
    reply = post(small, b"definitely not compressed", encoding)
    assert (reply.status_code, reply.json()) == (400, {"text": "Invalid data format", "code": 6})
    truncated = gzip.compress(b'{"event":"x"}' * 100)[:-20]
    assert post(small, truncated, "gzip").json()["code"] == 6


@pytest.mark.parametrize("encoding", ["deflate", "br", "compress"])
def test_unsupported_encodings_get_415(small: RunningServer, encoding: str) -> None:
    reply = post(small, b'{"event":"x"}', encoding)
    assert reply.status_code == 415
    assert reply.json() == {"text": "Unsupported content encoding", "code": 415}


def test_identity_encoding_is_accepted(small: RunningServer) -> None:
    assert post(small, b'{"event":"id"}', "identity").json()["code"] == 0


def test_an_oversized_body_gets_413_and_stores_nothing(small: RunningServer) -> None:
    before = len(stored_events(small.data_dir))
    body = b'{"event":"' + b"x" * LIMIT + b'"}'
    reply = post(small, body)
    assert (reply.status_code, reply.json()) == (413, {"text": "Content too large", "code": 413})
    assert len(stored_events(small.data_dir)) == before


def test_an_oversized_chunked_body_without_content_length_gets_413(small: RunningServer) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b'{"event":"' + b"y" * 4000 + b'"}'

    reply = httpx.post(
        small.hec_url, content=chunks(), headers={"Authorization": f"Splunk {small.api_key}"}
    )
    assert reply.status_code == 413


@pytest.mark.parametrize("encoding", ["gzip", "zstd"])
def test_a_compression_bomb_is_refused_without_inflating_memory(
    small: RunningServer, encoding: str
) -> None:
    """200 MB of zeros compressed to a few hundred KB: refused at the 64 KiB limit."""
    assert small.proc is not None
    zeros = b"\0" * (200 * 1024 * 1024)
    bomb = (
        gzip.compress(zeros, 9)
        if encoding == "gzip"
        else zstandard.ZstdCompressor(level=19).compress(zeros)
    )
    del zeros
    with run_server(
        small.data_dir.parent / f"bomb-{encoding}", args=["--max-body-bytes", "1MiB"]
    ) as server:
        assert server.proc is not None
        before = rss_kib(server.proc.pid)
        reply = post(server, bomb, encoding)
        assert (reply.status_code, reply.json()["code"]) == (413, 413)
        grown = rss_kib(server.proc.pid) - before
        assert grown < 64 * 1024, f"peak RSS grew by {grown} KiB decoding a bomb"
        assert server.healthy()


def test_a_decompressed_body_over_the_limit_gets_413(small: RunningServer) -> None:
    body = gzip.compress(b'{"event":"' + b"z" * (LIMIT * 2) + b'"}')
    assert len(body) < LIMIT
    assert post(small, body, "gzip").status_code == 413
