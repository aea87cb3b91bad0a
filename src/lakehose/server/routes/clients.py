"""``/api/v1/clients``: the CLI's ``client`` commands over HTTP, for an admin token.

A caller can grant only scopes it holds itself, so a ``clients:write`` token cannot
mint an ``admin`` client; likewise it can revoke only a client whose scopes it could
have granted. A new client's secret is in the creation reply only.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lakehose.auth import scopes
from lakehose.errors import ScopeError
from lakehose.server.feed_options import flag
from lakehose.server.protocols.json_bodies import ClientRequest, decode
from lakehose.server.replies.envelope import NO_STORE, envelope
from lakehose.server.replies.errors import ApiError
from lakehose.server.routes.guards import require, require_admin_origin
from lakehose.server.runtime import Runtime
from lakehose.storage.catalog.clients import AccessToken


class ClientRoutes:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    def _auth(self, request: Request) -> AccessToken:
        require_admin_origin(request, self.rt)
        return require(request, self.rt, scopes.CLIENTS_WRITE)

    async def list(self, request: Request) -> Response:
        started = time.perf_counter()
        self._auth(request)
        try:
            include_revoked = flag("all", request.query_params.get("all"))
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        clients = self.rt.catalog.list_clients(include_revoked)
        return envelope([c.to_dict() for c in clients], started=started)

    async def show(self, request: Request) -> Response:
        started = time.perf_counter()
        self._auth(request)
        client = self.rt.catalog.get_client(request.path_params["client"])
        return envelope([client.to_dict()], started=started)

    async def create(self, request: Request) -> Response:
        started = time.perf_counter()
        caller = self._auth(request)
        body = decode(await request.body(), ClientRequest)
        name, wanted = body.name, body.scopes
        granted = scopes.validate(wanted)
        missing = [s for s in granted if s not in scopes.expand(caller.scopes)]
        if missing:
            raise ScopeError(missing[0])
        client, secret = self.rt.catalog.create_client(name, granted)
        return envelope(
            [{**client.to_dict(), "client_secret": secret}],
            status=201,
            started=started,
            headers=NO_STORE,
        )

    async def revoke(self, request: Request) -> Response:
        started = time.perf_counter()
        caller = self._auth(request)
        target = self.rt.catalog.get_client(request.path_params["client"])
        beyond = [s for s in target.scopes if s not in scopes.expand(caller.scopes)]
        if beyond:  # only a client it could have created: clients:write cannot revoke admin
            raise ScopeError(beyond[0])
        client = self.rt.catalog.revoke_client(target.client_id)
        self.rt.catalog_moved()  # its open feeds end now
        return envelope([client.to_dict()], started=started)


def routes(runtime: Runtime) -> list[BaseRoute]:
    c = ClientRoutes(runtime)
    return [
        Route("/api/v1/clients", c.list, methods=["GET"]),
        Route("/api/v1/clients", c.create, methods=["POST"]),
        Route("/api/v1/clients/{client}", c.show, methods=["GET"]),
        Route("/api/v1/clients/{client}", c.revoke, methods=["DELETE"]),
        Route("/api/v1/clients/{client}/revoke", c.revoke, methods=["POST"]),
    ]
