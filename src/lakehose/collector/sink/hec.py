"""The collector's HEC sender: the SDK's ``AsyncHEC`` with a sink's connection options.

``proxy`` (``none``, ``system`` or a URL), ``tls`` (``insecure``, ``caFile``), the
compression and the ack channel come from the sink's block; requests, their headers and
the reading of replies are the SDK's (``lakehose.client``), so the collector speaks HEC
exactly as ``lakehose send`` does.
"""

from __future__ import annotations

import ssl
import uuid
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson

from lakehose.client import AsyncHEC
from lakehose.client.hec._base import error_reply
from lakehose.client.hec.flow import Post, Reply
from lakehose.collector.delivery import SinkConfig
from lakehose.errors import ConfigError

REQUEST_TIMEOUT = 60.0
"""Seconds for one request: long enough for a slow HEC to commit a large batch."""


def sink_url(config: SinkConfig) -> str:
    """The sink's ``url``; a bare server root of a LogScale sink gets LogScale's HEC path."""
    url = config.url.strip()
    if "://" not in url:
        raise ConfigError(f"sink {config.name!r}: url {url!r} needs http:// or https://")
    parts = urlsplit(url)
    if config.type in ("logscale", "humio") and parts.path.strip("/") == "":
        return urlunsplit((parts.scheme, parts.netloc, "/api/v1/ingest/hec", parts.query, ""))
    return url


def ssl_verify(config: SinkConfig) -> bool | ssl.SSLContext:
    """``tls.insecure`` turns verification off; ``tls.caFile`` trusts that CA bundle."""
    if config.tls_insecure:
        return False
    if config.ca_file is not None:
        try:
            return ssl.create_default_context(cafile=str(config.ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"sink {config.name!r}: tls caFile {str(config.ca_file)!r} cannot be used: {exc}"
            ) from None
    return True


class SinkHEC(AsyncHEC):
    """One sink's connection: ``post`` a batch body, ``query_acks`` on its channel."""

    def __init__(self, config: SinkConfig) -> None:
        self.config = config
        channel = str(uuid.uuid4()) if config.use_ack else None
        self._verify = ssl_verify(config)
        proxy = config.proxy.strip() or "none"
        if proxy not in ("none", "system") and "://" not in proxy:
            raise ConfigError(
                f"sink {config.name!r}: proxy {proxy!r} is not none, system or a proxy URL"
            )
        self._proxy = proxy
        super().__init__(
            config.token,
            base_url=sink_url(config),
            compression=None if config.compression == "none" else config.compression,
            ingest_timeout=REQUEST_TIMEOUT,
            retry_count=0,
            thread_count=1,
            channel=channel,  # every request names it (BaseHEC.request_headers)
        )

    def _setup(self) -> None:
        proxy = None if self._proxy in ("none", "system") else self._proxy
        try:
            self._client = httpx.AsyncClient(
                timeout=REQUEST_TIMEOUT,
                verify=self._verify,
                proxy=proxy,
                trust_env=self._proxy == "system",
                limits=httpx.Limits(max_connections=4, max_keepalive_connections=4),
            )
        except ImportError as exc:  # a socks5:// proxy without httpx's socks extra
            raise ConfigError(f"sink {self.config.name!r}: proxy {proxy!r}: {exc}") from None

    def switch_auth_scheme(self) -> str:
        """Bearer (NG-SIEM, LogScale, SDL) <-> Splunk (Splunk Enterprise refuses Bearer)."""
        self.auth_scheme = "Splunk" if self.auth_scheme == "Bearer" else "Bearer"
        return self.auth_scheme

    async def post(self, body: bytes, events: int, size: int) -> Reply:
        """POST an already compressed body of ``events`` envelope lines."""
        return await self._post(Post(body, False, events, size), self.compression)

    @property
    def ack_url(self) -> str:
        event_url = self.ingest_url
        parts = urlsplit(event_url)
        path = parts.path
        for suffix in ("/event/1.0", "/event"):
            if path.endswith(suffix):
                path = path[: -len(suffix)]
                break
        return urlunsplit((parts.scheme, parts.netloc, path + "/ack", parts.query, ""))

    async def query_acks(self, ids: list[int]) -> dict[int, bool] | Reply:
        """Which of ``ids`` are durable on this channel; the Reply when the poll failed."""
        headers = {
            "Authorization": f"{self.auth_scheme} {self.ingest_key}",
            "Content-Type": "application/json",
        }
        if self.channel is not None:
            headers["X-Splunk-Request-Channel"] = self.channel
        try:
            response = await self._client.post(
                self.ack_url, content=orjson.dumps({"acks": ids}), headers=headers
            )
        except httpx.HTTPError as exc:
            return error_reply(exc)
        reply = Reply(response.status_code, response.content, response.headers.get("retry-after"))
        if response.status_code != 200:
            return reply
        message = reply.message()
        acks = message.get("acks") if isinstance(message, dict) else None
        if not isinstance(acks, dict):
            return reply
        return {i: acks.get(str(i)) is True for i in ids}
