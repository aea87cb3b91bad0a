"""Data connectors pages (admin): the list, Add data connector, one connector's page and actions.

A new or rotated API key is shown once, in the answer to the POST that made it,
with ``Cache-Control: no-store``; the page then takes the connector's plain URL
(``history.replaceState``), so reloading it is a GET that shows only the key's
hint. The key itself is never stored anywhere but as its digest.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from lakehose.errors import ConflictError, NotFoundError, StorageError
from lakehose.parsers.formats import ParserRegistry
from lakehose.server.console import lake_stats
from lakehose.server.console.app import Console
from lakehose.server.console.forms import Form, read_form
from lakehose.server.console.guard import Visitor, guarded
from lakehose.storage.catalog.connectors import Connector
from lakehose.storage.lake import ACTIVE_WINDOW, connector_stats, hec_url
from lakehose.storage.refusals import Refusal

log = logging.getLogger(__name__)

GRACE_CHOICES: tuple[tuple[str, str], ...] = (
    ("0", "none: the old key stops now"),
    ("3600", "1 hour"),
    ("86400", "24 hours"),
    ("604800", "7 days"),
)


def show_events_url(name: str) -> str:
    """The search page filtered on the connector's events."""
    return "/console/search?q=" + quote(f"#connector={name}", safe="")


def status_of(connector: Connector, last_event_ns: int | None, now: float) -> str:
    if not connector.enabled:
        return "disabled"
    if last_event_ns and now - last_event_ns / 1e9 < ACTIVE_WINDOW:
        return "active"
    return "idle"


