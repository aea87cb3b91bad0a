"""The OpenAPI 3.1 document of every lakehose endpoint, served at ``/api/v1/openapi.json``.

Written out by hand, close to the code it describes; a test fails when a route the
server serves is missing here, so the document cannot fall behind.
"""

from __future__ import annotations

from typing import Any

import lakehose
from lakehose.auth.scopes import ALL_SCOPES
from lakehose.parsers.hec import CODES
from lakehose.server import openapi_search, openapi_streams
from lakehose.server.openapi_parts import JSON, falcon, json_reply, ref

_ERRORS = {
    "400": falcon(
        "Bad request: errors[0].message says what (a field of the wrong type is named; "
        "two Authorization headers are a 400 on every route)"
    ),
    "401": falcon("Missing, unknown, expired or revoked bearer token"),
    "403": falcon("The token lacks the scope, or the caller is not on a loopback address"),
}
_METRICS_ACCESS = {
    "401": falcon("metrics_token is set and no valid bearer token was sent"),
    "403": falcon(
        "Not from a loopback address (allow_remote_metrics is off), or the token lacks "
        "metrics:read (metrics_token is set)"
    ),
}
_HEC_REPLIES = {
    "200": json_reply(ref("HecReply"), "Success (code 0); ackId when the connector has acks on"),
    "400": json_reply(ref("HecReply"), "Bad data or metadata (codes 5, 6, 7, 10-16)"),
    "401": json_reply(ref("HecReply"), "No key, or a malformed Authorization header (codes 2, 3)"),
    "403": json_reply(ref("HecReply"), "Unknown or disabled key (codes 1, 4)"),
    "408": json_reply(ref("HecReply"), "The body stalled longer than body_timeout"),
    "413": json_reply(ref("HecReply"), "Body over max_body_bytes, before or after decompression"),
    "415": json_reply(ref("HecReply"), "Content-Encoding other than gzip, zstd or identity"),
    "503": json_reply(
        ref("HecReply"), "Busy, over the rate limit or disk full (code 9): nothing was stored"
    ),
}
_HEC_AUTH: list[dict[str, list[str]]] = [
    {"splunkKey": []},
    {"bearerKey": []},
    {"basicKey": []},
    {"queryToken": []},
]


def _hec_paths() -> dict[str, Any]:
    event = {
        "post": {
            "summary": "Send JSON events (envelopes, concatenated or in an array)",
            "tags": ["HEC"],
            "security": _HEC_AUTH,
            "parameters": [
                {"name": n, "in": "query", "schema": {"type": "string"}, "description": d}
                for n, d in (
                    ("host", "default host"),
                    ("source", "default source"),
                    ("sourcetype", "default sourcetype"),
                    ("index", "default index"),
                    ("channel", "request channel (connectors with acks)"),
                )
            ],
            "requestBody": {
                "content": {
                    JSON: {
                        "schema": {
                            "oneOf": [
                                ref("HecEnvelope"),
                                {"type": "array", "items": ref("HecEnvelope")},
                                {"type": "string"},
                            ]
                        }
                    }
                }
            },
            "responses": _HEC_REPLIES,
        },
        "options": {
            "summary": "Allow: POST,OPTIONS (no key)",
            "tags": ["HEC"],
            "responses": {"200": {"description": "empty"}},
        },
    }
    raw = {
        "post": {
            "summary": "Send raw text, one event per line",
            "tags": ["HEC"],
            "security": _HEC_AUTH,
            "parameters": [
                {"name": n, "in": "query", "schema": {"type": "string"}}
                for n in ("host", "source", "sourcetype", "index", "time", "channel")
            ],
            "requestBody": {"content": {"text/plain": {"schema": {"type": "string"}}}},
            "responses": _HEC_REPLIES,
        },
        "options": event["options"],
    }
    ack = {
        "post": {
            "summary": "Which ack ids are durable (connectors with acks)",
            "tags": ["HEC"],
            "security": _HEC_AUTH,
            "requestBody": {
                "content": {
                    JSON: {
                        "schema": {
                            "type": "object",
                            "required": ["acks"],
                            "properties": {
                                "acks": {
                                    "type": "array",
                                    "items": {"type": "integer", "minimum": 0},
                                }
                            },
                        }
                    }
                }
            },
            "responses": {
                "200": json_reply(
                    {
                        "type": "object",
                        "properties": {
                            "acks": {"type": "object", "additionalProperties": {"type": "boolean"}}
                        },
                    },
                    "Each id: true once (then forgotten)",
                ),
                "400": json_reply(ref("HecReply"), "Codes 6, 10, 11, 14"),
            },
        },
        "options": event["options"],
    }
    health = {
        "get": {
            "summary": "Health (no key)",
            "tags": ["HEC"],
            "responses": {
                "200": json_reply(ref("HecReply"), "HEC is healthy (code 17)"),
                "503": json_reply(
                    ref("HecReply"), "Queues full or disk full (18), shutting down (23)"
                ),
            },
        },
        "options": {
            "summary": "Allow: GET,HEAD,OPTIONS",
            "tags": ["HEC"],
            "responses": {"200": {"description": "empty"}},
        },
    }
    return {
        "/services/collector": event,
        "/services/collector/event": event,
        "/services/collector/event/1.0": event,
        "/api/v1/ingest/hec": event,
        "/services/collector/raw": raw,
        "/services/collector/raw/1.0": raw,
        "/api/v1/ingest/hec/raw": raw,
        "/services/collector/ack": ack,
        "/services/collector/ack/1.0": ack,
        "/services/collector/health": health,
        "/services/collector/health/1.0": health,
    }


