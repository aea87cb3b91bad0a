"""``HEC``: FalconPy's HEC helper, for any HEC, batched, compressed, retried, on httpx."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
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


class HEC(BaseHEC):
    """Send events to a HEC: CrowdStrike NG-SIEM, lakehose, Splunk or SentinelOne SDL.

    FalconPy's keywords, properties and methods, so that FalconPy code ports by
    changing its import::

        from lakehose.client import HEC
        with HEC(api_key=KEY, base_url="http://127.0.0.1:8088") as hec:
            hec.send_event({"host": "web1", "action": "login"})      # -> 200

    Keywords (FalconPy's): ``api_key``, ``api_url_key`` (NG-SIEM's connector URL key;
    a full URL here counts as ``base_url``), ``debug``, ``ingest_region`` (us1, us2, us3,
    eu1, usgov1, usgov2), ``ingest_format`` (json, yaml, xml, csv: the Content-Type
    sent; the body is JSON, as with FalconPy), ``ingest_timeout`` (5 s),
    ``ingest_timeunit`` (nanoseconds, milliseconds, seconds), ``raw_ingest``,
    ``retry_count`` (3 retries after the first try), ``thread_count`` (requests in
    flight at once, default min(2×CPUs, 50)), ``sanitize_log`` (True: keys masked in the
    debug log).

    Keywords FalconPy lacks: ``base_url`` (any HEC), ``batch_size`` (events per
    request, 1000), ``batch_bytes`` (about 1 MiB per request), ``compression``
    (``"gzip"``, ``"zstd"`` or None), ``auth_scheme`` (``"Bearer"``; ``"Splunk"`` for
    Splunk Enterprise), ``retry_backoff`` (0.5 s), ``verify`` (TLS: True, False or a
    CA bundle path), ``ack`` (indexer acknowledgement: ``send_events`` then waits for
    every ackId, and ``SendResult.acknowledged`` counts the durable events), ``channel``
    (the ``X-Splunk-Request-Channel`` GUID; made up when ``ack`` is on), ``ack_timeout``.

    Events of one request are stored in order; with ``thread_count`` > 1 several
    requests are in flight, so batches may land out of order. ``thread_count=1`` keeps
    the input order.
    """

    _client: httpx.Client
    _pool: ThreadPoolExecutor | None

    def _setup(self) -> None:
        limits = self._client_limits()
        self._client = httpx.Client(timeout=self.ingest_timeout, verify=self.verify, limits=limits)
        self._pool = None

    def __enter__(self) -> HEC:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections and stop the sending threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._client.close()

    # FalconPy's methods -------------------------------------------------------------------

    def send_event(self, event: Event) -> int | None:
        """Send one event (FalconPy's normalisation); return the HTTP status.

        Unlike FalconPy, the status is the answer's even when it is an error (FalconPy
        keeps the previous one), and 500 when no answer came after the retries.
        ``last_result`` says what happened in detail.
        """
        return self._single(self._drive(self._one_event_batch(event)))

    def send_event_list(
        self, event_list: Iterable[Event], show_progress: bool = False
    ) -> int | Iterator[int]:
        """Send many events, batched; return how many were accepted (FalconPy's count).

        With ``show_progress`` return, as FalconPy does, a lazy iterator that sends as it
        is consumed and yields the running count of accepted events once per event (wrap
        it in ``rich.progress.track`` or ``tqdm``). ``last_result`` then holds a
        :class:`SendResult` with exactly which events were accepted.
        """
        batches = self._falcon_batches(event_list)
        if show_progress:
            return self._running_counts(batches)
        return self._send(batches, "EVENT LIST").accepted

    def send_event_file(self, event_file: str | Path) -> int | None:
        """Send a file's lines (gzip detected), FalconPy's way; return the last HTTP status.

        With ``raw_ingest`` the lines go to the raw endpoint; otherwise each request
        carries its lines as one JSON string to the event endpoint (lakehose and NG-SIEM
        store each line as an event; for Splunk use ``raw_ingest=True``).
        """
        self._debug("EVENT FILE: %s", event_file)
        with open_input(event_file) as (stream, _):
            self._send(self._line_batches(read_lines(stream)), "EVENT FILE")
        return self.last_status

    def test_connection(self) -> bool:
        """Send FalconPy's test event ``{"host": "connection_test", "test": "connection"}``;
        True when it is accepted (it is stored, as with FalconPy)."""
        return self.send_event({"host": "connection_test", "test": "connection"}) == 200

    # lakehose's additions -----------------------------------------------------------------

    def send_events(self, events: Iterable[Any], *, progress: bool | OnBatch = False) -> SendResult:
        """Send HEC envelopes (or raw lines with ``raw_ingest``), batched; say which landed.

        Each item is an envelope (``{"event": ..., "time": ..., "sourcetype": ...}``) or
        an event to wrap as one (see :func:`lakehose.client.hec.payload.to_envelope`).
        ``progress=True`` draws a progress bar on stderr; a callable is called with each
        finished batch and the running result.
        """
        with self._progress(events, progress) as on_batch:
            return self._send(self._envelope_batches(events), "EVENTS", on_batch)

    # driving ------------------------------------------------------------------------------

    def _send(
        self, batches: Iterator[Batch], what: str, on_batch: OnBatch | None = None
    ) -> SendResult:
        with self._sending(what) as result:
            self._acks.take()  # ids of earlier sends are not this send's to count
            for outcome in self._outcomes(batches):
                result.add(outcome)
                if on_batch is not None:
                    on_batch(outcome, result)
            if self.ack:
                result.acknowledged = self.wait_for_acks()
        return result

    def _running_counts(self, batches: Iterator[Batch]) -> Iterator[int]:
        accepted = 0
        with self._sending("EVENT LIST") as result:
            for outcome in self._outcomes(batches):
                result.add(outcome)
                for ok in self._accepted_flags(outcome):
                    accepted += ok
                    yield accepted

    def _outcomes(self, batches: Iterator[Batch]) -> Iterator[BatchOutcome]:
        """Each batch's outcome as it finishes, with up to ``thread_count`` in flight."""
        limit = self.thread_count
        if limit == 1:
            for batch in batches:
                yield self._drive(batch)
            return
        pool = self._executor(limit)
        running: set[Future[BatchOutcome]] = set()
        try:
            for batch in batches:
                running.add(pool.submit(self._drive, batch))
                if len(running) >= limit:
                    done, running = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield future.result()
            while running:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        finally:
            wait(running)  # requests already sent finish before the caller goes on

    def wait_for_acks(self) -> int:
        """Poll ``/services/collector/ack`` until every ackId handed out so far is durable, or
        ``ack_timeout`` passes; the number of events acknowledged."""
        polls = self._ack_polls()
        while polls.pending:
            try:
                response = self._client.post(self.ack_url, **polls.request())
                polls.answered(response.json())
            except (httpx.HTTPError, ValueError) as exc:
                self._debug("ACK POLL FAILED: %s", exc)
            delay = polls.next_delay()
            if delay is None:
                break
            time.sleep(delay)
        return polls.acknowledged

    def _executor(self, size: int) -> ThreadPoolExecutor:
        if self._pool is not None and self._pool._max_workers != size:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._pool is None:
            self._pool = ThreadPoolExecutor(size, thread_name_prefix="lakehose-hec")
        return self._pool

    def _drive(self, batch: Batch) -> BatchOutcome:
        compression = self.compression
        flow = send_flow(batch, self.retry_policy, compression)
        try:
            step = next(flow)
            while True:
                if isinstance(step, Wait):
                    self._log_wait(step)
                    time.sleep(step.seconds)
                    step = flow.send(None)
                else:
                    step = flow.send(self._post(step, compression))
        except StopIteration as done:
            outcome: BatchOutcome = done.value
        self._finish(outcome)
        return outcome

    def _post(self, post: Post, compression: str | None) -> Reply:
        url, headers = self._request(post, compression)
        try:
            response = self._client.post(
                url, content=post.body, headers=headers, timeout=self.ingest_timeout
            )
        except httpx.HTTPError as exc:
            return self._reply(post, exc)
        return self._reply(post, response)


HTTPEventCollector = HEC
