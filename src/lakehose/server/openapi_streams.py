"""The OpenAPI part of lakehose's stream extensions: feed parameters, consumer groups, sandbox.

Every item here is marked ``x-lakehose-extension: true`` and says so in its
description: CrowdStrike's Falcon API has none of it.
"""

from __future__ import annotations

from typing import Any

from lakehose.server.openapi_parts import JSON, falcon, query_param
from lakehose.storage.faults import FAULTS

EXT = "x-lakehose-extension"
_NOTE = "(lakehose extension; not in CrowdStrike's API) "


def _param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    """A query parameter that Falcon's API lacks."""
    return {**query_param(name, _NOTE + description, schema), EXT: True}


def feed_parameters() -> list[dict[str, Any]]:
    """The data feed's extension parameters (a feed without them is Falcon's)."""
    text = {"type": "string"}
    return [
        _param(
            "start",
            {"type": "string", "pattern": r"^(earliest|latest|committed|offset:\d+|time:.+)$"},
            "where to start when no offset= is given: earliest, latest, committed (after the "
            "appId's committed offset; the oldest kept when it has none), offset:N, or "
            "time:<RFC 3339, epoch or 24h> (the first offset whose ingest time is >= T, from "
            "the batch summaries). Without start= and offset=, a group with a committed "
            "offset resumes strictly after it.",
        ),
        _param(
            "on_out_of_range",
            {"enum": ["error", "earliest", "latest"]},
            "a start position outside the kept offsets: error (default, 416 naming the oldest "
            "kept offset), earliest or latest. With Falcon's offset= it applies only when given.",
        ),
        _param(
            "filter",
            text,
            "a filter expression of the query language (no | functions), run by the server; "
            "envelopes keep the lake's offsets",
        ),
        _param("connector", text, "comma-separated connector names"),
        _param("index", text, "comma-separated index names"),
        _param("sourcetype", text, "comma-separated sourcetypes"),
        _param(
            "commit",
            {"enum": ["none", "auto"]},
            "auto: commit the appId's position as the feed is written, one heartbeat_interval "
            "behind (at-least-once for consumers that process within that time)",
        ),
        _param(
            "takeover",
            {"type": "boolean"},
            "true: replace the appId's open connection on this partition instead of a 401",
        ),
    ]


def feed_responses() -> dict[str, Any]:
    return {
        "416": {
            **falcon(
                _NOTE + "the start position is older than retention or beyond the end; "
                "errors[0] has oldest_offset and next_offset"
            ),
            EXT: True,
        }
    }


def _op(summary: str, scope: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "summary": summary,
        "description": _NOTE.strip(),
        "tags": ["Stream extensions"],
        "security": [{"bearerToken": [scope]}],
        "responses": responses,
        EXT: True,
        **extra,
    }