def _bearer(scope: str) -> list[dict[str, list[str]]]:
    return [{"bearerToken": [scope]}]


def _api_paths() -> dict[str, Any]:
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    client = {
        "name": "client",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": "name or client id",
    }
    partition = {
        "name": "partition",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    }
    app_id = {
        "name": "appId",
        "in": "query",
        "required": True,
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,32}$"},
    }
    text = {"type": "string", "minLength": 1}

    def form(*required: str) -> dict[str, Any]:
        fields = ("client_id", "client_secret", "token")
        return {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": list(required),
                    "properties": {
                        f: text if f in required else {"type": "string"} for f in fields
                    },
                }
            }
        }

    return {
        "/api/v1/search": {
            "post": {
                "summary": "Search the lake with a LogScale-style query (see README, Search)",
                "tags": ["Search"],
                "security": _bearer("search:read"),
                "requestBody": {"content": {JSON: {"schema": ref("SearchRequest")}}},
                "responses": {
                    "200": falcon(
                        "Rows: whole events newest first, or the table an aggregate or table() "
                        "makes; meta.search has the counts and time taken, "
                        "meta.pagination.next_cursor the next page of an event list"
                    ),
                    **_ERRORS,
                    "400": falcon(
                        "Bad query (errors[0] has line and column; a regex construct RE2 "
                        "cannot run, such as a backreference or lookaround, is named), "
                        "time, limit or cursor (cursors are signed: a changed one is refused)"
                    ),
                    "422": falcon("The search scanned longer than search_timeout and was stopped"),
                },
            }
        },
        "/oauth2/token": {
            "post": {
                "summary": "OAuth2 client credentials: an access token",
                "tags": ["OAuth2"],
                "requestBody": {"required": True, "content": form("client_id", "client_secret")},
                "responses": {
                    "201": json_reply(ref("AccessToken"), "The token (expires_in is an integer)"),
                    "400": falcon("client_id or client_secret missing"),
                    "403": falcon("access denied, authorization failed"),
                    "429": falcon(
                        "Too many failed attempts from this address, or the client holds "
                        "max_tokens_per_client live tokens; see Retry-After"
                    ),
                },
            }
        },
        "/oauth2/revoke": {
            "post": {
                "summary": "Revoke a token (Basic client_id:client_secret)",
                "tags": ["OAuth2"],
                "security": [{"clientBasic": []}],
                "requestBody": {"required": True, "content": form("token")},
                "responses": {
                    "200": falcon("Revoked (or was not live)"),
                    "400": falcon("The form field token is missing"),
                    "401": falcon("No or malformed Basic client credentials"),
                    "403": falcon("Unknown client or wrong secret"),
                    "429": falcon("Too many failed attempts"),
                },
            }
        },
        "/sensors/entities/datafeed/v2": {
            "get": {
                "summary": "Discover streams: one per partition, with a session token",
                "tags": ["Streams"],
                "security": _bearer("streams:read"),
                "parameters": [
                    app_id,
                    {"name": "format", "in": "query", "schema": {"enum": ["json", "flatjson"]}},
                ],
                "responses": {
                    "200": falcon("Streams", "StreamResource"),
                    **_ERRORS,
                    "429": falcon("The client holds max_sessions_per_client live sessions"),
                },
            }
        },
        "/sensors/entities/datafeed/v1/{partition}": {
            "get": {
                "summary": "The data feed: NDJSON Falcon envelopes from an inclusive offset, then live",
                "tags": ["Streams"],
                "security": [{"sessionToken": []}],
                "parameters": [
                    partition,
                    app_id,
                    {
                        "name": "offset",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 0},
                        "description": "first offset to send (inclusive)",
                    },
                    {
                        "name": "whence",
                        "in": "query",
                        "schema": {"enum": [0, 2]},
                        "description": "2: only new events",
                    },
                    {
                        "name": "eventType",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "comma-separated; empty means all",
                    },
                    {"name": "format", "in": "query", "schema": {"enum": ["json", "flatjson"]}},
                    *openapi_streams.feed_parameters(),
                ],
                "responses": {
                    "200": {
                        "description": "Chunked NDJSON; a CRLF keep-alive line when idle",
                        "content": {JSON: {"schema": ref("FalconEvent")}},
                    },
                    "400": falcon("Bad offset, appId or parameter"),
                    "401": falcon(
                        "Bad, expired or revoked session token, or this client's appId busy "
                        "on this partition"
                    ),
                    "429": falcon("The client holds max_feeds_per_client open feeds"),
                    **openapi_streams.feed_responses(),
                },
            }
        },
        "/sensors/entities/datafeed-actions/v1/{partition}": {
            "post": {
                "summary": "Refresh the active stream session",
                "tags": ["Streams"],
                "security": _bearer("streams:read"),
                "parameters": [
                    partition,
                    app_id,
                    {
                        "name": "action_name",
                        "in": "query",
                        "required": True,
                        "schema": {"const": "refresh_active_stream_session"},
                    },
                ],
                "responses": {
                    "200": falcon("Refreshed"),
                    "404": falcon("No active session"),
                    **_ERRORS,
                },
            }
        },
        "/": {
            "get": {
                "summary": "Where to go from here: links to HEC, health, status, the console "
                "and this document",
                "tags": ["lakehose"],
                "description": "A browser (Accept names text/html) is redirected to /console; "
                "anything else gets the JSON document of links.",
                "responses": {
                    "200": json_reply({"type": "object"}, "name, version and links"),
                    "303": {"description": "To /console, for a browser"},
                },
            }
        },
        "/api/v1/status": {
            "get": {
                "summary": "Version, health, workers, partitions' offsets, each tier's size",
                "tags": ["lakehose"],
                "description": "Loopback only unless allow_remote_metrics; a bearer token with "
                "metrics:read when metrics_token is set. `cluster` is null on a single node; on "
                "a cluster (serve --cluster) it holds `namespace`, `connected_to`, "
                "`nats_version`, `nodes` (the lakehose nodes with a heartbeat in the cluster: "
                "`name`, `url`, `version`, `started_at`, `seen_at` (Unix seconds), "
                "`seen_seconds_ago`, `stale`: no heartbeat for 15 s; a node leaves the list when "
                "it stops, or 30 s after its last heartbeat), "
                "`servers` (`server`, `leads`: streams it leads, `offline`) and "
                "`streams` (`stream`, `leader`, `replicas`: `server`, `current`, `offline`, "
                "`lag`, `active_seconds`; `messages`, `bytes`), for every partition stream and "
                "catalog bucket",
                "responses": {"200": falcon("Status"), **_METRICS_ACCESS},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics of every worker",
                "tags": ["lakehose"],
                "description": "Loopback only unless allow_remote_metrics; a bearer token with "
                "metrics:read when metrics_token is set",
                "responses": {
                    "200": {
                        "description": "Prometheus text",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    **_METRICS_ACCESS,
                },
            }
        },
        "/api/v1/openapi.json": {
            "get": {
                "summary": "This document",
                "tags": ["lakehose"],
                "responses": {"200": json_reply({"type": "object"}, "OpenAPI 3.1")},
            }
        },
        "/api/v1/connectors": {
            "get": {
                "summary": "List connectors with status and counts",
                "tags": ["Connectors"],
                "security": _bearer("connectors:read"),
                "responses": {"200": falcon("Connectors", "Connector"), **_ERRORS},
            },
            "post": {
                "summary": "Create a connector (its API key is in the answer, once)",
                "tags": ["Connectors"],
                "security": _bearer("connectors:write"),
                "requestBody": {
                    "required": True,
                    "content": {JSON: {"schema": ref("ConnectorRequest")}},
                },
                "responses": {
                    "201": falcon("Created", "Connector"),
                    "409": falcon("Name taken"),
                    **_ERRORS,
                },
            },
        },
        "/api/v1/connectors/{name}": {
            "get": {
                "summary": "One connector",
                "tags": ["Connectors"],
                "security": _bearer("connectors:read"),
                "parameters": [name],
                "responses": {
                    "200": falcon("Connector", "Connector"),
                    "404": falcon("Not found"),
                    **_ERRORS,
                },
            },
            "patch": {
                "summary": "Change settings, enable or disable",
                "tags": ["Connectors"],
                "security": _bearer("connectors:write"),
                "parameters": [name],
                "requestBody": {"content": {JSON: {"schema": ref("ConnectorRequest")}}},
                "responses": {
                    "200": falcon("Changed", "Connector"),
                    "404": falcon("Not found"),
                    **_ERRORS,
                },
            },
            "delete": {
                "summary": "Delete (its events stay)",
                "tags": ["Connectors"],
                "security": _bearer("connectors:write"),
                "parameters": [name],
                "responses": {"200": falcon("Deleted"), "404": falcon("Not found"), **_ERRORS},
            },
        },
        "/api/v1/connectors/{name}/rotate": {
            "post": {
                "summary": "A new key (in the answer, once); the old keys stop now or after grace",
                "description": "Zero-downtime rotation: with grace the old keys keep working "
                "until old_keys_until (ISO 8601 UTC), so senders can switch meanwhile.",
                "tags": ["Connectors"],
                "security": _bearer("connectors:write"),
                "parameters": [name],
                "requestBody": {
                    "required": False,
                    "content": {
                        JSON: {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "grace": {
                                        "oneOf": [
                                            {"type": "string"},
                                            {"type": "number", "minimum": 0, "maximum": 31536000},
                                        ],
                                        "description": "how long old keys keep working: 10m, "
                                        "24h, or seconds (default 0: stop now; at most 365d)",
                                    }
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": falcon("Rotated", "Connector"),
                    "404": falcon("Not found"),
                    **_ERRORS,
                },
            }
        },
        "/api/v1/connectors/{name}/errors": {
            "get": {
                "summary": "The connector's recent refused requests, newest first",
                "description": "A bounded ring (100 per connector): time (ISO 8601 UTC), "
                "client address, HTTP status, HEC code and text, the refused event's number "
                "and first bytes (credentials masked), path. Recorded within about a second.",
                "tags": ["Connectors"],
                "security": _bearer("connectors:read"),
                "parameters": [
                    name,
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                    },
                ],
                "responses": {
                    "200": falcon("Refused requests", "Refusal"),
                    "404": falcon("Not found"),
                    **_ERRORS,
                },
            }
        },
        "/api/v1/clients": {
            "get": {
                "summary": "List API clients (never secrets)",
                "tags": ["Clients"],
                "security": _bearer("clients:write"),
                "parameters": [{"name": "all", "in": "query", "schema": {"type": "boolean"}}],
                "responses": {"200": falcon("Clients", "ApiClient"), **_ERRORS},
            },
            "post": {
                "summary": "Create an API client (its secret is in the answer, once)",
                "tags": ["Clients"],
                "security": _bearer("clients:write"),
                "requestBody": {
                    "required": True,
                    "content": {
                        JSON: {
                            "schema": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["name", "scopes"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "scopes": {
                                        "type": "array",
                                        "items": {"enum": sorted(ALL_SCOPES)},
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": falcon("Created", "ApiClient"),
                    "409": falcon("Name taken"),
                    **_ERRORS,
                },
            },
        },
        "/api/v1/clients/{client}": {
            "get": {
                "summary": "One API client",
                "tags": ["Clients"],
                "security": _bearer("clients:write"),
                "parameters": [client],
                "responses": {
                    "200": falcon("Client", "ApiClient"),
                    "404": falcon("Not found"),
                    **_ERRORS,
                },
            },
            "delete": {
                "summary": "Revoke an API client",
                "tags": ["Clients"],
                "security": _bearer("clients:write"),
                "parameters": [client],
                "responses": {
                    "200": falcon("Revoked", "ApiClient"),
                    "404": falcon("Not found"),
                    **_ERRORS,
                },
            },
        },
        "/api/v1/clients/{client}/revoke": {
            "post": {
                "summary": "Revoke an API client",
                "tags": ["Clients"],
                "security": _bearer("clients:write"),
                "parameters": [client],
                "responses": {
                    "200": falcon("Revoked", "ApiClient"),
                    "404": falcon("Not found"),
                    **_ERRORS,
                },
            }
        },
    }


def _schemas() -> dict[str, Any]:
    string, integer = {"type": "string"}, {"type": "integer"}
    default = {"type": ["string", "null"], "description": "null: back to the default"}
    meta = {
        "type": ["string", "number", "null"],
        "description": "a number is taken as text; null: the default",
    }
    return {
        "HecReply": {
            "type": "object",
            "required": ["text", "code"],
            "properties": {
                "text": string,
                "code": {"type": "integer", "enum": sorted(CODES) + [404, 405, 408, 413, 415]},
                "invalid-event-number": integer,
                "ackId": integer,
            },
        },
        "HecEnvelope": {
            "type": "object",
            "description": "An event, or indexed fields alone (a metric: fields is an object "
            "and there is no event)",
            "anyOf": [
                {"required": ["event"]},
                {
                    "required": ["fields"],
                    "not": {"required": ["event"]},
                    "properties": {"fields": {"type": "object"}},
                },
            ],
            "properties": {
                "event": {
                    "not": {"type": "null"},
                    "description": "string or object (required, not blank)",
                },
                "time": {
                    "type": ["number", "string", "null"],
                    "description": "epoch seconds (a number or numeric text); null: now",
                },
                **{key: meta for key in ("host", "source", "sourcetype", "index")},
                "fields": {
                    "type": ["object", "null"],
                    "description": "indexed fields; null: none",
                    "additionalProperties": {
                        "type": ["string", "number", "boolean", "null", "array"],
                        "items": {"type": ["string", "number", "boolean", "null"]},
                    },
                },
            },
        },
        "FalconEnvelope": {
            "type": "object",
            "required": ["meta", "errors", "resources"],
            "properties": {
                "meta": {
                    "type": "object",
                    "properties": {
                        "query_time": {"type": "number"},
                        "trace_id": string,
                        "powered_by": string,
                    },
                },
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {"code": integer, "message": string},
                    },
                },
                "resources": {"type": "array"},
            },
        },
        "AccessToken": {
            "type": "object",
            "required": ["access_token", "token_type", "expires_in"],
            "properties": {
                "access_token": string,
                "token_type": {"const": "bearer"},
                "expires_in": integer,
            },
        },
        "StreamResource": {
            "type": "object",
            "properties": {
                "dataFeedURL": string,
                "sessionToken": {
                    "type": "object",
                    "properties": {
                        "token": string,
                        "expiration": {"type": "string", "format": "date-time"},
                    },
                },
                "refreshActiveSessionURL": string,
                "refreshActiveSessionInterval": integer,
            },
        },
        "FalconEvent": {
            "type": "object",
            "properties": {
                "metadata": {
                    "type": "object",
                    "properties": {
                        "customerIDString": string,
                        "offset": integer,
                        "eventType": string,
                        "eventCreationTime": {"type": "integer", "description": "ms"},
                        "version": string,
                        "partition": integer,
                        "connector": string,
                        "index": string,
                        "host": string,
                        "source": string,
                        "sourcetype": string,
                    },
                },
                "event": {"type": "object"},
            },
        },
        "ConnectorRequest": {
            "type": "object",
            "description": 'Each field has exactly this type (no coercion: "false" is no '
            "boolean); a field of another type, or an unknown one, is a 400 naming it",
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "description": "required to create"},
                "description": string,
                "parser": default,
                "index": default,
                "allowed_indexes": {"type": "array", "items": string},
                "source": default,
                "sourcetype": default,
                "host": default,
                **{
                    f"default_{k}": {**default, "description": f"the same as {k}"}
                    for k in ("index", "source", "sourcetype", "host")
                },
                "ack": {"type": "boolean"},
                "use_ack": {"type": "boolean", "description": "the same as ack"},
                "allow_query_token": {"type": "boolean"},
                "enabled": {"type": "boolean"},
                "rate_rps": {"type": ["number", "null"], "description": "null: no limit"},
                "rate_bps": {"type": ["number", "null"], "description": "null: no limit"},
            },
        },
        "Connector": {
            "type": "object",
            "properties": {
                "id": string,
                "name": string,
                "status": {"enum": ["active", "idle", "disabled"]},
                "event_count": integer,
                "byte_count": integer,
                "last_event_time": {"type": ["integer", "null"], "description": "ns"},
                "hec_url": string,
                "api_key": {"type": "string", "description": "only when created or rotated"},
            },
        },
        "Refusal": {
            "type": "object",
            "properties": {
                "time": {"type": "string", "format": "date-time"},
                "client": string,
                "status": integer,
                "code": integer,
                "text": string,
                "event_number": {"type": ["integer", "null"]},
                "excerpt": string,
                "path": string,
            },
        },
        "SearchRequest": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "query": {"type": "string", "description": "e.g. failed | groupBy(host)"},
                "start": {
                    "type": ["string", "number", "null"],
                    "description": "15m, 24h, 7d, now, ISO 8601, or epoch s/ms/us/ns; "
                    "null or absent: from the oldest event",
                },
                "end": {
                    "type": ["string", "number", "null"],
                    "description": "exclusive; null or absent: open",
                },
                "limit": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 200},
                "cursor": {
                    "type": ["string", "null"],
                    "description": "next_cursor of the previous page (null: the first page)",
                },
            },
        },
        "ApiClient": {
            "type": "object",
            "properties": {
                "client_id": string,
                "name": string,
                "scopes": {"type": "array", "items": string},
                "client_secret": {"type": "string", "description": "only when created"},
            },
        },
    }


