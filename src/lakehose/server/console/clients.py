"""The API clients page (admin): create an OAuth2 client with scopes (secret shown once), revoke."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from lakehose.auth.scopes import ALL_SCOPES
from lakehose.errors import ConflictError, NotFoundError
from lakehose.server.console.app import Console
from lakehose.server.console.forms import Form, read_form
from lakehose.server.console.guard import Visitor, guarded
from lakehose.storage.catalog.base import Catalog
from lakehose.storage.catalog.clients import ApiClient


def routes(console: Console) -> list[BaseRoute]:
    def catalog() -> Catalog:
        return console.runtime.catalog  # opened when the worker starts

    def page(
        request: Request,
        visitor: Visitor,
        *,
        created: ApiClient | None = None,
        secret: str | None = None,
        error: str = "",
        form: Form | None = None,
    ) -> Response:
        return console.render(
            request,
            "clients.html",
            {
                "clients": catalog().list_clients(include_revoked=True),
                "scopes": ALL_SCOPES,
                "created": created,
                "secret": secret,
                "error": error,
                "form": form or Form([]),
                "page_location": "/console/clients" if request.method == "POST" else None,
            },
            visitor=visitor,
            status=400 if error else 200,
        )

    async def index(request: Request, visitor: Visitor) -> Response:
        return page(request, visitor)

    async def create(request: Request, visitor: Visitor) -> Response:
        form = await read_form(request)
        name = form.get("name").strip()
        try:
            client, secret = catalog().create_client(name, form.getlist("scope"))
        except (ValueError, ConflictError) as exc:
            return page(request, visitor, error=str(exc), form=form)
        visitor.audit("client create", name, "scopes " + ",".join(client.scopes))
        return page(request, visitor, created=client, secret=secret)

    async def revoke(request: Request, visitor: Visitor) -> Response:
        try:
            client = catalog().revoke_client(request.path_params["client_id"])
        except NotFoundError as exc:
            return page(request, visitor, error=str(exc))
        visitor.audit("client revoke", client.name, client.client_id)
        return RedirectResponse("/console/clients", 303)

    def admin(path: str, endpoint: Any, method: str = "GET") -> BaseRoute:
        return guarded(path, endpoint, console, role="admin", methods=[method])

    return [
        admin("/clients", index),
        admin("/clients", create, "POST"),
        admin("/clients/{client_id}/revoke", revoke, "POST"),
    ]
