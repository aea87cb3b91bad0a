"""``AsyncHEC``: the asyncio twin of ``HEC``, with the same keywords and method names."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from lakehose.client.hec._base import BaseHEC, Event
from lakehose.client.hec.batching import Batch
from lakehose.client.hec.flow import Post, Reply, Wait, send_flow
from lakehose.client.hec.inputs import open_input, read_lines
from lakehose.client.hec.progress import OnBatch
from lakehose.client.hec.result import BatchOutcome, SendResult


class AsyncHEC(BaseHEC):
    """``HEC`` for asyncio: ``await hec.send_event(...)``, ``async with``, ``aclose()``.

    Same keywords and results as :class:`lakehose.client.HEC`; ``thread_count`` is the
    number of requests in flight at once. Encoding and compression run on the event
    loop, a batch at a time (about 1 MiB each by default).
    """

    _client: httpx.AsyncClient

    def _setup(self) -> None:
        limits = self._client_limits()
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
        return self._single(await self._drive(self._one_event_batch(event)))

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
        with self._progress(events, progress) as on_batch:
            return await self._send(self._envelope_batches(events), "EVENTS", on_batch)

    # driving ------------------------------------------------------------------------------

    async def _send(
        self, batches: Iterator[Batch], what: str, on_batch: OnBatch | None = None
    ) -> SendResult:
        with self._sending(what) as result:
            self._acks.take()  # ids of earlier sends are not this send's to count
            async for outcome in self._outcomes(batches):
                result.add(outcome)
                if on_batch is not None:
                    on_batch(outcome, result)
            if self.ack:
                result.acknowledged = await self.wait_for_acks()
        return result

    async def wait_for_acks(self) -> int:
        """Poll ``/services/collector/ack`` until every ackId handed out so far is durable, or
        ``ack_timeout`` passes; the number of events acknowledged (see ``HEC``)."""
        polls = self._ack_polls()
        while polls.pending:
            try:
                response = await self._client.post(self.ack_url, **polls.request())
                polls.answered(response.json())
            except (httpx.HTTPError, ValueError) as exc:
                self._debug("ACK POLL FAILED: %s", exc)
            delay = polls.next_delay()
            if delay is None:
                break
            await asyncio.sleep(delay)
        return polls.acknowledged

    async def _running_counts(self, batches: Iterator[Batch]) -> AsyncIterator[int]:
        accepted = 0
        with self._sending("EVENT LIST") as result:
            async for outcome in self._outcomes(batches):
                result.add(outcome)
                for ok in self._accepted_flags(outcome):
                    accepted += ok
                    yield accepted

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
        url, headers = self._request(post, compression)
        try:
            response = await self._client.post(
                url, content=post.body, headers=headers, timeout=self.ingest_timeout
            )
        except httpx.HTTPError as exc:
            return self._reply(post, exc)
        return self._reply(post, response)
