"""Read a request body within a size limit and a time limit, then decompress it within the limit;
or read a small JSON body (``json_body``) for the REST routes.

Decompression is bounded while it runs (``max_length`` for zlib, bounded reads for
zstd), so a compression bomb costs at most the limit in memory, never its
expanded size.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
import zstandard
from starlette.requests import Request

from lakehose.server.replies.errors import ApiError

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


class BodyError(Exception):
    """The body cannot be used: ``kind`` is too_large, bad_encoding, unsupported, timeout, gone."""

    def __init__(self, kind: str, detail: str) -> None:
        self.kind = kind
        self.detail = detail
        super().__init__(detail)


class BodyDeadlines:
    """Cuts off body reads that stall: a sweep a second, rather than a timer per request.

    A reader registers its task and stamps it at each chunk; the sweep cancels any task
    whose last stamp is older than the timeout, and :func:`read_body` turns that
    cancellation into ``BodyError("timeout")``. A timer per request (``asyncio.timeout``)
    costs every small request ~12 µs here; a dictionary stamp costs a fraction of that.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.reading: dict[asyncio.Task[Any], float] = {}
        self.expired: set[asyncio.Task[Any]] = set()

    def sweep(self, now: float) -> None:
        limit = now - self.timeout
        for task, stamp in list(self.reading.items()):
            if stamp < limit and task not in self.expired:
                self.expired.add(task)
                task.cancel()


async def read_body(
    receive: Receive, content_length: int | None, limit: int, deadlines: BodyDeadlines
) -> bytes:
    """The raw body, at most ``limit`` bytes, each chunk arriving within the deadline."""
    if content_length is not None and content_length > limit:
        raise BodyError(
            "too_large", f"body of {content_length} bytes exceeds the {limit}-byte limit"
        )
    task = asyncio.current_task()
    assert task is not None
    loop = task.get_loop()
    reading = deadlines.reading
    chunks: list[bytes] = []
    size = 0
    reading[task] = loop.time()
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise BodyError("gone", "client disconnected")
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise BodyError("too_large", f"body exceeds the {limit}-byte limit")
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
            reading[task] = loop.time()
    except asyncio.CancelledError:
        if task in deadlines.expired:
            task.uncancel()
            raise BodyError("timeout", f"no body data for {deadlines.timeout:g} s") from None
        raise
    finally:
        del reading[task]
        deadlines.expired.discard(task)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _gunzip(data: bytes, limit: int) -> bytes:
    out = bytearray()
    while data:
        d = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header
        try:
            while True:
                out += d.decompress(data, limit + 1 - len(out))
                if len(out) > limit:
                    raise BodyError(
                        "too_large", f"decompressed body exceeds the {limit}-byte limit"
                    )
                if d.eof or not d.unconsumed_tail:
                    break
                data = d.unconsumed_tail
            if not d.eof:
                out += d.flush(limit + 1 - len(out))
                if not d.eof:
                    raise BodyError("bad_encoding", "gzip body is truncated")
        except zlib.error as exc:
            raise BodyError("bad_encoding", f"gzip body does not decode: {exc}") from None
        data = d.unused_data.lstrip(b"\0")
    if len(out) > limit:
        raise BodyError("too_large", f"decompressed body exceeds the {limit}-byte limit")
    return bytes(out)


def _unzstd(data: bytes, limit: int) -> bytes:
    out = bytearray()
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True)
        while True:
            chunk = reader.read(min(1 << 20, limit + 1 - len(out)))
            if not chunk:
                break
            out += chunk
            if len(out) > limit:
                raise BodyError("too_large", f"decompressed body exceeds the {limit}-byte limit")
    except zstandard.ZstdError as exc:
        raise BodyError("bad_encoding", f"zstd body does not decode: {exc}") from None
    return bytes(out)


def decode_content(body: bytes, encoding: str, limit: int, *, allow_zstd: bool = True) -> bytes:
    """``body`` decoded per its ``Content-Encoding`` (``""``/identity, gzip, zstd)."""
    enc = encoding.strip().lower()
    if enc in ("", "identity"):
        return body
    if enc in ("gzip", "x-gzip"):
        return _gunzip(body, limit)
    if enc == "zstd" and allow_zstd:
        return _unzstd(body, limit)
    raise BodyError(
        "unsupported", f"content encoding {encoding!r} is not supported (use gzip or zstd)"
    )


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    return body
