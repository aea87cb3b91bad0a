"""Per-connection parts of uvicorn's protocol that cost nothing until they are used.

An idle keep-alive connection should hold little more than its socket: a worker is
meant to keep ten thousand of them. uvicorn gives every connection a ``deque`` for
pipelined requests and an ``asyncio.Event`` (with its own ``deque``) for write
back-pressure, about 2 kB together, used by almost none. These stand-ins make them
when first needed.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from uvicorn.protocols.http.flow_control import FlowControl


class LazyPipeline:
    """The queue of pipelined ASGI requests (``appendleft``, ``pop``, truth), made on first use."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: deque[Any] | None = None

    def __bool__(self) -> bool:
        return bool(self._items)

    def __len__(self) -> int:
        return len(self._items) if self._items else 0

    def appendleft(self, item: Any) -> None:
        if self._items is None:
            self._items = deque()
        self._items.appendleft(item)

    def pop(self) -> Any:
        if not self._items:
            raise IndexError("pop from an empty pipeline")
        return self._items.pop()


class LeanFlowControl(FlowControl):
    """uvicorn's flow control with its "writable" event made only when a writer must wait."""

    def __init__(self, transport: asyncio.Transport) -> None:  # no super(): no event yet
        self._transport = transport
        self.read_paused = False
        self.write_paused = False
        self._writable: asyncio.Event | None = None

    async def drain(self) -> None:
        if not self.write_paused:
            return
        if self._writable is None:
            self._writable = asyncio.Event()
        await self._writable.wait()

    def pause_writing(self) -> None:
        if not self.write_paused:
            self.write_paused = True
            if self._writable is not None:
                self._writable.clear()

    def resume_writing(self) -> None:
        if self.write_paused:
            self.write_paused = False
            if self._writable is not None:
                self._writable.set()
