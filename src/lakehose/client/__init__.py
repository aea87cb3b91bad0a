"""lakehose's Python SDK: send to any HEC (lakehose, NG-SIEM, SDL, Splunk), FalconPy-compatible;
search a lakehose lake (``Search``).

Imports without the server's dependencies (no starlette, uvicorn, msgspec or storage).
"""

from lakehose.client._async import AsyncHEC
from lakehose.client._payload import IngestPayload
from lakehose.client._result import Rejection, SendResult
from lakehose.client._sync import HEC, HTTPEventCollector
from lakehose.client.inputs import InputError, open_input, read_events, read_lines
from lakehose.client.search import Search, SearchResult

__all__ = [
    "HEC",
    "AsyncHEC",
    "HTTPEventCollector",
    "IngestPayload",
    "InputError",
    "Rejection",
    "Search",
    "SearchResult",
    "SendResult",
    "open_input",
    "read_events",
    "read_lines",
]
