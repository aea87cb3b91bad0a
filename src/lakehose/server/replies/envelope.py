"""One JSON shape for every non-HEC reply, CrowdStrike's: ``{"meta", "errors", "resources"}``.

FalconPy and other Falcon consumers read ``errors[0].message`` on any status >= 400
and need a non-empty ``meta``; lakehose's own ``/api/v1`` uses the same envelope so
there is one shape to learn.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from starlette.responses import Response

JSON = "application/json"


def meta(started: float | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "query_time": round(time.perf_counter() - started, 6) if started else 0.0,
        "powered_by": "lakehose",
        "trace_id": str(uuid.uuid4()),
        **extra,
    }


def envelope(
    resources: Sequence[Any] | None = None,
    *,
    status: int = 200,
    errors: Sequence[dict[str, Any]] = (),
    started: float | None = None,
    headers: dict[str, str] | None = None,
    extra_meta: dict[str, Any] | None = None,
) -> Response:
    body = {
        "meta": meta(started, **(extra_meta or {})),
        "errors": list(errors),
        "resources": list(resources or []),
    }
    return Response(orjson.dumps(body), status, headers=headers, media_type=JSON)


def error(
    status: int, message: str, *, headers: dict[str, str] | None = None, **fields: Any
) -> Response:
    return envelope(
        status=status, errors=[{"code": status, "message": message, **fields}], headers=headers
    )


NO_STORE = {"Cache-Control": "no-store"}
