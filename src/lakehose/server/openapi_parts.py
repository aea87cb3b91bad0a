"""The building blocks of the OpenAPI document (``openapi.py`` and its parts): references,
JSON replies, Falcon envelopes and query parameters, written once for every part."""

from __future__ import annotations

from typing import Any

JSON = "application/json"


def ref(name: str) -> dict[str, str]:
    """A reference to a schema of ``components``."""
    return {"$ref": f"#/components/schemas/{name}"}


def json_reply(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """A response whose JSON body follows ``schema``."""
    return {"description": description, "content": {JSON: {"schema": schema}}}


def falcon(description: str, resource: str | None = None) -> dict[str, Any]:
    """A response in Falcon's envelope; ``resources`` items follow ``resource`` when named."""
    schema: dict[str, Any] = ref("FalconEnvelope")
    if resource:
        schema = {
            "allOf": [
                ref("FalconEnvelope"),
                {"properties": {"resources": {"type": "array", "items": ref(resource)}}},
            ]
        }
    return json_reply(schema, description)


def query_param(
    name: str, description: str, schema: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A query-string parameter (a string unless ``schema`` says otherwise)."""
    return {
        "name": name,
        "in": "query",
        "schema": schema or {"type": "string"},
        "description": description,
    }
