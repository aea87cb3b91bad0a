"""A torn tail of a partition's write-ahead log: the server starts and serves everything acknowledged.

What a torn write can honestly be here. A partition is ``partition-N.db`` in SQLite's WAL
mode with ``synchronous=FULL``: a commit appends its frames (a 24-byte header and one page
each; the last frame of a transaction marks the commit) to ``partition-N.db-wal`` and
fsyncs before ``COMMIT`` returns, and a request is answered 200 (or its ack turns true)
only after that. So the frames of an acknowledged commit are on disk before anyone is told;
a crash can tear only frames whose fsync had not returned — an append nobody was told
about. Truncating bytes of an acknowledged commit would simulate a disk that loses synced
data, which no log survives, and would prove nothing.

So the test builds exactly the crash it claims to survive:

1. a server takes acknowledged writes (acks polled true on a channel, and plain 200s) and
   is SIGKILLed, leaving its WAL as a crash does (a clean stop would checkpoint and delete
   it), ending with the frames of the last acknowledged commit;
2. a process runs the server's own writer (``PartitionWriter.append``) for one more batch,
   that no client sent or was told about, and dies without closing the database; its
   frames are now the WAL's tail (the test checks: they follow the acknowledged ones, and
   only its last frame is a commit frame);
3. each case copies that data directory and tears the unacknowledged frames — 1 byte, half
   a frame, a whole frame, all but their first byte, all of them, or its last frame
   overwritten with garbage — never touching a byte before them;
4. a server starts on the copy, and over HTTP (the data feed, from offset 0) serves every
   acknowledged event, in order, densely, and none of the torn batch; the next event
   accepted gets the next offset; every stored batch decodes.

The untouched copy is the control: there the unacknowledged batch was wholly written, so
SQLite recovers it and the feed serves it too (which a crash may do: "not acknowledged"
means "outcome unknown", not "absent"). That the control differs from the torn cases shows
the tearing is real.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest

from lakehose.testing import run_server
from tests.chaos.chaoskit import read_lake
from tests.client.consumerkit import api_client
from tests.helpers import bearer_token, create_connector
from tests.server.streamkit import first_stream, open_feed, token_of

WAL_HEADER = 32
FRAME_HEADER = 24
TORN = 20  # events in the unacknowledged batch

# The server's writer appends a batch nobody was told about, then the process dies without
# closing the database (closing would checkpoint the WAL into the database and delete it).
UNACKED_APPEND = """
import os, sys, time
from pathlib import Path
import orjson
from lakehose.models import Slice
from lakehose.records import encode_line
from lakehose.storage.sqlite.partition import PartitionWriter
from lakehose.storage.base import PendingAppend
writer = PartitionWriter(Path(sys.argv[1]), 0, durability="fsync", zstd_level=1)
batch = Slice("default", "main", "torn")
for n in range(int(sys.argv[2])):
    event = {"id": f"unacked-{n}", "pad": os.urandom(1000).hex()}  # spans several pages
    batch.add(encode_line({}, orjson.dumps(event)), time.time_ns())
