"""A wake-up call that any number of coroutines can wait for, fired from plain code."""

from __future__ import annotations

import asyncio
import contextlib


class Signal:
    """``await signal.wait(timeout)`` returns at the next ``fire()`` (or the timeout).

    Unlike ``asyncio.Event`` it re-arms itself: each ``fire`` wakes the coroutines waiting
    then, and a later ``wait`` waits for the next one.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float | None = None) -> None:
        event = self._event
        if timeout is None:
            await event.wait()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), max(0.0, timeout))
