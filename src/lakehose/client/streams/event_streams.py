"""``EventStreams`` and ``AsyncEventStreams``: FalconPy's stream discovery and session refresh.

Both share :class:`BaseEventStreams`, which builds the requests and reads the answers
without I/O; the two classes only send, on an httpx client authenticated by
:class:`~lakehose.client.OAuth2`.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx
import orjson

import lakehose
from lakehose.client._auth import OAuth2, oauth_for
from lakehose.client._errors import response_error, transport_error
from lakehose.client.streams.discovery import REFRESH_ACTION, Stream, check_format, parse_streams
from lakehose.errors import ConfigError, ResponseError

DISCOVERY_PATH = "/sensors/entities/datafeed/v2"
REFRESH_PATH = "/sensors/entities/datafeed-actions/v1/"

Params = dict[str, str]


def _app_id(app_id: str | None, alias: str | None) -> str:
    value = app_id if app_id is not None else alias
    if not value:
        raise ConfigError("app_id is required (the name of this consumer)")
    return value


class BaseEventStreams:
    """Configuration, requests and answers; see :class:`EventStreams` for the keywords."""

    def __init__(
        self,
        auth_object: OAuth2 | None = None,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        base_url: str | None = None,
        member_cid: str | None = None,
        timeout: float = 30.0,
        verify: bool | str = True,
    ) -> None:
        self.auth = oauth_for(
            auth_object,
            client_id=client_id,
            client_secret=client_secret,
            base_url=base_url,
            member_cid=member_cid,
        )
        self.base_url = self.auth.base_url
        self.timeout = timeout
        self.verify = verify
        self.headers = {
            "Accept": "application/json",
            "User-Agent": f"lakehose/{lakehose.__version__}",
        }
        self._connect()

    def _connect(self) -> None:
        """Open the httpx client the twin sends with (``self._client``)."""
        raise NotImplementedError

    def _client_options(self) -> dict[str, Any]:
        return {
            "auth": self.auth,
            "timeout": self.timeout,
            "verify": self.verify,
            "headers": self.headers,
        }

    @staticmethod
    def _request_options(method: str, params: Params) -> dict[str, Any]:
        """``params`` as the query; a POST carries an empty JSON object, as FalconPy's does."""
        return {"params": params, "json": {} if method == "POST" else None}

    def _discovery(self, app_id: str, format: str | None) -> tuple[str, Params]:
        params = {"appId": app_id}
        if format:
            params["format"] = check_format(format)
        return self.base_url + DISCOVERY_PATH, params

    def _refresh(self, partition: int, app_id: str, action_name: str) -> tuple[str, Params]:
        url = self.base_url + REFRESH_PATH + quote(str(partition), safe="")
        return url, {"action_name": action_name, "appId": app_id}

    @staticmethod
    def _body(response: httpx.Response, what: str) -> dict[str, Any]:
        """The JSON body of a 2xx answer, or the error any other answer carries."""
        if not 200 <= response.status_code < 300:
            raise response_error(response, what)
        try:
            body = orjson.loads(response.content) if response.content else {}
        except orjson.JSONDecodeError:
            raise ResponseError(response.status_code, f"{what}: the answer is not JSON") from None
        if not isinstance(body, dict):
            raise ResponseError(response.status_code, f"{what}: the answer is not a JSON object")
        return body


class EventStreams(BaseEventStreams):
    """Discover Falcon event streams and keep their sessions alive, on lakehose or CrowdStrike.

    FalconPy's ways to build one::

        EventStreams(auth_object=OAuth2(CLIENT_ID, SECRET, base_url="http://127.0.0.1:8088"))
        EventStreams(client_id=CLIENT_ID, client_secret=SECRET, base_url="us-2")

    ``base_url`` is required (lakehose's URL or a CrowdStrike region: the SDK never sends
    credentials to a cloud you did not name). Methods return the answer's parsed body
    (FalconPy returns ``{"status_code", "headers", "body"}``: here ``body`` itself) and
    raise on failure: :class:`~lakehose.errors.AuthError` (401/403),
    :class:`~lakehose.errors.RateLimitedError` (429),
    :class:`~lakehose.errors.ResponseError` (other statuses; ``.status`` 404 from a
    refresh means the session is gone), :class:`~lakehose.errors.TransportError` (no
    answer).
    """

    _client: httpx.Client

    def _connect(self) -> None:
        self._client = httpx.Client(**self._client_options())

    def __enter__(self) -> EventStreams:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def list_available_streams(
        self, app_id: str | None = None, format: str | None = None, *, appId: str | None = None
    ) -> dict[str, Any]:
        """``GET /sensors/entities/datafeed/v2``: one resource per partition, each with its
        ``dataFeedURL``, ``sessionToken``, ``refreshActiveSessionURL`` and interval."""
        url, params = self._discovery(_app_id(app_id, appId), format)
        return self._body(self._send("GET", url, params, "stream discovery"), "stream discovery")

    def refresh_active_stream(
        self,
        partition: int = 0,
        app_id: str | None = None,
        action_name: str = REFRESH_ACTION,
        *,
        appId: str | None = None,
    ) -> dict[str, Any]:
        """``POST /sensors/entities/datafeed-actions/v1/{partition}``: extend the session."""
        url, params = self._refresh(partition, _app_id(app_id, appId), action_name)
        return self._body(self._send("POST", url, params, "session refresh"), "session refresh")

    def discover(self, app_id: str, format: str = "json") -> list[Stream]:
        """The streams of ``app_id``, parsed, in partition order."""
        return parse_streams(self.list_available_streams(app_id, format), time.monotonic())

    def _send(self, method: str, url: str, params: Params, what: str) -> httpx.Response:
        try:
            return self._client.request(method, url, **self._request_options(method, params))
        except httpx.HTTPError as exc:
            raise transport_error(exc, what) from exc


class AsyncEventStreams(BaseEventStreams):
    """:class:`EventStreams` for asyncio: the same keywords and methods, awaited."""

    _client: httpx.AsyncClient

    def _connect(self) -> None:
        self._client = httpx.AsyncClient(**self._client_options())

    async def __aenter__(self) -> AsyncEventStreams:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def list_available_streams(
        self, app_id: str | None = None, format: str | None = None, *, appId: str | None = None
    ) -> dict[str, Any]:
        url, params = self._discovery(_app_id(app_id, appId), format)
        response = await self._send("GET", url, params, "stream discovery")
        return self._body(response, "stream discovery")

    async def refresh_active_stream(
        self,
        partition: int = 0,
        app_id: str | None = None,
        action_name: str = REFRESH_ACTION,
        *,
        appId: str | None = None,
    ) -> dict[str, Any]:
        url, params = self._refresh(partition, _app_id(app_id, appId), action_name)
        response = await self._send("POST", url, params, "session refresh")
        return self._body(response, "session refresh")

    async def discover(self, app_id: str, format: str = "json") -> list[Stream]:
        body = await self.list_available_streams(app_id, format)
        return parse_streams(body, time.monotonic())

    async def _send(self, method: str, url: str, params: Params, what: str) -> httpx.Response:
        try:
            return await self._client.request(method, url, **self._request_options(method, params))
        except httpx.HTTPError as exc:
            raise transport_error(exc, what) from exc
