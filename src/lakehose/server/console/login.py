"""Sign-in and sign-out: ``/console/login`` (posts ``username`` and ``password``), ``/console/logout``.

The sign-in form has no session yet, so its CSRF token is a double-submit one: a
random value in an HttpOnly, SameSite=Strict cookie scoped to the form's path and
the same value in a hidden field. Failed sign-ins are limited per account and per
source address, as OAuth2 client secrets are (token buckets in the catalog, shared
by every worker); over a limit the form answers 429 before any password is checked.
"""

from __future__ import annotations

import asyncio
import hmac
import math

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from lakehose.auth import passwords, secrets
from lakehose.server.console.app import Console
from lakehose.server.console.forms import read_form
from lakehose.server.console.guard import (
    CSRF_FIELD,
    PREFIX,
    SESSION_COOKIE,
    ConsoleRefusal,
    Visitor,
    client_address,
    current_session,
    guarded,
    is_https,
    same_origin,
    session_secret,
)
from lakehose.storage.accounts import Accounts
from lakehose.storage.catalog.clients import LoginLimit

LOGIN_COOKIE = "lakehose_login"
# failed sign-ins: a burst, then one more per interval (the OAuth2 limits)
USER_BURST, USER_PER_SECOND = 10.0, 1 / 6  # 10, then 10 a minute, per account
ADDRESS_BURST, ADDRESS_PER_SECOND = 30.0, 1 / 2  # 30, then 30 a minute, per source address
WRONG = "Wrong user name or password."


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a console path, never another site."""
    if (
        not value
        or not value.startswith(PREFIX)
        or value.startswith("//")
        or "\\" in value
        or any(ord(ch) < 32 for ch in value)
    ):
        return PREFIX
    if value.startswith(f"{PREFIX}/login") or value.startswith(f"{PREFIX}/logout"):
        return PREFIX
    return value


def login_limits(username: str, address: str) -> list[LoginLimit]:
    return [
        LoginLimit("console-user:" + username, USER_BURST, USER_PER_SECOND),
        LoginLimit("console-address:" + address, ADDRESS_BURST, ADDRESS_PER_SECOND),
    ]


def routes(console: Console) -> list[BaseRoute]:
    def accounts() -> Accounts:
        return console.accounts  # the catalog opens when the worker starts

    def form_page(
        request: Request, next_path: str, error: str = "", status: int = 200, username: str = ""
    ) -> Response:
        token = request.cookies.get(LOGIN_COOKIE) or secrets.new_secret(24)
        response = console.render(
            request,
            "login.html",
            {"next": next_path, "error": error, "login_token": token, "username": username},
            status=status,
        )
        response.set_cookie(
            LOGIN_COOKIE,
            token,
            max_age=3600,
            path=f"{PREFIX}/login",
            secure=is_https(request, console),
            httponly=True,
            samesite="strict",
        )
        return response

    async def show(request: Request) -> Response:
        next_path = safe_next(request.query_params.get("next"))
        if current_session(request, console) is not None:
            return RedirectResponse(next_path, 303)
        return form_page(request, next_path)

    async def submit(request: Request) -> Response:
        try:
            form = await read_form(request)
        except ConsoleRefusal as refusal:
            return refusal.response
        username = form.get("username")[:64]
        password = form.get("password")
        next_path = safe_next(form.get("next"))
        cookie_token = request.cookies.get(LOGIN_COOKIE, "")
        given_token = form.get(CSRF_FIELD)
        if (
            not same_origin(request)
            or not cookie_token
            or not hmac.compare_digest(cookie_token.encode(), given_token.encode())
        ):
            return form_page(
                request,
                next_path,
                "The sign-in form expired or came from another site; please try again.",
                403,
            )
        address = client_address(request)
        limits = login_limits(username, address)
        wait = console.runtime.catalog.login_wait(limits)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            response = form_page(
                request,
                next_path,
                f"Too many failed sign-ins; try again in {seconds} s.",
                429,
                username,
            )
            response.headers["Retry-After"] = str(seconds)
            return response
        stored = accounts().password_hash(username) if username else None
        ok = await asyncio.to_thread(passwords.verify, stored, password)
        if not ok:
            console.runtime.catalog.login_failed(limits)
            accounts().audit("-", "sign-in failed", username, "", address)
            return form_page(request, next_path, WRONG, 401, username)
        settings = console.runtime.settings
        accounts().sweep_sessions(settings.console_idle_timeout, settings.console_session_max)
        secret, _ = accounts().create_session(username, address)
        accounts().audit(username, "sign in", username, "", address)
        response = RedirectResponse(next_path, 303)
        response.set_cookie(
            SESSION_COOKIE,
            secret,
            max_age=int(console.runtime.settings.console_session_max),
            path=PREFIX,
            secure=is_https(request, console),
            httponly=True,
            samesite="strict",
        )
        response.delete_cookie(LOGIN_COOKIE, path=f"{PREFIX}/login")
        return response

    async def logout(request: Request, visitor: Visitor) -> Response:
        secret = session_secret(request)
        if secret is not None:
            accounts().end_session(secret)
        visitor.audit("sign out", visitor.user.name)
        response = RedirectResponse(f"{PREFIX}/login", 303)
        response.delete_cookie(
            SESSION_COOKIE,
            path=PREFIX,
            secure=is_https(request, console),
            httponly=True,
            samesite="strict",
        )
        return response

    return [
        Route("/login", show, methods=["GET"]),
        Route("/login", submit, methods=["POST"]),
        guarded("/logout", logout, console, methods=["POST"]),
    ]
