"""lakehose's Python SDK: send to any HEC (lakehose, NG-SIEM, SDL, Splunk) and read Falcon
event streams (lakehose's or CrowdStrike's), FalconPy-compatible; search a lakehose lake.

Imports without the server's dependencies (no starlette, uvicorn, msgspec or storage).
"""

from lakehose.client._async import AsyncHEC
from lakehose.client._async_consumer import AsyncStreamConsumer
from lakehose.client._auth import OAuth2
from lakehose.client._consumer import StreamConsumer
from lakehose.client._consumer_base import ConsumerStats
from lakehose.client._discovery import Stream
from lakehose.client._event_streams import AsyncEventStreams, EventStreams
from lakehose.client._payload import IngestPayload
from lakehose.client._result import Rejection, SendResult
from lakehose.client._sync import HEC, HTTPEventCollector
from lakehose.client.checkpoint import Checkpoint, FileCheckpoint, MemoryCheckpoint
from lakehose.client.inputs import InputError, open_input, read_events, read_lines
from lakehose.client.positions import BothCheckpoints, ServerPositions, StreamGroups
from lakehose.client.search import Search, SearchResult

__all__ = [
    "HEC",
    "AsyncEventStreams",
    "AsyncHEC",
    "AsyncStreamConsumer",
    "BothCheckpoints",
    "Checkpoint",
    "ConsumerStats",
    "EventStreams",
    "FileCheckpoint",
    "HTTPEventCollector",
    "IngestPayload",
    "InputError",
    "MemoryCheckpoint",
    "OAuth2",
    "Rejection",
    "Search",
    "SearchResult",
    "SendResult",
    "ServerPositions",
    "Stream",
    "StreamConsumer",
    "StreamGroups",
    "open_input",
    "read_events",
    "read_lines",
]
