"""The OpenAPI paths and schemas of ``/api/v1/search/...`` (``search_views.py``, ``search_stream.py``).

Kept beside ``openapi.py``, which merges them into the served document.
"""

from __future__ import annotations

from typing import Any

from lakehose.server.openapi_parts import falcon, query_param

_SECURITY: list[dict[str, list[str]]] = [{"bearerToken": ["search:read"]}, {"consoleSession": []}]
_ERRORS = {
    "400": falcon("Bad query (errors[0] has line and column), time or parameter"),
    "401": falcon("No bearer token or console session, or an invalid one"),
    "403": falcon("The token lacks search:read"),
}


_QUERY = [
    query_param("q", "the query; only its leading filter (before the first |) counts here"),
    query_param("start", "15m, 24h, 7d, now, ISO 8601, or epoch s/ms/us/ns (default: all)"),
    query_param("end", "exclusive end, same forms (default: open)"),
]


def paths() -> dict[str, Any]:
    position = [
        {"name": "partition", "in": "path", "required": True, "schema": {"type": "integer"}},
        {"name": "offset", "in": "path", "required": True, "schema": {"type": "integer"}},
    ]
    return {
        "/api/v1/search/histogram": {
            "get": {
                "summary": "Event counts over the whole range in round buckets, with the total",
                "tags": ["Search"],
                "security": _SECURITY,
                "parameters": [
                    *_QUERY,
                    query_param(
                        "buckets",
                        "at most this many buckets (default 100)",
                        {"type": "integer", "minimum": 1, "maximum": 1000},
                    ),
                ],
                "responses": {
                    "200": falcon("One histogram", "SearchHistogram"),
                    **_ERRORS,
                    "422": falcon("The scan took longer than search_timeout"),
                },
            }
        },
        "/api/v1/search/fields": {
            "get": {
                "summary": "Top values of the fields of the newest matching events",
                "tags": ["Search"],
                "security": _SECURITY,
                "parameters": [
                    *_QUERY,
                    query_param(
                        "sample",
                        "events looked at, newest first (default 10000)",
                        {"type": "integer", "minimum": 1, "maximum": 100000},
                    ),
                    query_param(
                        "top",
                        "values per field (default 5)",
                        {"type": "integer", "minimum": 1, "maximum": 100},
                    ),
                ],
                "responses": {"200": falcon("One field list", "SearchFields"), **_ERRORS},
            }
        },
        "/api/v1/search/events/{partition}/{offset}": {
            "get": {
                "summary": "One event and the events stored before and after it (offset order)",
                "tags": ["Search"],
                "security": _SECURITY,
                "parameters": [
                    *position,
                    query_param(
                        "before",
                        "events before it (default 0)",
                        {"type": "integer", "minimum": 0, "maximum": 1000},
                    ),
                    query_param(
                        "after",
                        "events after it (default 0)",
                        {"type": "integer", "minimum": 0, "maximum": 1000},
                    ),
                ],
                "responses": {
                    "200": falcon("The events, oldest first, as POST /api/v1/search lists them"),
                    **_ERRORS,
                    "404": falcon("No such partition, or no event kept at that offset"),
                },
            }
        },
        "/api/v1/search/export": {
            "get": {
                "summary": "Every row of a search as a download: NDJSON or CSV",
                "tags": ["Search"],
                "security": _SECURITY,
                "parameters": [
                    query_param("q", "the query (events or an aggregate)"),
                    *_QUERY[1:],
                    query_param("format", "ndjson (default) or csv", {"enum": ["ndjson", "csv"]}),
                    query_param(
                        "limit", "at most this many rows (default: all)", {"type": "integer"}
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "Rows as found, newest event first; CSV of events has the "
                        "columns @timestamp, #connector, #index, #sourcetype, host, source, "
                        "partition, offset, @rawstring",
                        "content": {
                            "application/x-ndjson": {"schema": {"type": "string"}},
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    **_ERRORS,
                },
            }
        },
        "/api/v1/search/tail": {
            "get": {
                "summary": "Server-sent events: each new event the query's filter matches",
                "tags": ["Search"],
                "security": _SECURITY,
                "parameters": [_QUERY[0]],
                "responses": {
                    "200": {
                        "description": "text/event-stream: 'event: event' messages with id "
                        "partition:offset and the event as JSON data; 'event: skipped' when a "
                        "burst held more than 1000 matches; a comment every 15 s when idle",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    **_ERRORS,
                },
            }
        },
    }


def console_paths() -> dict[str, Any]:
    """The same endpoints under ``/console`` (where the session cookie is sent), for the
    console's pages: the same parameters and answers, for a signed-in console user."""
    return {
        "/console" + path: {
            method: {**operation, "security": [{"consoleSession": []}]}
            for method, operation in methods.items()
        }
        for path, methods in paths().items()
    }


def schemas() -> dict[str, Any]:
    integer = {"type": "integer"}
    return {
        "SearchHistogram": {
            "type": "object",
            "properties": {
                "start": {"type": ["integer", "null"], "description": "ns, first bucket's start"},
                "end": {"type": ["integer", "null"], "description": "ns, last bucket's end"},
                "bucket_ns": integer,
                "counts": {"type": "array", "items": integer},
                "total": integer,
                "range": {"type": "object", "description": "the range asked for, in ns"},
                "stats": {
                    "type": "object",
                    "description": "events_from_summaries, batches_read, events_scanned,"
                    " columnar_files, took_ms",
                },
            },
        },
        "SearchFields": {
            "type": "object",
            "properties": {
                "events": {"type": "integer", "description": "events looked at"},
                "complete": {"type": "boolean", "description": "every match was looked at"},
                "fields": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "field": {"type": "string"},
                            "events": integer,
                            "distinct": integer,
                            "top": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {"value": {}, "count": integer},
                                },
                            },
                        },
                    },
                },
            },
        },
    }


def security_schemes() -> dict[str, Any]:
    from lakehose.server.console.guard import SESSION_COOKIE

    return {
        "consoleSession": {
            "type": "apiKey",
            "in": "cookie",
            "name": SESSION_COOKIE,
            "description": "a signed-in console user (any role); the cookie's path is /console, "
            "so the console's pages call these endpoints under /console/api/v1/search/...",
        }
    }
