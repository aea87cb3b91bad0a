"""The "physical limit" peer: HTTP responders that answer HEC ``200`` and store nothing.

They run in lakehose's process model (one Python process, uvloop, httptools), so a run
against them says what the process could do at most, and lakehose's rate divided by
theirs is how close it comes:

- ``httptools``: an ``asyncio.Protocol`` feeding httptools, answering every complete
  request with a canned ``{"text":"Success","code":0}`` (what HTTP parsing itself costs);
- ``uvicorn``: the same canned answer from a bare ASGI app under uvicorn's httptools
  protocol (what the ASGI server costs before any application code runs).

    python -m bench.peer --port 8089 --mode httptools &
    BENCH_TOKEN=x python -m bench single --url http://127.0.0.1:8089 --server-pid $!
"""

from __future__ import annotations

import argparse
import asyncio
import socket
from typing import Any

REPLY = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=UTF-8\r\n"
    b"content-length: 27\r\n\r\n"
    b'{"text":"Success","code":0}'
)


class CannedProtocol(asyncio.Protocol):
    """One connection: parse with httptools, answer each complete request at once."""

    def __init__(self) -> None:
        import httptools

        self.parser = httptools.HttpRequestParser(self)
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        import httptools

        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def on_message_complete(self) -> None:
        self.transport.write(REPLY)


async def _canned_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    while True:
        message = await receive()
        if not message.get("more_body"):
            break
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json; charset=UTF-8")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"text":"Success","code":0}'})


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(4096)
    return sock


def serve(mode: str, host: str, port: int) -> None:
    import uvloop

    sock = _listen(host, port)
    print(f"peer {mode} listening on {host}:{sock.getsockname()[1]}", flush=True)
    if mode == "uvicorn":
        import uvicorn

        config = uvicorn.Config(
            _canned_app,
            loop="uvloop",
            http="httptools",
            lifespan="off",
            access_log=False,
            log_config=None,
        )
        uvicorn.Server(config).run(sockets=[sock])
        return

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(CannedProtocol, sock=sock)
        async with server:
            await server.serve_forever()

    uvloop.run(main())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--mode", choices=("httptools", "uvicorn"), default="httptools")
    args = parser.parse_args(argv)
    serve(args.mode, args.host, args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
