"""The Users page (admin): console accounts, their roles, passwords and sessions."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from lakehose.auth import passwords
from lakehose.errors import ConflictError, NotFoundError
from lakehose.server.console.app import Console
from lakehose.server.console.forms import Form, read_form
from lakehose.server.console.guard import Visitor, guarded


def routes(console: Console) -> list[BaseRoute]:
    def page(
        request: Request, visitor: Visitor, error: str = "", form: Form | None = None
    ) -> Response:
        users = console.accounts.list_users()
        return console.render(
            request,
            "users.html",
            {
                "users": users,
                "sessions": {u.name: console.accounts.session_count(u.name) for u in users},
                "error": error,
                "form": form or Form([]),
                "done": request.query_params.get("done", ""),
            },
            visitor=visitor,
            status=400 if error else 200,
        )

    async def index(request: Request, visitor: Visitor) -> Response:
        return page(request, visitor)

    async def create(request: Request, visitor: Visitor) -> Response:
        form = await read_form(request)
        name, role = form.get("name").strip(), form.get("role")
        try:
            hashed = await asyncio.to_thread(passwords.hash_password, form.get("password"))
            console.accounts.create_user(name, role, hashed)
        except (ValueError, ConflictError) as exc:
            return page(request, visitor, str(exc), form)
        visitor.audit("user create", name, f"role {role}")
        return RedirectResponse("/console/users?done=created", 303)

    async def change(request: Request, visitor: Visitor) -> Response:
        name = request.path_params["name"]
        action = request.path_params["action"]
        form = await read_form(request)
        if name == visitor.user.name and action in ("disable", "delete", "role"):
            return page(request, visitor, "You cannot disable, delete or demote yourself.")
        try:
            if action == "disable":
                console.accounts.set_disabled(name, True)
            elif action == "enable":
                console.accounts.set_disabled(name, False)
            elif action == "delete":
                console.accounts.delete_user(name)
            elif action == "role":
                console.accounts.set_role(name, form.get("role"))
            elif action == "passwd":
                hashed = await asyncio.to_thread(passwords.hash_password, form.get("password"))
                console.accounts.set_password(name, hashed)
            else:
                return page(request, visitor, f"unknown action {action!r}")
        except (ValueError, NotFoundError) as exc:
            return page(request, visitor, str(exc))
        detail = f"role {form.get('role')}" if action == "role" else ""
        visitor.audit(f"user {action}", name, detail)
        return RedirectResponse(f"/console/users?done={action}", 303)

    def admin(path: str, endpoint: Any, method: str = "GET") -> BaseRoute:
        return guarded(path, endpoint, console, role="admin", methods=[method])

    return [
        admin("/users", index),
        admin("/users", create, "POST"),
        admin("/users/{name}/{action}", change, "POST"),
    ]
