"""The console's routes in the OpenAPI document: HTML pages and form posts, for people.

Each entry is ``(method, path, summary, role)``; ``role`` is who may use it
(``public``, ``analyst`` = any signed-in user, ``admin``). A test checks that every
console route is listed here. State-changing requests need the session's CSRF
token (form field ``csrf_token`` or header ``X-CSRF-Token``).
"""

from __future__ import annotations

from typing import Any

CONSOLE_ROUTES: list[tuple[str, str, str, str]] = [
    ("GET", "/", "redirects to /console", "public"),
    ("GET", "/console", "redirects to the search page", "public"),
    ("GET", "/console/", "redirects to the search page", "public"),
    ("GET", "/console/login", "the sign-in form", "public"),
    ("POST", "/console/login", "sign in: form fields username, password, csrf_token", "public"),
    ("POST", "/console/logout", "sign out: ends the session on the server", "analyst"),
    ("GET", "/console/status", "the Status page", "analyst"),
    ("GET", "/console/streams", "the Streams page: open consumers, offsets, lag", "analyst"),
    ("GET", "/console/connectors", "the Data connectors page", "admin"),
    ("POST", "/console/connectors", "Add data connector (shows the API key once)", "admin"),
    ("GET", "/console/connectors/new", "the Add data connector form", "admin"),
    ("GET", "/console/connectors/{name}", "a connector's page", "admin"),
    ("POST", "/console/connectors/{name}", "save a connector's settings", "admin"),
    ("POST", "/console/connectors/{name}/rotate", "rotate the key (shown once)", "admin"),
    ("POST", "/console/connectors/{name}/enable", "enable a connector", "admin"),
    ("POST", "/console/connectors/{name}/disable", "disable a connector", "admin"),
    ("POST", "/console/connectors/{name}/delete", "delete (form field confirm = name)", "admin"),
    ("GET", "/console/clients", "the API clients page", "admin"),
    ("POST", "/console/clients", "create an API client (secret shown once)", "admin"),
    ("POST", "/console/clients/{client_id}/revoke", "revoke an API client", "admin"),
    ("GET", "/console/users", "the Users page", "admin"),
    ("POST", "/console/users", "add a console user", "admin"),
    (
        "POST",
        "/console/users/{name}/{action}",
        "enable, disable, delete, role or passwd a user",
        "admin",
    ),
    ("GET", "/console/audit", "the Audit log page", "admin"),
]


def register(method: str, path: str, summary: str, role: str) -> None:
    """Add a console route to the document (for page modules that live elsewhere)."""
    CONSOLE_ROUTES.append((method, path, summary, role))


_HTML = {"text/html": {"schema": {"type": "string"}}}
_NOT_FOUND = {
    "description": "no such connector, client, user or event (a page saying so); a path no "
    "console route matches, such as one with a line break in it, gets the API's JSON 404",
    "content": {
        **_HTML,
        "application/json": {"schema": {"$ref": "#/components/schemas/FalconEnvelope"}},
    },
}


def openapi_paths() -> dict[str, Any]:
    """Each console route with who may use it and every answer it gives.

    A page for signed-in users names the ``consoleSession`` cookie as its security: without
    it a GET is sent to the sign-in page (303; 401 with ``HX-Redirect`` for htmx), so for a
    GET the cookie is optional, and any other method is a 401. A missing role or CSRF
    token is a 403, an unknown name a 404.
    """
    paths: dict[str, Any] = {}
    for method, path, summary, role in CONSOLE_ROUTES:
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _path_params(path)
        ]
        paths.setdefault(path, {})[method.lower()] = {
            "tags": ["console"],
            "summary": summary,
            "description": f"HTML for people (who: {role}). Not a stable API.",
            **({"parameters": params} if params else {}),
            **({} if role == "public" else {"security": _security(method)}),
            "responses": _responses(method, path, role),
        }
    return paths


def _security(method: str) -> list[dict[str, list[str]]]:
    """The session cookie; optional for a page (``{}``: without it, the answer is the 303 to
    the sign-in page), required to change anything (a 401 without it)."""
    return [{"consoleSession": []}, {}] if method == "GET" else [{"consoleSession": []}]


def _responses(method: str, path: str, role: str) -> dict[str, Any]:
    text = {"text/plain": {"schema": {"type": "string"}}}
    if method == "GET" and path in ("/", "/console", "/console/"):
        return {"303": {"description": "to the search page (or the sign-in page)"}}
    if method == "GET":
        found: dict[str, Any] = {
            "200": {"description": "an HTML page or fragment", "content": _HTML}
        }
        if role == "public":  # the sign-in form: a signed-in visitor goes on to the console
            return {**found, "303": {"description": "already signed in: to the console"}}
        return {
            **found,
            "303": {"description": "not signed in: to /console/login?next=..."},
            "401": {"description": "not signed in (htmx: see HX-Redirect)", "content": text},
            "403": {"description": "the role is lacking", "content": _HTML},
            "404": _NOT_FOUND,
        }
    replies: dict[str, Any] = {
        "200": {"description": "done: the page again, showing a new key or secret once",
                "content": _HTML},
        "303": {"description": "done; see Location"},
        "400": {"description": "a form field is wrong (the form again, saying which)",
                "content": _HTML},
        "403": {
            "description": "CSRF token missing or wrong, or the role is lacking",
            "content": {**_HTML, **text},
        },
    }  # fmt: skip
    if role != "public":
        replies["401"] = {"description": "not signed in (see HX-Redirect)", "content": text}
        replies["404"] = _NOT_FOUND
    return replies


def _path_params(path: str) -> list[str]:
    return [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")]
