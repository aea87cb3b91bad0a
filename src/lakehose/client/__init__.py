"""lakehose's Python SDK: send to any HEC (lakehose, NG-SIEM, SDL, Splunk) and read Falcon
event streams (lakehose's or CrowdStrike's), FalconPy-compatible; search a lakehose lake.

Imports without the server's dependencies (no starlette, uvicorn, msgspec or storage).
"""

from lakehose.client._auth import OAuth2
from lakehose.client.hec._async import AsyncHEC
from lakehose.client.hec._sync import HEC, HTTPEventCollector
from lakehose.client.hec.inputs import InputError, open_input, read_events, read_lines
from lakehose.client.hec.payload import IngestPayload
from lakehose.client.hec.result import Rejection, SendResult
from lakehose.client.search._sync import Search, SearchResult
from lakehose.client.streams._async import AsyncStreamConsumer
from lakehose.client.streams._base import ConsumerStats
from lakehose.client.streams._sync import StreamConsumer
from lakehose.client.streams.checkpoint import Checkpoint, FileCheckpoint, MemoryCheckpoint
from lakehose.client.streams.discovery import Stream
from lakehose.client.streams.event_streams import AsyncEventStreams, EventStreams
from lakehose.client.streams.positions import BothCheckpoints, ServerPositions, StreamGroups

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
