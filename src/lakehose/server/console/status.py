"""The Status page: health, version, partitions (more in later steps)."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

import lakehose
from lakehose.server.console.app import Console
from lakehose.server.console.guard import Visitor, guarded


def routes(console: Console) -> list[BaseRoute]:
    runtime = console.runtime

    async def page(request: Request, visitor: Visitor) -> Response:
        partitions = []
        for p, reader in runtime.readers.items():
            start, end = reader.bounds()
            partitions.append({"partition": p, "start": start, "end": end})
        context = {
            "version": lakehose.__version__,
            "healthy": runtime.health_code() == 17,
            "uptime": time.time() - runtime.started_at,
            "workers": runtime.workers,
            "partitions": partitions,
        }
        return console.render(request, "status.html", context, visitor=visitor)

    return [guarded("/status", page, console)]
