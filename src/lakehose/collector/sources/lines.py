"""Splitting a byte stream into lines, carrying a partial last line to the next chunk."""

from __future__ import annotations

from lakehose.collector.sources.base import truncate


class LineSplitter:
    """``feed`` bytes, get complete lines as text; ``close`` returns the unterminated rest."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self.pending = b""

    def feed(self, data: bytes) -> list[str]:
        buf = self.pending + data if self.pending else data
        cut = buf.rfind(b"\n")
        if cut < 0:
            if len(buf) >= self.max_size:
                self.pending = b""
                return [truncate(buf.decode("utf-8", "replace"), self.max_size)]
            self.pending = buf
            return []
        self.pending = buf[cut + 1 :]
        body = buf[:cut]
        texts = body.decode("utf-8", "replace").split("\n")
        if b"\r" in body:
            texts = [t.removesuffix("\r") for t in texts]
        if len(body) > self.max_size:
            texts = [truncate(t, self.max_size) for t in texts]
        return texts

    def close(self) -> list[str]:
        rest, self.pending = self.pending, b""
        return [truncate(rest.decode("utf-8", "replace"), self.max_size)] if rest else []
