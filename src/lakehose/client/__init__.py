"""lakehose's Python SDK; imports without the server's dependencies."""

from __future__ import annotations

from lakehose.client.search import Search, SearchResult

__all__ = ["Search", "SearchResult"]
