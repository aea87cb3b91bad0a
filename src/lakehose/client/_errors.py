"""Falcon-style API answers turned into lakehose errors, so SDK callers catch typed exceptions."""

from __future__ import annotations

from http import HTTPStatus

import httpx
import orjson

from lakehose.client._retry import parse_retry_after
from lakehose.errors import (
    AuthError,
    LakehoseError,
    RateLimitedError,
    ResponseError,
    TransportError,
)

_MAX_MESSAGE = 300


def server_message(content: bytes) -> str | None:
    """``errors[0].message`` of a Falcon error body (or OAuth2's ``error_description``)."""
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        text = content.decode("utf-8", "replace").strip()
        return text[:_MAX_MESSAGE] or None
    if not isinstance(body, dict):
        return None
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        message = errors[0].get("message")
        if isinstance(message, str) and message:
            return message[:_MAX_MESSAGE]
    for key in ("error_description", "error", "message"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value[:_MAX_MESSAGE]
    return None


def error_for(status: int, content: bytes, retry_after: str | None, what: str) -> LakehoseError:
    """The error for an answer with status ``status`` to the request ``what`` describes."""
    message = server_message(content)
    if message is None:
        try:
            message = HTTPStatus(status).phrase
        except ValueError:
            message = "no message"
    if status in (401, 403):
        return AuthError(f"{what}: {status} {message}")
    if status == 429:
        wait = parse_retry_after(retry_after)
        return RateLimitedError(1.0 if wait is None else wait)
    return ResponseError(status, f"{what}: {message}")


def response_error(response: httpx.Response, what: str) -> LakehoseError:
    """:func:`error_for` of a read httpx response."""
    return error_for(
        response.status_code, response.content, response.headers.get("retry-after"), what
    )


def transport_error(exc: httpx.HTTPError, what: str) -> TransportError:
    """A request that got no (complete) answer: refused, reset, timed out."""
    detail = str(exc) or type(exc).__name__
    return TransportError(f"{what}: {detail}")
