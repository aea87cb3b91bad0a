"""A Delivery that records what sources put, for tests of sources alone (no sink involved)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lakehose.collector.delivery import CollectedEvent


class RecordingDelivery:
    """Keeps every put; receipts resolve at once, or when the test says (``hold=True``)."""

    def __init__(self, hold: bool = False) -> None:
        self.hold = hold
        self.events: list[CollectedEvent] = []
        self.receipts: list[asyncio.Future[None]] = []

    async def put(self, events: Sequence[CollectedEvent]) -> asyncio.Future[None]:
        self.events.extend(events)
        receipt: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not self.hold:
            receipt.set_result(None)
        self.receipts.append(receipt)
        return receipt

    def resolve(self) -> None:
        for r in self.receipts:
            if not r.done():
                r.set_result(None)

    async def aclose(self) -> None:
        for r in self.receipts:
            if not r.done():
                r.set_exception(ConnectionError("delivery closed"))

    def stats(self) -> Mapping[str, int]:
        return {"sent": len(self.events)}

    @property
    def texts(self) -> list[str]:
        return [e.text for e in self.events]


async def until(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll ``predicate`` in the event loop; fail the test when it stays false."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)
