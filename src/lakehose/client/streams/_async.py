"""``AsyncStreamConsumer``: the asyncio twin of ``StreamConsumer``, one task per partition.

The same flows (``_reconnect``), offsets and refresh schedule as the threaded
consumer; a discovery task, a reader task per partition and a keeper task put
events on a bounded ``asyncio.Queue``. ``aclose()`` cancels the tasks, which closes
their responses.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Coroutine, Generator
from types import TracebackType
from typing import Any, TypeVar

import httpx

from lakehose.client._errors import response_error, transport_error
from lakehose.client.hec.flow import Wait
from lakehose.client.streams._base import CLOSED, NO_EVENT, BaseStreamConsumer, Failure
from lakehose.client.streams.event_streams import AsyncEventStreams
from lakehose.client.streams.feed import FeedLineError
from lakehose.client.streams.reconnect import (
    Connect,
    Discover,
    Discovered,
    FeedEnd,
    Reply,
    Step,
    discovery_flow,
)
from lakehose.errors import LakehoseError, TransportError

T = TypeVar("T")


class AsyncStreamConsumer(BaseStreamConsumer):
    """:class:`~lakehose.client.StreamConsumer` for asyncio: the same keywords;
    ``async with``, ``async for event in consumer``, ``await poll(timeout)``,
    ``await commit()``, ``await aclose()``.

    Checkpoint saves run on the event loop (one small write and fsync per commit).
    """

    _api: AsyncEventStreams | None
    _feeds: httpx.AsyncClient | None

    def _setup(self) -> None:
        self._started = False
        self._queue: asyncio.Queue[Any] | None = None
        self._keeper_wake: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._api = None
        self._feeds = None

    # life cycle --------------------------------------------------------------------------

    async def start(self) -> AsyncStreamConsumer:
        """Start discovering and reading (``poll`` and iteration start it too)."""
        if self._started or self._closed:
            return self
        self._started = True
        self._queue = asyncio.Queue(self.max_pending)
        self._keeper_wake = asyncio.Event()
        self._api = AsyncEventStreams(self.auth, timeout=self.timeout, verify=self.verify)
        self._feeds = httpx.AsyncClient(**self._feed_client_options())
        self._spawn(self._bootstrap())
        self._spawn(self._keep_sessions())
        return self

    async def __aenter__(self) -> AsyncStreamConsumer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._shutdown(clean=exc_type is None)

    async def aclose(self) -> None:
        """Stop reading, close the connections, and (with auto-commit) save the offsets."""
        await self._shutdown(clean=True)

    async def _shutdown(self, clean: bool) -> None:
        if self._closed:
            return
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._queue is not None:
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(CLOSED)
        if self._feeds is not None:
            await self._feeds.aclose()
        if self._api is not None:
            await self._api.aclose()
        self._closing(clean)

    # the caller's side -------------------------------------------------------------------

    async def poll(self, timeout: float | None = None) -> Any:
        """The next event, waiting up to ``timeout`` seconds (None: for ever); None when
        none came in time or the consumer is closed."""
        if self._closed:
            return None
        await self.start()
        assert self._queue is not None
        self._offsets.came_back()
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._closed:
            self._commit_if_due()
            event = self._next_event()
            if event is not NO_EVENT:
                return event
            wait = self._wait_for(deadline)
            try:
                if wait is None:
                    got = await self._queue.get()
                elif wait <= 0:
                    got = self._queue.get_nowait()
                else:
                    got = await asyncio.wait_for(self._queue.get(), wait)
            except (TimeoutError, asyncio.QueueEmpty):
                if deadline is not None and time.monotonic() >= deadline:
                    return None
                continue
            if got is CLOSED:
                return None
            if isinstance(got, Failure):
                await self._shutdown(clean=False)
                raise got.error
            self._take_block(*got)
        return None

    async def __aiter__(self) -> AsyncIterator[Any]:
        while True:
            event = await self.poll()
            if event is None:
                return
            yield event

    async def commit(self) -> dict[int, int]:
        """Save the offsets of every event handed out so far; return what is committed."""
        return self._commit_all()

    # tasks -------------------------------------------------------------------------------

    def _schedule_changed(self) -> None:
        if self._keeper_wake is not None:
            self._keeper_wake.set()

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(self._guard(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guard(self, work: Coroutine[Any, Any, Any]) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            assert self._queue is not None
            await self._queue.put(Failure(exc))

    async def _bootstrap(self) -> None:
        attempt = 0
        while True:  # the server's positions first (commit="server"/"both"), if it is up
            try:
                await asyncio.to_thread(self._load_positions)
                break
            except LakehoseError as exc:
                attempt += 1
                await asyncio.sleep(self._positions_failed(exc, attempt))
        streams = await self._drive(discovery_flow(self.policy), None)
        for partition, flow in self._partition_flows(streams):
            self._spawn(self._drive(flow, partition))

    async def _drive(self, flow: Generator[Step, Reply, T], partition: int | None) -> T:
        reply: Reply = None
        try:
            step = next(flow)
            while True:
                if isinstance(step, Wait):
                    self._waiting(step, reconnect=partition is not None)
                    await asyncio.sleep(step.seconds)
                    reply = None
                elif isinstance(step, Discover):
                    reply = await self._discover()
                else:
                    reply = await self._read(step)
                step = flow.send(reply)
        except StopIteration as done:
            result: T = done.value
            return result

    async def _discover(self) -> Discovered:
        assert self._api is not None
        try:
            return self._discovered(await self._api.discover(self.app_id, self.format))
        except LakehoseError as exc:
            return self._discovered(exc)

    async def _read(self, connect: Connect) -> FeedEnd:
        assert self._feeds is not None and self._queue is not None
        stream = connect.stream
        p = stream.partition
        what = f"data feed of partition {p}"
        cutter = self._cutter_for(p)
        cutter.reset()
        headers = {"Authorization": f"Token {stream.session_token}"}
        status: int | None = None
        events = 0
        try:
            async with self._feeds.stream("GET", connect.url, headers=headers) as response:
                status = response.status_code
                if status != 200:
                    await response.aread()
                    return FeedEnd(status, 0, response_error(response, what))
                self._opened(stream)
                try:
                    async for chunk in response.aiter_bytes():
                        block = cutter.feed(chunk)
                        if block:
                            events += block.count(b"\n")
                            await self._queue.put((p, block))
                    block = cutter.finish()
                    if block:
                        events += block.count(b"\n")
                        await self._queue.put((p, block))
                finally:
                    self._closed_feed(p)
            return FeedEnd(200, events)
        except httpx.HTTPError as exc:
            return FeedEnd(status, events, transport_error(exc, what))
        except (FeedLineError, OSError) as exc:
            return FeedEnd(status, events, TransportError(f"{what}: {exc}"))

    async def _keep_sessions(self) -> None:
        assert self._keeper_wake is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._keeper_wake.wait(), self._refresh_wait())
            self._keeper_wake.clear()
            for partition in self._due_refreshes():
                await self._refresh(partition)

    async def _refresh(self, partition: int) -> None:
        assert self._api is not None
        try:
            await self._api.refresh_active_stream(partition=partition, app_id=self.app_id)
        except LakehoseError as exc:
            self._refreshed(partition, exc)
        else:
            self._refreshed(partition, None)
