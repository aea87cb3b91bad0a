"""``OAuth2``: CrowdStrike-style client credentials as an httpx ``Auth``, renewed before expiry.

Theory of operation. :meth:`OAuth2.auth_flow` is the whole token flow, written once
as httpx's generator (no I/O of its own): when the token is missing or due for
renewal it yields a ``POST /oauth2/token`` (form ``client_id``, ``client_secret``,
optionally ``member_cid``) and keeps the answer's ``access_token`` and integer
``expires_in`` (CrowdStrike answers 201); then it yields the caller's request with
``Authorization: Bearer <token>``. On a 401 it fetches a new token once and sends
the request again (a token revoked or lost by the server), unless another request
already replaced the token meanwhile.

A token is renewed ``renew_margin`` seconds before it expires: by default a tenth of
its lifetime, at most 120 s (FalconPy's window), so a 1799 s token is renewed after
1679 s and a short one well before its end. ``sync_auth_flow`` and
``async_auth_flow`` drive the flow, read the token answers, and hold a lock while
the flow decides and fetches, so concurrent requests (the stream consumer's
threads or tasks) share one renewal instead of each fetching a token.

Every error of the token endpoint raises: 401/403 :class:`~lakehose.errors.AuthError`,
429 :class:`~lakehose.errors.RateLimitedError`, others
:class:`~lakehose.errors.ResponseError`. The secret and tokens never appear in
``repr`` or in logs.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator

import httpx
import orjson

import lakehose
from lakehose.client._errors import response_error
from lakehose.client._urls import api_base_url
from lakehose.errors import ConfigError, ResponseError

log = logging.getLogger(__name__)

DEFAULT_MAX_MARGIN = 120.0  # FalconPy's renewal window


class OAuth2(httpx.Auth):
    """Bearer tokens from client credentials, for any httpx client::

        auth = OAuth2(CLIENT_ID, CLIENT_SECRET, base_url="http://127.0.0.1:8088")
        httpx.get("http://127.0.0.1:8088/sensors/entities/datafeed/v2?appId=x", auth=auth)

    ``base_url`` is lakehose's URL, or a CrowdStrike region (``us-1``, ``us-2``, ``eu-1``,
    ``us-gov-1``) for CrowdStrike's cloud. ``member_cid`` picks an MSSP child tenant.
    ``renew_margin`` (seconds before expiry to renew; default a tenth of the token's
    lifetime, at most 120) and ``clock`` (a monotonic clock) are there for tuning and
    tests. ``tokens_issued`` counts the tokens obtained.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        base_url: str,
        *,
        member_cid: str | None = None,
        renew_margin: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not client_id or not client_secret:
            raise ConfigError("client_id and client_secret are required")
        if renew_margin is not None and renew_margin < 0:
            raise ConfigError("renew_margin cannot be negative")
        self.client_id = client_id
        self._secret = client_secret
        self.base_url = api_base_url(base_url)
        self.token_url = self.base_url + "/oauth2/token"
        self.member_cid = member_cid
        self.renew_margin = renew_margin
        self.tokens_issued = 0
        self._clock = clock
        self._token: str | None = None
        self._issued_at = 0.0
        self._expires_in: float | None = None
        self._thread_lock = threading.Lock()
        self._async_lock: asyncio.Lock | None = None
        self._async_loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"OAuth2(client_id={self.client_id!r}, base_url={self.base_url!r})"

    # state -------------------------------------------------------------------------------

    @property
    def token_value(self) -> str | None:
        """The current access token (FalconPy's name), or None before the first request."""
        return self._token

    @property
    def expires_in(self) -> float | None:
        """The current token's lifetime in seconds, as the server gave it."""
        return self._expires_in

    def margin(self) -> float:
        """Seconds before expiry at which the token is renewed."""
        if self.renew_margin is not None:
            return self.renew_margin
        if self._expires_in is None:
            return 0.0
        return min(DEFAULT_MAX_MARGIN, self._expires_in / 10)

    def stale(self) -> bool:
        """True when the next request must first fetch a token."""
        if self._token is None:
            return True
        if self._expires_in is None:  # no lifetime given: renew only when refused
            return False
        return self._clock() >= self._issued_at + self._expires_in - self.margin()

    def invalidate(self) -> None:
        """Forget the token; the next request fetches a new one."""
        self._token = None

    # the flow ----------------------------------------------------------------------------

    def token_request(self) -> httpx.Request:
        form = {"client_id": self.client_id, "client_secret": self._secret}
        if self.member_cid:
            form["member_cid"] = self.member_cid
        return httpx.Request(
            "POST",
            self.token_url,
            data=form,
            headers={
                "Accept": "application/json",
                "User-Agent": f"lakehose/{lakehose.__version__}",
            },
        )

    def take(self, response: httpx.Response) -> None:
        """Keep the token of a (read) token answer, or raise the error it carries."""
        if response.status_code not in (200, 201):
            self._token = None
            raise response_error(response, "OAuth2 token")
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise ResponseError(
                response.status_code, "OAuth2 token: the answer has no access_token"
            )
        assert isinstance(body, dict)
        expires_in = body.get("expires_in")
        lifetime: float | None = None
        if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
            lifetime = float(expires_in) if expires_in > 0 else None
        self._token = token
        self._issued_at = self._clock()
        self._expires_in = lifetime
        self.tokens_issued += 1
        log.debug(
            "OAuth2 token for client %s from %s: expires in %s s, renewed %.0f s early",
            self.client_id,
            self.token_url,
            self._expires_in,
            self.margin(),
        )

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.stale():
            self.take((yield self.token_request()))
        used = self._token
        request.headers["Authorization"] = f"Bearer {used}"
        response = yield request
        if response.status_code != 401:
            return
        if self._token == used:
            log.debug("OAuth2: %s refused the token (401); fetching a new one", request.url.path)
            self.take((yield self.token_request()))
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        flow = self.auth_flow(request)
        response: httpx.Response | None = None
        while True:
            with self._thread_lock:
                try:
                    outgoing = next(flow) if response is None else flow.send(response)
                    while outgoing is not request:  # a token request
                        answer = yield outgoing
                        answer.read()
                        outgoing = flow.send(answer)
                except StopIteration:
                    return
            response = yield outgoing

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        flow = self.auth_flow(request)
        response: httpx.Response | None = None
        while True:
            async with self._lock_for_loop():
                try:
                    outgoing = next(flow) if response is None else flow.send(response)
                    while outgoing is not request:
                        answer = yield outgoing
                        await answer.aread()
                        outgoing = flow.send(answer)
                except StopIteration:
                    return
            response = yield outgoing

    def _lock_for_loop(self) -> asyncio.Lock:
        """One asyncio lock per event loop (a lock cannot be shared between loops)."""
        loop = asyncio.get_running_loop()
        if self._async_lock is None or self._async_loop is not loop:
            self._async_lock = asyncio.Lock()
            self._async_loop = loop
        return self._async_lock


def oauth_for(
    auth_object: OAuth2 | None,
    *,
    client_id: str | None,
    client_secret: str | None,
    base_url: str | None,
    member_cid: str | None = None,
) -> OAuth2:
    """The OAuth2 a Falcon API client authenticates with: ``auth_object``, or one made of the
    credentials and ``base_url`` (required then: the SDK never sends credentials to a cloud
    nobody named)."""
    if auth_object is not None:
        return auth_object
    if base_url is None:
        raise ConfigError(
            "base_url is required: lakehose's URL, or a CrowdStrike region such as us-1"
        )
    return OAuth2(client_id or "", client_secret or "", base_url, member_cid=member_cid)
