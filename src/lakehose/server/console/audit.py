"""The Audit log page (admin): who did what, to what, when and from where; newest first."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from lakehose.server.console.app import Console
from lakehose.server.console.guard import Visitor, guarded

PAGE_SIZE = 100


def routes(console: Console) -> list[BaseRoute]:
    async def page(request: Request, visitor: Visitor) -> Response:
        before_text = request.query_params.get("before", "")
        before = int(before_text) if before_text.isascii() and before_text.isdigit() else None
        entries = console.accounts.audit_entries(PAGE_SIZE, before)
        older = entries[-1].id if len(entries) == PAGE_SIZE else None
        return console.render(
            request, "audit.html", {"entries": entries, "older": older}, visitor=visitor
        )

    return [guarded("/audit", page, console, role="admin")]
