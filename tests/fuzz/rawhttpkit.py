"""A minimal HTTP/1.1 client on a raw socket: it sends exactly the bytes it is given.

httpx and h11 refuse to send malformed heads, NUL bytes or absurd headers, which is
what a fuzzer wants to send. One request per connection (``Connection: close``).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field


@dataclass
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names, last one wins
    body: bytes = b""


def head(
    method: str, target: bytes, headers: list[tuple[bytes, bytes]], body_length: int | None
) -> bytes:
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1"]
    lines += [name + b": " + value for name, value in headers]
    if body_length is not None:
        lines.append(b"Content-Length: %d" % body_length)
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n"


def exchange(port: int, data: bytes, *, stream: bool = False, timeout: float = 60) -> Reply | None:
    """Send ``data``; the reply, or None if none came.

    With ``stream``, a 200 is returned with its head only: a data feed never ends. The
    answer to a HEAD has no body, whatever its Content-Length says.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except OSError:  # the server may answer (413) and close before reading it all
            pass
        try:
            return read_reply(sock, stream=stream, bodiless=data.startswith(b"HEAD "))
        except OSError:  # reset while the body came: the answer was cut short
            return None


def read_reply(sock: socket.socket, *, stream: bool, bodiless: bool) -> Reply | None:
    buffer = b""
    while True:
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            buffer += chunk
        raw_head, _, buffer = buffer.partition(b"\r\n\r\n")
        status_line, *header_lines = raw_head.decode("latin-1").split("\r\n")
        if not status_line.split()[1].startswith("1"):
            break  # (a 100 Continue comes before the answer)
    reply = Reply(int(status_line.split()[1]))
    for line in header_lines:
        name, _, value = line.partition(":")
        reply.headers[name.strip().lower()] = value.strip()
    if bodiless or (stream and reply.status == 200):
        return reply
    if "content-length" in reply.headers:
        size = int(reply.headers["content-length"])
        while len(buffer) < size:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buffer += chunk
        reply.body = buffer[:size]
    elif reply.headers.get("transfer-encoding") == "chunked":
        reply.body = _dechunk(sock, buffer)
    else:
        while chunk := sock.recv(65536):
            buffer += chunk
        reply.body = buffer
    return reply


def _dechunk(sock: socket.socket, data: bytes) -> bytes:
    out = b""
    while True:
        while b"\r\n" not in data:
            data += sock.recv(65536)
        size_text, _, data = data.partition(b"\r\n")
        size = int(size_text.split(b";")[0], 16)
        while len(data) < size + 2:
            data += sock.recv(65536)
        out += data[:size]
        data = data[size + 2 :]
        if size == 0:
            return out