def _merged(*parts: dict[str, Any]) -> dict[str, Any]:
    """The paths of every part; where two document one method of a path, the first does
    (``GET /`` is both the API's links and the console's redirect; the search API under
    ``/console`` is documented as the API, not as a page)."""
    paths: dict[str, Any] = {}
    for part in parts:
        for path, methods in part.items():
            for method, operation in methods.items():
                paths.setdefault(path, {}).setdefault(method, operation)
    return paths


def document() -> dict[str, Any]:
    from lakehose.server.console.pages_doc import openapi_paths as console_paths

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "lakehose",
            "version": lakehose.__version__,
            "description": "HEC ingest, Falcon-style event streams, and lakehose's own API.",
        },
        "paths": _merged(
            _hec_paths(),
            _api_paths(),
            openapi_search.paths(),
            openapi_streams.paths(),
            openapi_search.console_paths(),
            console_paths(),
        ),
        "components": {
            "schemas": {**_schemas(), **openapi_search.schemas(), **openapi_streams.schemas()},
            "securitySchemes": {
                **openapi_search.security_schemes(),
                "splunkKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "Splunk <key>",
                },
                "bearerKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a HEC key as a bearer (NG-SIEM, SDL)",
                },
                "basicKey": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "the key as the password",
                },
                "queryToken": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "token",
                    "description": "only if the connector allows it",
                },
                "bearerToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "OAuth2 access token",
                },
                "clientBasic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "client_id:client_secret",
                },
                "sessionToken": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "Token <session token>",
                },
            },
        },
    }
