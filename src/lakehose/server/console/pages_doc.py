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
]


def register(method: str, path: str, summary: str, role: str) -> None:
    """Add a console route to the document (for page modules that live elsewhere)."""
    CONSOLE_ROUTES.append((method, path, summary, role))


def openapi_paths() -> dict[str, Any]:
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
            "responses": {"200": {"description": "an HTML page or fragment"}}
            if method == "GET"
            else {
                "303": {"description": "done; see Location"},
                "403": {"description": "CSRF token missing or wrong, or the role is lacking"},
            },
        }
    return paths


def _path_params(path: str) -> list[str]:
    return [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")]
