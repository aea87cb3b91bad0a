"""OAuth2 client credentials, as CrowdStrike's API takes them: ``/oauth2/token`` and ``/oauth2/revoke``.

Token: form fields ``client_id`` and ``client_secret`` (``grant_type`` and
``member_cid`` are accepted and ignored). Success is **201** with an integer
``expires_in`` (FalconPy treats anything else as a failure); errors use the Falcon
envelope. No ``X-Cs-Region`` header is sent: FalconPy would replace a custom base
URL with CrowdStrike's cloud on seeing a real region name.

Revoke: ``Authorization: basic base64(client_id:client_secret)`` (any case of the
scheme; FalconPy writes ``basic``) and form field ``token``. The answer is 200 with
the Falcon envelope whether or not the token was live (RFC 7009); a client can
revoke only its own tokens (an ``admin`` client, any token). Every worker checks tokens in the catalog, so a revoked
token gets 401 everywhere at once.

Failed attempts on either route are limited per (client id, source address) and per
source address (token buckets in the catalog, shared by all workers), so wrong
secrets sent from elsewhere never lock out a client. Over the limit, every
attempt gets 429 with ``Retry-After`` before its secret is even checked.
"""

from __future__ import annotations

import base64
import binascii
import math
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lakehose.auth import scopes
from lakehose.auth.lockout import address_group
from lakehose.errors import LimitError
from lakehose.server.replies.envelope import envelope, error
from lakehose.server.routes.guards import credential
from lakehose.server.runtime import Runtime
from lakehose.storage.catalog.clients import ApiClient, LoginLimit

MAX_FORM_BYTES = 64 * 1024
# failed attempts: a burst, then one more per interval
CLIENT_BURST, CLIENT_PER_SECOND = 10.0, 1 / 6  # 10, then 10 a minute, per client id+address
ADDRESS_BURST, ADDRESS_PER_SECOND = 30.0, 1 / 2  # 30, then 30 a minute, per source address
DENIED = "access denied, authorization failed"


async def read_form(request: Request) -> dict[str, str]:
    """URL-encoded (or JSON) form fields; unknown content types are read as URL-encoded."""
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        return {}
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return {}
        return {k: str(v) for k, v in body.items()} if isinstance(body, dict) else {}
    return dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))


def login_limits(request: Request, client_id: str) -> list[LoginLimit]:
    """A client id's failures count per source address: a stranger who guesses from one place
    cannot lock out the real client calling from another; each address has its own bound."""
    address = address_group(request.client.host if request.client else "-")
    return [
        LoginLimit(f"client:{client_id}@{address}", CLIENT_BURST, CLIENT_PER_SECOND),
        LoginLimit("address:" + address, ADDRESS_BURST, ADDRESS_PER_SECOND),
    ]


def too_many(wait: float) -> Response:
    seconds = max(1, math.ceil(wait))
    return error(
        429,
        f"too many failed attempts; retry after {seconds} s",
        headers={"Retry-After": str(seconds)},
    )


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """``(client_id, client_secret)`` from ``Authorization: Basic …``, any case of the scheme."""
    value = credential(request, "basic")
    if value is None:
        return None
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, colon, secret = decoded.partition(":")
    if not colon or not client_id or not secret:
        return None
    return client_id, secret


def routes(runtime: Runtime) -> list[BaseRoute]:
    def check(request: Request, client_id: str, secret: str) -> ApiClient | Response:
        """The client, or the reply for a refused attempt (403, or 429 over the limit)."""
        limits = login_limits(request, client_id)
        wait = runtime.catalog.login_wait(limits)
        if wait > 0:
            return too_many(wait)
        client = runtime.catalog.check_client_secret(client_id, secret)
        if client is None:
            runtime.catalog.login_failed(limits)
            return error(403, DENIED)
        return client

    async def token(request: Request) -> Response:
        form = await read_form(request)
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if not client_id or not secret:
            return error(400, "client_id and client_secret are required")
        client = check(request, client_id, secret)
        if isinstance(client, Response):
            return client
        try:
            access_token, info = runtime.catalog.issue_token(
                client, runtime.settings.token_ttl, runtime.settings.max_tokens_per_client
            )
        except LimitError as exc:
            seconds = max(1, math.ceil(exc.retry_after))
            return error(429, exc.message, headers={"Retry-After": str(seconds)})
        body = {
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": info.expires_at - info.issued_at,
        }
        return Response(
            orjson.dumps(body),
            201,
            media_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    async def revoke(request: Request) -> Response:
        form = await read_form(request)
        given = basic_credentials(request)
        if given is None:
            return error(
                401,
                "access denied, Basic client credentials are required",
                headers={"WWW-Authenticate": 'Basic realm="lakehose"'},
            )
        client = check(request, *given)
        if isinstance(client, Response):
            return client
        value = form.get("token", "")
        if not value:
            return error(400, "the token to revoke is required (form field 'token')")
        owner = None if scopes.ADMIN in client.scopes else client.client_id
        if runtime.catalog.revoke_token(value, owner):
            runtime.catalog_moved()  # feeds of the sessions issued with it end now
        return envelope([])

    return [
        Route("/oauth2/token", token, methods=["POST"]),
        Route("/oauth2/revoke", revoke, methods=["POST"]),
    ]
