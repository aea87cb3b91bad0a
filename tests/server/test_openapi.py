"""The OpenAPI document describes every route the server serves."""

from __future__ import annotations

from pathlib import Path

import httpx

from lakehose.config import Settings
from lakehose.server.app import all_routes
from lakehose.server.routes.hec import ROUTES
from lakehose.server.runtime import Runtime
from lakehose.testing import RunningServer


def test_every_served_route_and_method_is_in_the_openapi_document(
    server: RunningServer, tmp_path: Path
) -> None:
    reply = httpx.get(server.url + "/api/v1/openapi.json")
    assert reply.status_code == 200
    doc = reply.json()
    assert doc["openapi"].startswith("3.1")
    paths = doc["paths"]
    missing = []
    for route in all_routes(Runtime(Settings(data_dir=tmp_path))):
        methods = getattr(route, "methods", None) or set()
        for method in methods - {"HEAD"}:
            if method.lower() not in paths.get(route.path, {}):  # type: ignore[attr-defined]
                missing.append(f"{method} {route.path}")  # type: ignore[attr-defined]
    for path in ROUTES:
        if path not in paths:
            missing.append(path)
    assert not missing, f"routes missing from the OpenAPI document: {missing}"


def test_every_schema_reference_resolves(server: RunningServer) -> None:
    doc = httpx.get(server.url + "/api/v1/openapi.json").json()
    schemas = doc["components"]["schemas"]
    text = httpx.get(server.url + "/api/v1/openapi.json").text
    import re

    for name in set(re.findall(r'"#/components/schemas/(\w+)"', text)):
        assert name in schemas, name


def test_the_api_root_keeps_its_own_description(server: RunningServer) -> None:
    # The console's "GET / redirects to /console" replaced the API's description of GET / (a
    # JSON document of links) when the parts were merged; each now keeps what it documents
    doc = httpx.get(server.url + "/api/v1/openapi.json").json()
    root = doc["paths"]["/"]["get"]["responses"]
    assert "application/json" in root["200"]["content"] and "303" in root
    reply = httpx.get(server.url + "/")
    assert reply.status_code == 200 and reply.json()["console"]
