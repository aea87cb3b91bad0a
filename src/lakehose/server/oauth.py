"""OAuth2 client credentials, as CrowdStrike's API takes them: ``POST /oauth2/token``.

Form fields ``client_id`` and ``client_secret`` (``grant_type`` and ``member_cid``
are accepted and ignored). Success is **201** with an integer ``expires_in``
(FalconPy treats anything else as a failure); errors use the Falcon envelope.
No ``X-Cs-Region`` header is sent: FalconPy would replace a custom base URL
with CrowdStrike's cloud on seeing a real region name.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lakehose.server.errors import error
from lakehose.server.runtime import Runtime

MAX_FORM_BYTES = 64 * 1024


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


def routes(runtime: Runtime) -> list[BaseRoute]:
    async def token(request: Request) -> Response:
        form = await read_form(request)
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if not client_id or not secret:
            return error(400, "client_id and client_secret are required")
        client = runtime.catalog.check_client_secret(client_id, secret)
        if client is None:
            return error(403, "access denied, authorization failed")
        access_token, info = runtime.catalog.issue_token(client, runtime.settings.token_ttl)
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

    return [Route("/oauth2/token", token, methods=["POST"])]