writer.append([PendingAppend([batch])])
os._exit(0)
"""


def wal_frames(path: Path) -> tuple[int, list[int]]:
    """The page size, and each frame's commit field (the database size in pages on the last
    frame of a transaction, 0 on the others). Asserts one generation of whole frames."""
    data = path.read_bytes()
    magic, _, page_size, _, salt1, salt2 = struct.unpack(">6I", data[:24])
    assert magic in (0x377F0682, 0x377F0683), "not a WAL file"
    frame = FRAME_HEADER + page_size
    assert (len(data) - WAL_HEADER) % frame == 0, "the WAL ends mid-frame"
    commits = []
    for at in range(WAL_HEADER, len(data), frame):
        _, commit, s1, s2 = struct.unpack(">4I", data[at : at + 16])
        assert (s1, s2) == (salt1, salt2), "frames of an older generation: the WAL was reset"
        commits.append(commit)
    return page_size, commits


@dataclass
class Crash:
    data_dir: Path
    acked: list[str]  # in offset order
    credentials: tuple[str, str]
    key: str
    acked_end: int  # WAL size up to the last acknowledged commit
    wal_end: int  # WAL size with the unacknowledged batch
    frame: int


@pytest.fixture(scope="module")
def crash(tmp_path_factory: pytest.TempPathFactory) -> Crash:
    data_dir = tmp_path_factory.mktemp("torn") / "data"
    acked: list[str] = []
    with run_server(data_dir) as server:
        with httpx.Client(
            base_url=server.url,
            headers={"Authorization": f"Bearer {bearer_token(server, 'admin')}"},
        ) as admin:
            ack_key = create_connector(admin, "acked", use_ack=True)
        credentials = api_client(server)
        headers = {
            "Authorization": f"Splunk {ack_key}",
            "X-Splunk-Request-Channel": str(uuid.uuid4()),
        }
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as hec:
            for r in range(20):
                ids = [f"acked-{r}-{i}" for i in range(25)]
                body = b"".join(orjson.dumps({"event": {"id": x}}) for x in ids)
                reply = hec.post("/services/collector", content=body)
                assert reply.status_code == 200, reply.text
                ack = hec.post("/services/collector/ack", json={"acks": [reply.json()["ackId"]]})
                assert ack.json() == {"acks": {str(reply.json()["ackId"]): True}}
                acked += ids  # acknowledged: its ack is true
        server.kill()
    wal = data_dir / "partition-0.db-wal"
    acked_end = wal.stat().st_size
    page_size, commits = wal_frames(wal)
    assert commits and commits[-1] > 0, "the WAL must end with an acknowledged commit"
    subprocess.run([sys.executable, "-c", UNACKED_APPEND, str(data_dir), str(TORN)], check=True)
    wal_end = wal.stat().st_size
    _, after = wal_frames(wal)
    assert after[: len(commits)] == commits, "the acknowledged frames must stay as they were"
    unacked = after[len(commits) :]
    assert len(unacked) >= 3 and unacked[-1] > 0 and not any(unacked[:-1]), unacked
    return Crash(
        data_dir,
        acked,
        credentials,
        str(server.api_key),
        acked_end,
        wal_end,
        FRAME_HEADER + page_size,
    )


def truncate_to(size: Callable[[Crash], int]) -> Callable[[Crash, Path], None]:
    def tear(crash: Crash, wal: Path) -> None:
        cut = size(crash)
        assert crash.acked_end <= cut < crash.wal_end  # only unacknowledged bytes go
        os.truncate(wal, cut)

    return tear


def garbage_last_frame(crash: Crash, wal: Path) -> None:
    with wal.open("r+b") as f:
        f.seek(crash.wal_end - crash.frame + FRAME_HEADER)  # the commit frame's page
        f.write(os.urandom(crash.frame - FRAME_HEADER))


TEARS: dict[str, Callable[[Crash, Path], None] | None] = {
    "untouched (control)": None,
    "1 byte": truncate_to(lambda c: c.wal_end - 1),
    "half a frame": truncate_to(lambda c: c.wal_end - c.frame // 2),
    "a whole frame": truncate_to(lambda c: c.wal_end - c.frame),
    "all but its first byte": truncate_to(lambda c: c.acked_end + 1),
    "all of it": truncate_to(lambda c: c.acked_end),
    "garbage in its commit frame": garbage_last_frame,
}


@pytest.mark.parametrize("case", list(TEARS))
def test_a_torn_wal_tail_loses_nothing_acknowledged(
    crash: Crash, case: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(crash.data_dir, data_dir)
    tear = TEARS[case]
    if tear is not None:
        tear(crash, data_dir / "partition-0.db-wal")
    expected = crash.acked + ([f"unacked-{n}" for n in range(TORN)] if tear is None else [])
    with run_server(data_dir, args=["--heartbeat-interval", "0.5"]) as server:
        server.api_key = crash.key  # the bootstrap key was shown on the first start only
        token = token_of(
            server, {"client_id": crash.credentials[0], "client_secret": crash.credentials[1]}
        )
        with open_feed(first_stream(server, token, "torn"), "&offset=0") as feed:
            events = feed.events(len(expected))
            assert [e["metadata"]["offset"] for e in events] == list(range(len(expected)))
            assert [e["event"]["id"] for e in events] == expected
            # nothing else is there: the next event accepted is the very next one served
            reply = httpx.post(
                server.hec_url,
                content=orjson.dumps({"event": {"id": "after"}}),
                headers={"Authorization": f"Splunk {crash.key}"},
            )
            assert reply.status_code == 200, reply.text
            (after,) = feed.events(1)
            assert (after["metadata"]["offset"], after["event"]["id"]) == (len(expected), "after")
    lake = read_lake(data_dir)  # every stored batch decodes; offsets dense
    assert lake[0] == [*expected, "after"]
