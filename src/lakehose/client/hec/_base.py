"""What ``HEC`` and ``AsyncHEC`` share: FalconPy's keywords and properties, URLs, headers,
turning events into batches, and the debug log. No I/O happens here.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sized
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import partial
from typing import Any

import httpx

import lakehose
from lakehose.client._redact import redact, redact_headers
from lakehose.client._retry import RetryPolicy
from lakehose.client._urls import format_name, format_type, ingest_urls, region_host
from lakehose.client.hec.acks import AckLedger, AckPolls
from lakehose.client.hec.batching import COMPRESSIONS, Batch, iter_batches
from lakehose.client.hec.flow import Post, Reply, Wait
from lakehose.client.hec.payload import (
    IngestPayload,
    check_timeunit,
    dumps,
    falcon_envelope,
    falcon_envelopes,
    to_envelope,
)
from lakehose.client.hec.progress import OnBatch, ProgressBar
from lakehose.client.hec.result import BatchOutcome, SendResult
from lakehose.errors import ConfigError

Event = Mapping[str, Any] | IngestPayload
LOGGER_NAME = "lakehose.client"
MAX_THREADS = 500
DEFAULT_BATCH_SIZE = 1000
DEFAULT_BATCH_BYTES = 1024 * 1024
_FALCON_FILE_CHUNK = 10_240_000  # FalconPy's largest send_event_file request


def error_reply(exc: httpx.HTTPError) -> Reply:
    """A Reply for a request that got no answer; timeouts and broken connections may pass."""
    if isinstance(exc, httpx.TimeoutException):
        return Reply(None, error=f"timed out: {str(exc) or type(exc).__name__}", transient=True)
    if isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError):
        return Reply(None, error=f"connection failed: {exc}", transient=True)
    return Reply(None, error=f"request failed: {exc}")


def default_thread_count() -> int:
    """FalconPy's default: twice the CPUs, at most 50."""
    return min((os.cpu_count() or 1) * 2, 50)


