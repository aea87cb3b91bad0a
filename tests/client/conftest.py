"""A tiny real HTTP server that answers from a script, for retry and header tests."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

import pytest
import zstandard

from tests.loopback import Answer, loopback_http

SUCCESS = (200, b'{"text":"Success","code":0}', {})


@dataclass
class Seen:
    """A request the scripted server received (body decompressed)."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    peer_port: int


@dataclass
class ScriptedHEC:
    """Answers requests in turn from ``script`` (status, body, headers), then with Success.

    A status of 0 drops the connection without an answer.
    """

    script: list[tuple[int, bytes, dict[str, str]]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_answer(self) -> tuple[int, bytes, dict[str, str]]:
        with self.lock:
            return self.script.pop(0) if self.script else SUCCESS


@pytest.fixture
def scripted() -> Iterator[ScriptedHEC]:
    state = ScriptedHEC()

    def respond(request: BaseHTTPRequestHandler, body: bytes) -> Answer:
        encoding = request.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "zstd":
            body = zstandard.ZstdDecompressor().decompressobj().decompress(body)
        seen = Seen(
            request.path, dict(request.headers), body, time.monotonic(), request.client_address[1]
        )
        with state.lock:
            state.seen.append(seen)
        status, answer, headers = state.next_answer()
        return None if status == 0 else (status, answer, headers)

    with loopback_http(respond) as url:
        state.url = url
        yield state
