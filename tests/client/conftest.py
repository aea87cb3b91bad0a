"""A tiny real HTTP server that answers from a script, for retry and header tests."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import zstandard

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

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            encoding = self.headers.get("Content-Encoding", "")
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "zstd":
                body = zstandard.ZstdDecompressor().decompressobj().decompress(body)
            with state.lock:
                state.seen.append(
                    Seen(
                        self.path,
                        dict(self.headers),
                        body,
                        time.monotonic(),
                        self.client_address[1],
                    )
                )
            status, answer, headers = state.next_answer()
            if status == 0:
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