def paths() -> dict[str, Any]:
    app = {
        "name": "app_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,32}$"},
    }
    errors = {
        "400": falcon("Bad request"),
        "401": falcon("Missing or bad bearer token"),
        "403": falcon("Another API client's group, or a missing scope"),
        "404": falcon("No such group or partition"),
    }
    body = {
        "required": True,
        "content": {JSON: {"schema": {"type": "object"}}},
    }
    partition = {"type": "integer", "minimum": 0}
    position = {
        "type": "object",
        "required": ["offset"],
        "properties": {
            "partition": {**partition, "description": "default 0"},
            "offset": {"type": "integer", "minimum": 0, "description": "the last one processed"},
        },
    }
    commit = {
        "required": True,
        "content": {
            JSON: {
                "schema": {
                    "anyOf": [
                        position,
                        {
                            "type": "object",
                            "required": ["positions"],
                            "properties": {
                                "positions": {"type": "array", "minItems": 1, "items": position}
                            },
                        },
                    ]
                }
            }
        },
    }
    reset = {
        "required": True,
        "content": {
            JSON: {
                "schema": {
                    "type": "object",
                    "required": ["start"],
                    "properties": {
                        "start": {
                            "type": "string",
                            "pattern": r"^\s*(earliest|latest|offset:\s*\d+\s*|time:.+)\s*$",
                        },
                        "partitions": {"type": "array", "items": partition},
                        "on_out_of_range": {"enum": ["error", "earliest", "latest"]},
                    },
                }
            }
        },
    }
    sandbox_errors = {
        "401": falcon("Missing or bad bearer token"),
        "403": falcon("Not admin, or not from a loopback address"),
        "404": falcon("The server was not started with --sandbox"),
    }
    return {
        "/api/v1/stream-groups": {
            "get": _op(
                "Consumer groups with their positions and lag (own; all for admin)",
                "streams:read",
                {"200": falcon("Groups", "ConsumerGroup"), **errors},
            )
        },
        "/api/v1/stream-groups/{app_id}": {
            "get": _op(
                "A group's committed offset and lag (events, seconds) per partition",
                "streams:read",
                {"200": falcon("The group", "ConsumerGroup"), **errors},
                parameters=[app],
            ),
            "delete": _op(
                "Forget a group and its positions",
                "streams:read",
                {"200": falcon("Deleted"), **errors},
                parameters=[app],
            ),
        },
        "/api/v1/stream-groups/{app_id}/commit": {
            "post": _op(
                'Commit {"partition": P, "offset": N} (N: the last event processed; the group '
                'resumes at N+1), or {"positions": [...]}; durable when answered',
                "streams:read",
                {"200": falcon("The group after the commit", "ConsumerGroup"), **errors},
                parameters=[app],
                requestBody=commit,
            )
        },
        "/api/v1/stream-groups/{app_id}/reset": {
            "post": _op(
                'Move a group: {"start": "earliest|latest|offset:N|time:T", "partitions": [P]}',
                "streams:read",
                {
                    "200": falcon("The group after the reset", "ConsumerGroup"),
                    "416": falcon("The position is not kept"),
                    **errors,
                },
                parameters=[app],
                requestBody=reset,
            )
        },
        "/api/v1/sandbox": {
            "get": _op(
                "Faults armed and fired, the faults there are, the sandbox clock",
                "admin",
                {"200": falcon("The sandbox"), **sandbox_errors},
            )
        },
        "/api/v1/sandbox/faults": {
            "post": _op(
                'Arm a fault: {"fault": NAME, "count": N | "duration": S, and "seconds" '
                '(hec_delay), "retry_after" (hec_throttle) or "rate" (feed_slow)}. Faults: '
                + "; ".join(f"{k}: {v}" for k, v in FAULTS.items() if k != "session_expire"),
                "admin",
                {
                    "201": falcon("Armed"),
                    "400": falcon("Unknown fault or bad spec"),
                    **sandbox_errors,
                },
                requestBody=body,
            ),
            "delete": _op(
                "Disarm and forget every fault",
                "admin",
                {"200": falcon("Cleared"), **sandbox_errors},
            ),
        },
        "/api/v1/sandbox/sessions/expire": {
            "post": _op(
                "Expire every stream session now (open feeds end, refreshes answer 404)",
                "admin",
                {"200": falcon("Expired"), **sandbox_errors},
            )
        },
        "/api/v1/sandbox/clock": {
            "put": _op(
                'Stamp new batches with now + offset: {"offset_seconds": S} (tests only)',
                "admin",
                {"200": falcon("Set"), **sandbox_errors},
                requestBody=body,
            )
        },
    }


def schemas() -> dict[str, Any]:
    number = {"type": "number"}
    integer = {"type": "integer"}
    return {
        "ConsumerGroup": {
            "type": "object",
            "description": _NOTE + "an appId's positions",
            "properties": {
                "app_id": {"type": "string"},
                "client_id": {"type": "string"},
                "lag_events": integer,
                "lag_seconds": number,
                "partitions": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "partition": integer,
                            "committed": {
                                **integer,
                                "description": "last event processed; -1: none",
                            },
                            "lag_events": integer,
                            "lag_seconds": number,
                            "committed_at": number,
                            "commits": integer,
                        },
                    },
                },
            },
        }
    }