class BaseHEC:
    """The configuration and the I/O-free half of a HEC sender (see ``HEC`` for the keywords)."""

    def __init__(
        self,
        api_key: str,
        api_url_key: str | None = None,
        debug: bool = False,
        *,
        base_url: str | None = None,
        ingest_format: str = "json",
        ingest_region: str = "us1",
        ingest_timeout: float = 5,
        ingest_timeunit: str = "nanoseconds",
        raw_ingest: bool = False,
        retry_count: int = 3,
        thread_count: int | None = None,
        sanitize_log: bool = True,
        batch_size: int = DEFAULT_BATCH_SIZE,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
        compression: str | None = None,
        auth_scheme: str = "Bearer",
        retry_backoff: float = 0.5,
        verify: bool | str = True,
        ack: bool = False,
        channel: str | None = None,
        ack_timeout: float = 60.0,
    ) -> None:
        if not api_key:
            raise ConfigError("api_key is required")
        if api_url_key and "://" in api_url_key and base_url is None:
            base_url, api_url_key = api_url_key, None
        if base_url is None and not api_url_key:
            raise ConfigError("give api_url_key (NG-SIEM) or base_url (any HEC)")
        self.ingest_key: str = api_key
        self.ingest_url_key: str | None = api_url_key
        self._base_url: str | None = None
        self.base_url = base_url
        self._ingest_region = ingest_region
        self._ingest_base_url = region_host(ingest_region)
        self._ingest_format = format_type(ingest_format)
        self.ingest_timeout = ingest_timeout
        self._ingest_timeunit = check_timeunit(ingest_timeunit)
        self.raw_ingest = bool(raw_ingest)
        if retry_count < 0:
            raise ConfigError("retry_count cannot be negative")
        self.retry_count = retry_count
        self._thread_count = default_thread_count()
        if thread_count:
            self.thread_count = thread_count
        self.sanitize_log = sanitize_log
        if batch_size < 1 or batch_bytes < 1:
            raise ConfigError("batch_size and batch_bytes must be at least 1")
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        self._compression: str | None = None
        self.compression = compression
        self.auth_scheme = auth_scheme
        self.retry_backoff = retry_backoff
        self.verify = verify
        self.last_status: int | None = None
        self.last_message: Any = None
        self.last_result: SendResult | None = None
        # Indexer acknowledgement: every request names ``channel`` (a new GUID when acks are
        # on and none is given); ``ack`` waits, after a send, until the server reports every
        # ackId it handed out durable (HEC's /services/collector/ack), up to ``ack_timeout``.
        self.ack = bool(ack)
        self.channel = channel or (str(uuid.uuid4()) if ack else None)
        self.ack_timeout = ack_timeout
        self._acks = AckLedger()
        self.log: logging.Logger | None = logging.getLogger(LOGGER_NAME) if debug else None
        self._debug(
            "HTTP EVENT COLLECTOR: lakehose %s; URL %s; format %s; time unit %s; raw %s; "
            "timeout %ss; retries %d; threads %d; batches of %d events / %d bytes; compression %s",
            lakehose.__version__,
            self.raw_ingest_url if self.raw_ingest else self.ingest_url,
            self.ingest_format_name,
            self.ingest_timeunit,
            self.raw_ingest,
            self.ingest_timeout,
            self.retry_count,
            self.thread_count,
            self.batch_size,
            self.batch_bytes,
            self.compression or "none",
        )
        self._setup()

    def _setup(self) -> None:
        """Open what the sender needs (its HTTP client); subclasses override."""

    # configuration properties (FalconPy's names) ------------------------------------------

    @property
    def base_url(self) -> str | None:
        """Where any HEC listens (lakehose, Splunk, SDL); None means NG-SIEM by region."""
        return self._base_url

    @base_url.setter
    def base_url(self, value: str | None) -> None:
        if value is not None:
            ingest_urls(value)  # validates
        self._base_url = value

    @property
    def ingest_region(self) -> str:
        return self._ingest_region

    @ingest_region.setter
    def ingest_region(self, value: str) -> None:
        self._ingest_base_url = region_host(value)
        self._ingest_region = value

    @property
    def ingest_base_url(self) -> str:
        """The NG-SIEM ingest host (set a region name or a host name)."""
        return self._ingest_base_url

    @ingest_base_url.setter
    def ingest_base_url(self, value: str) -> None:
        try:
            self.ingest_region = value
        except ConfigError:
            self._ingest_base_url = value

    @property
    def ingest_format(self) -> str:
        """The Content-Type sent (FalconPy returns the MIME type here, not the name)."""
        return self._ingest_format

    @ingest_format.setter
    def ingest_format(self, value: str) -> None:
        self._ingest_format = format_type(value)

    @property
    def ingest_format_name(self) -> str | None:
        """``JSON``, ``YAML``, ``XML`` or ``CSV``."""
        return format_name(self._ingest_format)

    @property
    def ingest_timeunit(self) -> str:
        return self._ingest_timeunit

    @ingest_timeunit.setter
    def ingest_timeunit(self, value: str) -> None:
        self._ingest_timeunit = check_timeunit(value)

    @property
    def thread_count(self) -> int:
        """Requests in flight at once for lists and files (FalconPy's threads; at most 500)."""
        return self._thread_count

    @thread_count.setter
    def thread_count(self, value: int) -> None:
        if value < 1:
            raise ConfigError("thread_count must be at least 1")
        self._thread_count = min(int(value), MAX_THREADS)

    @property
    def compression(self) -> str | None:
        """``gzip``, ``zstd`` or None."""
        return self._compression

    @compression.setter
    def compression(self, value: str | None) -> None:
        if value in (None, "", "none", "identity"):
            self._compression = None
        elif value in COMPRESSIONS:
            self._compression = value
        else:
            raise ConfigError(f"unknown compression {value!r}; use gzip, zstd or None")

    @property
    def ingest_url(self) -> str:
        """The event endpoint: ``https://{api_url_key}.{ingest_base_url}/services/collector``,
        or the one at ``base_url``."""
        if self._base_url is not None:
            return ingest_urls(self._base_url)[0]
        return f"https://{self.ingest_url_key}.{self._ingest_base_url}/services/collector"

    @property
    def raw_ingest_url(self) -> str:
        """The raw endpoint."""
        if self._base_url is not None:
            return ingest_urls(self._base_url)[1]
        return f"{self.ingest_url}/raw"

    @property
    def hec_headers(self) -> dict[str, str]:
        """``Authorization`` and ``Content-Type``, as FalconPy sends them."""
        return {
            "Authorization": f"{self.auth_scheme} {self.ingest_key}",
            "Content-Type": self._ingest_format,
        }

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(retries=self.retry_count, base=self.retry_backoff)

    # requests -----------------------------------------------------------------------------

    def request_headers(self, post: Post, compression: str | None) -> dict[str, str]:
        headers = self.hec_headers
        headers["User-Agent"] = f"lakehose/{lakehose.__version__}"
        if self.channel is not None:
            headers["X-Splunk-Request-Channel"] = self.channel
        if compression is not None:
            headers["Content-Encoding"] = compression
        return headers

    @property
    def ack_url(self) -> str:
        """The indexer acknowledgement endpoint beside the event endpoint."""
        event = self.ingest_url
        for suffix in ("/services/collector/event/1.0", "/services/collector/event"):
            if event.endswith(suffix):
                return event[: -len(suffix)] + "/services/collector/ack"
        if event.endswith("/services/collector"):
            return event + "/ack"
        return event.rstrip("/") + "/ack"

    def url_for(self, post: Post) -> str:
        return self.raw_ingest_url if post.raw else self.ingest_url

    def format_event(self, evt: Mapping[str, Any] | IngestPayload) -> dict[str, Any] | str:
        """FalconPy's payload for one event: the envelope dict, or with raw_ingest its JSON text."""
        envelope = falcon_envelope(evt, self._ingest_timeunit, raw=self.raw_ingest)
        return dumps(envelope).decode() if self.raw_ingest else envelope

    def _one_event_batch(self, event: Mapping[str, Any] | IngestPayload) -> Batch:
        envelope = falcon_envelope(event, self._ingest_timeunit, raw=self.raw_ingest)
        self._debug("EVENT PROCESSED: %s", envelope)
        return Batch(0, dumps(envelope) + b"\n", 1, raw=self.raw_ingest)

    def _falcon_batches(self, events: Iterable[Event]) -> Iterator[Batch]:
        """FalconPy-normalised events, batched (``send_event_list``)."""
        unit, raw = self._ingest_timeunit, self.raw_ingest
        return iter_batches(
            events,
            shape=partial(falcon_envelope, timeunit=unit, raw=raw),
            shape_many=partial(falcon_envelopes, timeunit=unit, raw=raw),
            max_events=self.batch_size,
            max_bytes=self.batch_bytes,
            raw=raw,
        )

    def _envelope_batches(self, events: Iterable[Any]) -> Iterator[Batch]:
        """Splunk envelopes (or raw lines with ``raw_ingest``), batched (``send_events``)."""
        raw = self.raw_ingest
        return iter_batches(
            events,
            shape=None if raw else to_envelope,
            as_json=not raw,
            max_events=self.batch_size,
            max_bytes=self.batch_bytes,
            raw=raw,
        )

    def _line_batches(self, lines: Iterable[bytes]) -> Iterator[Batch]:
        """Text lines (``send_event_file``): to the raw endpoint with raw_ingest, else each
        request's lines as one JSON string to the event endpoint (FalconPy's two ways)."""
        raw = self.raw_ingest
        return iter_batches(
            lines,
            as_json=False,
            max_events=self.batch_size,
            max_bytes=min(self.batch_bytes, _FALCON_FILE_CHUNK),
            raw=raw,
            text=not raw,
        )

    @staticmethod
    def _accepted_flags(outcome: BatchOutcome) -> Iterator[bool]:
        """For each event of a finished batch, in order: was it accepted?"""
        refused = {i for r in outcome.rejections for i in range(r.index, r.index + r.count)}
        for i in range(outcome.first, outcome.first + outcome.count):
            yield i not in refused

    def _single(self, outcome: BatchOutcome) -> int | None:
        """``send_event``'s answer: the batch's status, with ``last_result`` of its one batch."""
        result = SendResult()
        result.add(outcome)
        self.last_result = result
        return self.last_status

    @contextmanager
    def _sending(self, what: str) -> Iterator[SendResult]:
        """The result a send fills in as its batches finish; timed, kept as ``last_result``
        and logged at the end, however the send ends."""
        result = SendResult()
        started = time.perf_counter()
        try:
            yield result
        finally:
            result.elapsed = time.perf_counter() - started
            self.last_result = result
            self._log_result(what, result)

    @staticmethod
    def _progress(
        events: Iterable[Any], progress: bool | OnBatch
    ) -> AbstractContextManager[OnBatch | None]:
        """``send_events``' progress: a bar on stderr for True, else the caller's callback."""
        if progress is True:
            return ProgressBar(len(events) if isinstance(events, Sized) else None)
        return nullcontext(progress or None)

    def _client_limits(self) -> httpx.Limits:
        """Keep a connection open for each request that may be in flight."""
        return httpx.Limits(
            max_connections=None, max_keepalive_connections=max(20, self.thread_count)
        )

    def _request(self, post: Post, compression: str | None) -> tuple[str, dict[str, str]]:
        """The URL and headers of one POST, logged."""
        url = self.url_for(post)
        headers = self.request_headers(post, compression)
        self._log_post(post, url, headers)
        return url, headers

    def _reply(self, post: Post, answer: httpx.Response | httpx.HTTPError) -> Reply:
        """What the send flow is told of a POST: the answer, or the failure; logged, and its
        ackId kept when acks are on."""
        if isinstance(answer, httpx.HTTPError):
            reply = error_reply(answer)
        else:
            reply = Reply(answer.status_code, answer.content, answer.headers.get("retry-after"))
        self._log_reply(reply)
        if self.ack:
            self._acks.note(post.events, reply)
        return reply

    def _ack_polls(self) -> AckPolls:
        """``wait_for_acks``' state: every ackId handed out so far, until ``ack_timeout``."""
        headers = self.request_headers(Post(b"", False, 0, 0), None)
        return AckPolls(self._acks.take(), self.ack_timeout, headers, self.ingest_timeout)

    def _finish(self, outcome: BatchOutcome) -> None:
        """Note a finished batch's last answer (FalconPy's ``last_status``/``last_message``)."""
        if outcome.last_status is not None:
            self.last_status = outcome.last_status
            self.last_message = outcome.last_message

    # debug log ----------------------------------------------------------------------------

    def _debug(self, message: str, *args: Any) -> None:
        if self.log is None or not self.log.isEnabledFor(logging.DEBUG):
            return
        text = message % args if args else message
        if self.sanitize_log:
            text = redact(text, (self.ingest_key,))
        self.log.debug(text)

    def _log_post(self, post: Post, url: str, headers: dict[str, str]) -> None:
        if self.log is None:
            return
        shown = redact_headers(headers) if self.sanitize_log else headers
        self._debug(
            "REQUEST: POST %s; %d events, %d bytes (%d on the wire); HEADERS: %s",
            url,
            post.events,
            post.size,
            len(post.body),
            shown,
        )

    def _log_reply(self, reply: Reply) -> None:
        if self.log is None:
            return
        if reply.status is None:
            self._debug("REQUEST FAILURE: %s", reply.error)
        else:
            self._debug(
                "RESPONSE CODE: %d; RESPONSE TEXT: %s",
                reply.status,
                reply.body[:500].decode("utf-8", "replace"),
            )

    def _log_wait(self, wait: Wait) -> None:
        self._debug("WAIT: %.2f s, %s", wait.seconds, wait.reason)

    def _log_result(self, what: str, result: SendResult) -> None:
        self._debug(
            "%s: %d sent, %d accepted, %d rejected, %d requests, %d retries, %.3f s",
            what,
            result.sent,
            result.accepted,
            result.rejected,
            result.requests,
            result.retries,
            result.elapsed,
        )
        for reason, count in result.reasons():
            self._debug("REJECTED: %d events: %s", count, reason)
