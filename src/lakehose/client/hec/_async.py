"""``AsyncHEC``: the asyncio twin of ``HEC``, with the same keywords and method names."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sized
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from orjson import dumps

from lakehose.client.hec._base import BaseHEC, Event, acked_events, error_reply
from lakehose.client.hec.batching import Batch
from lakehose.client.hec.flow import Post, Reply, Wait, send_flow
from lakehose.client.hec.inputs import open_input, read_lines
from lakehose.client.hec.progress import OnBatch, ProgressBar
from lakehose.client.hec.result import BatchOutcome, SendResult


class AsyncHEC(BaseHEC):
    """``HEC`` for asyncio: ``await hec.send_event(...)``, ``async with``, ``aclose()``.

    Same keywords and results as :class:`lakehose.client.HEC`; ``thread_count`` is the
    number of requests in flight at once. Encoding and compression run on the event
    loop, a batch at a time (about 1 MiB each by default).
    """

    _client: httpx.AsyncClient

    def _setup(self) -> None:
        limits = httpx.Limits(
            max_connections=None, max_keepalive_connections=max(20, self.thread_count)
        )
        self._client = httpx.AsyncClient(
            timeout=self.ingest_timeout, verify=self.verify, limits=limits
        )

    async def __aenter__(self) -> AsyncHEC:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections."""
        await self._client.aclose()

    async def send_event(self, event: Event) -> int | None:
        """Send one event (FalconPy's normalisation); return the HTTP status."""
        outcome = await self._drive(self._one_event_batch(event))
        result = SendResult()
        result.add(outcome)
        self.last_result = result
        return self.last_status

    async def send_event_list(
        self, event_list: Iterable[Event], show_progress: bool = False
    ) -> int | AsyncIterator[int]:
        """Send many events, batched; return how many were accepted.

        With ``show_progress``, return an async iterator of the running accepted count,
        one item per event, that sends as it is consumed.
        """
        batches = self._falcon_batches(event_list)
        if show_progress:
            return self._running_counts(batches)
        return (await self._send(batches, "EVENT LIST")).accepted

    async def send_event_file(self, event_file: str | Path) -> int | None:
        """Send a file's lines, as :meth:`HEC.send_event_file` does."""
        self._debug("EVENT FILE: %s", event_file)
        with open_input(event_file) as (stream, _):
            await self._send(self._line_batches(read_lines(stream)), "EVENT FILE")
        return self.last_status

    async def test_connection(self) -> bool:
        """Send FalconPy's test event; True when it is accepted."""
        return await self.send_event({"host": "connection_test", "test": "connection"}) == 200

    async def send_events(
        self, events: Iterable[Any], *, progress: bool | OnBatch = False
    ) -> SendResult:
        """Send HEC envelopes (or raw lines with ``raw_ingest``); see :meth:`HEC.send_events`."""
        batches = self._envelope_batches(events)
        if progress is True:
            total = len(events) if isinstance(events, Sized) else None
            with ProgressBar(total) as bar:
                return await self._send(batches, "EVENTS", bar)
        return await self._send(batches, "EVENTS", progress or None)

    # driving ------------------------------------------------------------------------------

    async def _send(
        self, batches: Iterator[Batch], what: str, on_batch: OnBatch | None = None
    ) -> SendResult:
        result = SendResult()
        started = time.perf_counter()
        self._acks.take()  # ids of earlier sends are not this send's to count
        try:
            async for outcome in self._outcomes(batches):
                result.add(outcome)
                if on_batch is not None:
                    on_batch(outcome, result)
            if self.ack:
                result.acknowledged = await self.wait_for_acks()
        finally:
            result.elapsed = time.perf_counter() - started
            self.last_result = result
            self._log_result(what, result)
        return result

    async def wait_for_acks(self) -> int:
        """Poll ``/services/collector/ack`` until every ackId handed out so far is durable, or
        ``ack_timeout`` passes; the number of events acknowledged (see ``HEC``)."""
        pending = self._acks.take()
        acknowledged = 0
        deadline = time.monotonic() + self.ack_timeout
        delay = 0.05
        while pending:
            try:
                response = await self._client.post(
                    self.ack_url,
                    content=dumps({"acks": sorted(pending)}),
                    headers=self.request_headers(Post(b"", False, 0, 0), None),
                    timeout=self.ingest_timeout,
                )
                done, pending = acked_events(pending, response.json())
                acknowledged += done
            except (httpx.HTTPError, ValueError) as exc:
                self._debug("ACK POLL FAILED: %s", exc)
            if not pending or time.monotonic() + delay > deadline:
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
        return acknowledged

    async def _running_counts(self, batches: Iterator[Batch]) -> AsyncIterator[int]:
        result = SendResult()
        accepted = 0
        started = time.perf_counter()
        try:
            async for outcome in self._outcomes(batches):
                result.add(outcome)
                for ok in self._accepted_flags(outcome):
                    accepted += ok
                    yield accepted
        finally:
            result.elapsed = time.perf_counter() - started
            self.last_result = result
            self._log_result("EVENT LIST", result)

    async def _outcomes(self, batches: Iterator[Batch]) -> AsyncIterator[BatchOutcome]:
        """Each batch's outcome as it finishes, with up to ``thread_count`` in flight."""
        limit = self.thread_count
        running: set[asyncio.Task[BatchOutcome]] = set()
        try:
            for batch in batches:
                running.add(asyncio.create_task(self._drive(batch)))
                if len(running) >= limit:
                    done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        yield task.result()
            while running:
                done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    yield task.result()
        finally:
            if running:
                await asyncio.wait(running)

    async def _drive(self, batch: Batch) -> BatchOutcome:
        compression = self.compression
        flow = send_flow(batch, self.retry_policy, compression)
        try:
            step = next(flow)
            while True:
                if isinstance(step, Wait):
                    self._log_wait(step)
                    await asyncio.sleep(step.seconds)
                    step = flow.send(None)
                else:
                    step = flow.send(await self._post(step, compression))
        except StopIteration as done:
            outcome: BatchOutcome = done.value
        self._finish(outcome)
        return outcome

    async def _post(self, post: Post, compression: str | None) -> Reply:
        url = self.url_for(post)
        headers = self.request_headers(post, compression)
        self._log_post(post, url, headers)
        try:
            response = await self._client.post(
                url, content=post.body, headers=headers, timeout=self.ingest_timeout
            )
        except httpx.HTTPError as exc:
            reply = error_reply(exc)
        else:
            reply = Reply(
                response.status_code, response.content, response.headers.get("retry-after")
            )
        self._log_reply(reply)
        if self.ack:
            self._acks.note(post.events, reply)
        return reply