def server_root(url: str) -> str:
    """``http://host:port`` of a HEC URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def options_from(form: Form, registry: ParserRegistry, full: bool) -> dict[str, Any]:
    """Connector options from a form; ``full`` for the settings form (more fields)."""
    parser = form.get("parser").strip() or None
    if parser is not None and parser not in registry.parsers:
        raise ValueError(f"unknown parser {parser!r}; known: {', '.join(registry.names())}")
    options: dict[str, Any] = {
        "description": form.get("description").strip()[:500],
        "parser": parser,
        "default_index": form.get("index").strip() or None,
        "use_ack": form.get("ack") == "on",
    }
    if full:
        allowed = [i.strip() for i in form.get("allowed_indexes").replace(",", " ").split()]
        options.update(
            allowed_indexes=[i for i in allowed if i],
            default_source=form.get("source").strip() or None,
            default_sourcetype=form.get("sourcetype").strip() or None,
            default_host=form.get("host").strip() or None,
            allow_query_token=form.get("allow_query_token") == "on",
        )
        rate = form.get("rate_rps").strip()
        try:
            options["rate_rps"] = float(rate) if rate else None
        except ValueError:
            raise ValueError(f"requests per second {rate!r} is not a number") from None
    return options


def routes(console: Console) -> list[BaseRoute]:
    runtime = console.runtime

    def parser_choices() -> list[tuple[str, str]]:
        builtin = set(ParserRegistry.build().parsers)
        return [
            (name, name if name in builtin else f"{name} (custom)")
            for name in runtime.parsers.names()
        ]

    def flush_refusals() -> None:
        """This worker's refusals of the last second into the ring first (as the API's
        ``connector errors`` does), so a request refused just now is on the page."""
        try:
            runtime.refusals.flush(runtime.catalog)
        except StorageError as exc:  # the ring is best effort; the page still shows the rest
            log.warning("%s", exc)

    def refusals(connector: Connector, limit: int = 20) -> list[Refusal]:
        """The connector's recent refused requests, newest first."""
        flush_refusals()
        return runtime.catalog.refusals(connector.id, limit)

    def rows() -> list[dict[str, Any]]:
        now = time.time()
        stats = connector_stats(runtime.settings, runtime.catalog)
        activity = lake_stats.activity(runtime.readers.values(), now)
        recent = lake_stats.activity(runtime.readers.values(), now, 3600, 60)
        flush_refusals()
        refused = lake_stats.refused_counts(runtime.catalog, now - lake_stats.DAY)
        out = []
        for c in runtime.catalog.list_connectors():
            s = stats.get(c.name)
            last = s.last_event_time if s else None
            act = activity.get(c.name, lake_stats.Activity())
            hour = recent.get(c.name, lake_stats.Activity([0] * 60))
            out.append(
                {
                    "connector": c,
                    "status": status_of(c, last, now),
                    "last_event": last,
                    "events_24h": act.total,
                    "spark": lake_stats.sparkline_points(hour.buckets),
                    "events_hour": hour.total,
                    "refused_24h": None if refused is None else refused.get(c.id, 0),
                }
            )
        return out

    def list_page(
        request: Request, visitor: Visitor, error: str = "", form: Form | None = None
    ) -> Response:
        return console.render(
            request,
            "connectors.html",
            {
                "rows": rows(),
                "parsers": parser_choices(),
                "error": error,
                "form": form or Form([]),
            },
            visitor=visitor,
            status=400 if error else 200,
        )

    def connector_page(
        request: Request,
        visitor: Visitor,
        connector: Connector,
        *,
        new_key: str | None = None,
        error: str = "",
        notice: str = "",
    ) -> Response:
        now = time.time()
        stats = connector_stats(runtime.settings, runtime.catalog).get(connector.name)
        last = stats.last_event_time if stats else None
        activity = lake_stats.activity(runtime.readers.values(), now).get(
            connector.name, lake_stats.Activity()
        )
        hour = lake_stats.activity(runtime.readers.values(), now, 3600, 60).get(
            connector.name, lake_stats.Activity([0] * 60)
        )
        url = hec_url(runtime.settings)
        page_url = f"/console/connectors/{connector.name}"
        context = {
            "c": connector,
            "status": status_of(connector, last, now),
            "last_event": last,
            "events_total": stats.events if stats else 0,
            "bytes_total": stats.bytes if stats else 0,
            "events_24h": activity.total,
            "spark": lake_stats.sparkline_points(activity.buckets, 240, 40),
            "spark_hour": lake_stats.sparkline_points(hour.buckets, 240, 40),
            "refusals": refusals(connector),
            "key_hints": runtime.catalog.key_hints(connector.id),
            "hec_url": url,
            "server_root": server_root(url),
            "new_key": new_key,
            "show_events": show_events_url(connector.name),
            "parsers": parser_choices(),
            "grace_choices": GRACE_CHOICES,
            "error": error,
            "notice": notice,
            "page_location": page_url if request.method == "POST" else None,
        }
        return console.render(
            request,
            "connector.html",
            context,
            visitor=visitor,
            status=400 if error else 200,
        )

    def find(name: str) -> Connector | None:
        try:
            return runtime.catalog.get_connector(name)
        except NotFoundError:
            return None

    def not_found(request: Request, visitor: Visitor, name: str) -> Response:
        return console.render(
            request,
            "forbidden.html",
            {"title": "Not found", "reason": f"There is no connector named {name!r}."},
            visitor=visitor,
            status=404,
        )

    async def index(request: Request, visitor: Visitor) -> Response:
        if request.headers.get("hx-request"):  # the table refreshing itself every few seconds
            return console.render(
                request, "connectors_table.html", {"rows": rows()}, visitor=visitor
            )
        return list_page(request, visitor)

    async def new(request: Request, visitor: Visitor) -> Response:
        return console.render(
            request,
            "connector_new.html",
            {"parsers": parser_choices(), "error": "", "form": Form([])},
            visitor=visitor,
        )

    async def create(request: Request, visitor: Visitor) -> Response:
        form = await read_form(request)
        name = form.get("name").strip()
        try:
            options = options_from(form, runtime.parsers, full=False)
            connector, key = runtime.catalog.create_connector(name, **options)
        except (ValueError, ConflictError) as exc:
            return console.render(
                request,
                "connector_new.html",
                {"parsers": parser_choices(), "error": str(exc), "form": form},
                visitor=visitor,
                status=400,
            )
        runtime.reload_keys()
        visitor.audit("connector create", name, f"parser {options['parser'] or '-'}")
        return connector_page(request, visitor, connector, new_key=key)

    async def show(request: Request, visitor: Visitor) -> Response:
        connector = find(request.path_params["name"])
        if connector is None:
            return not_found(request, visitor, request.path_params["name"])
        notice = {"saved": "Settings saved.", "enabled": "Enabled.", "disabled": "Disabled."}
        return connector_page(
            request, visitor, connector, notice=notice.get(request.query_params.get("done", ""), "")
        )

    async def update(request: Request, visitor: Visitor) -> Response:
        connector = find(request.path_params["name"])
        if connector is None:
            return not_found(request, visitor, request.path_params["name"])
        form = await read_form(request)
        try:
            options = options_from(form, runtime.parsers, full=True)
            runtime.catalog.update_connector(connector.id, **options)
        except ValueError as exc:
            return connector_page(request, visitor, connector, error=str(exc))
        runtime.reload_keys()
        visitor.audit("connector update", connector.name)
        return RedirectResponse(f"/console/connectors/{connector.name}?done=saved", 303)

    async def rotate(request: Request, visitor: Visitor) -> Response:
        connector = find(request.path_params["name"])
        if connector is None:
            return not_found(request, visitor, request.path_params["name"])
        form = await read_form(request)
        try:
            grace = max(0.0, float(form.get("grace") or 0))
        except ValueError:
            grace = 0.0
        try:
            connector, key = runtime.catalog.rotate_key(connector.name, grace=grace)
        except ValueError as exc:  # a grace beyond a year: the key stays as it was
            return connector_page(request, visitor, connector, error=str(exc))
        runtime.reload_keys()
        visitor.audit("connector rotate key", connector.name, f"grace {int(grace)} s")
        return connector_page(request, visitor, connector, new_key=key)

    def set_enabled(enabled: bool) -> Callable[[Request, Visitor], Any]:
        async def endpoint(request: Request, visitor: Visitor) -> Response:
            connector = find(request.path_params["name"])
            if connector is None:
                return not_found(request, visitor, request.path_params["name"])
            runtime.catalog.update_connector(connector.id, enabled=enabled)
            runtime.reload_keys()
            what = "enabled" if enabled else "disabled"
            visitor.audit(f"connector {what[:-1]}", connector.name)
            return RedirectResponse(f"/console/connectors/{connector.name}?done={what}", 303)

        return endpoint

    async def delete(request: Request, visitor: Visitor) -> Response:
        connector = find(request.path_params["name"])
        if connector is None:
            return not_found(request, visitor, request.path_params["name"])
        form = await read_form(request)
        if form.get("confirm").strip() != connector.name:
            return connector_page(
                request,
                visitor,
                connector,
                error="Not deleted: type the connector's name to confirm.",
            )
        runtime.catalog.delete_connector(connector.id)
        runtime.reload_keys()
        visitor.audit("connector delete", connector.name)
        return RedirectResponse("/console/connectors", 303)

    def admin(path: str, endpoint: Any, method: str = "GET") -> BaseRoute:
        return guarded(path, endpoint, console, role="admin", methods=[method])

    return [
        admin("/connectors", index),
        admin("/connectors", create, "POST"),
        admin("/connectors/new", new),
        admin("/connectors/{name}", show),
        admin("/connectors/{name}", update, "POST"),
        admin("/connectors/{name}/rotate", rotate, "POST"),
        admin("/connectors/{name}/enable", set_enabled(True), "POST"),
        admin("/connectors/{name}/disable", set_enabled(False), "POST"),
        admin("/connectors/{name}/delete", delete, "POST"),
    ]
