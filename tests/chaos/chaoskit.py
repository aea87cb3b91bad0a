"""The parts of the crash test: HEC senders that know what was acknowledged, stream consumers
that remember what they read, and a reader of the lake's files that checks every batch.

Senders never resend: an event whose outcome they do not know (the connection broke) is
simply not counted as acknowledged, so any event stored twice is the server's doing.
"""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import orjson

from lakehose.client import FileCheckpoint, StreamConsumer
from lakehose.records import decompress_lines, split_line
from lakehose.storage.sqlite.partition import PartitionReader, partition_path
from lakehose.testing import RunningServer
from tests.helpers import wait_for

ACK_POLL_SECONDS = 0.2


def body_of(ids: list[str], compress: bool) -> tuple[bytes, dict[str, str]]:
    body = b"".join(orjson.dumps({"event": {"id": x}}) for x in ids)
    if compress:
        return gzip.compress(body, 1), {"Content-Encoding": "gzip"}
    return body, {}


class PlainSender:
    """Sends batches to a connector without acks; an event counts once its request got 200."""

    def __init__(self, label: str, batch: int, compress: bool = False) -> None:
        self.label = label
        self.batch = batch
        self.compress = compress
        self.seq = 0
        self.acked: list[str] = []
        self.replies = 0
        self.unexpected: list[tuple[int, str]] = []

    def run(self, server: RunningServer, stop: threading.Event) -> None:
        headers = {"Authorization": f"Splunk {server.api_key}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
            while not stop.is_set():
                ids = [f"{self.label}-{self.seq}-{i}" for i in range(self.batch)]
                self.seq += 1
                body, extra = body_of(ids, self.compress)
                try:
                    reply = client.post("/services/collector", content=body, headers=extra)
                except httpx.HTTPError:
                    continue  # unknown outcome (the server died meanwhile): never resent
                if reply.status_code == 200 and reply.json() == {"text": "Success", "code": 0}:
                    self.acked.extend(ids)
                    self.replies += 1
                elif reply.status_code != 503:  # 503 code 9: nothing taken, try new events
                    self.unexpected.append((reply.status_code, reply.text))


class AckSender:
    """Sends on one channel of an ack connector; an event counts once ``/ack`` says true.

    Lives through every cycle (the channel and its ack ids survive restarts). ``doubtful``
    holds ids that were in a poll whose answer was lost: the server may have answered
    true and forgotten them (Splunk reports an ack once), so a later false is no loss.
    """

    def __init__(self, label: str, key: str, batch: int) -> None:
        self.label = label
        self.key = key
        self.batch = batch
        self.channel = str(uuid.uuid4())
        self.seq = 0
        self.pending: dict[int, list[str]] = {}  # ackId -> events, answered 200, ack not yet true
        self.doubtful: set[int] = set()
        self.issued: list[int] = []  # every ackId received, in order
        self.acked: list[str] = []
        self.unknown = 0  # events whose ack was lost in a crash (neither true nor knowable)
        self.replies = 0
        self.unexpected: list[tuple[int, str]] = []

    def client(self, server: RunningServer) -> httpx.Client:
        headers = {"Authorization": f"Splunk {self.key}", "X-Splunk-Request-Channel": self.channel}
        return httpx.Client(base_url=server.url, headers=headers, timeout=10)

    def run(self, server: RunningServer, stop: threading.Event) -> None:
        with self.client(server) as client:
            polled = time.monotonic()
            while not stop.is_set():
                ids = [f"{self.label}-{self.seq}-{i}" for i in range(self.batch)]
                self.seq += 1
                body, extra = body_of(ids, compress=self.seq % 2 == 0)
                try:
                    reply = client.post("/services/collector", content=body, headers=extra)
                except httpx.HTTPError:
                    continue
                if reply.status_code == 200 and reply.json().get("code") == 0:
                    ack_id = reply.json()["ackId"]
                    self.issued.append(ack_id)
                    self.pending[ack_id] = ids
                    self.replies += 1
                elif reply.status_code != 503:
                    self.unexpected.append((reply.status_code, reply.text))
                if time.monotonic() - polled >= ACK_POLL_SECONDS:
                    self.poll(client)
                    polled = time.monotonic()

    def poll(self, client: httpx.Client) -> bool:
        """Ask about every pending id; move those answered true to ``acked``."""
        ids = sorted(self.pending)
        if not ids:
            return True
        try:
            reply = client.post("/services/collector/ack", json={"acks": ids})
        except httpx.HTTPError:
            self.doubtful.update(ids)
            return False
        if reply.status_code != 200:
            self.unexpected.append((reply.status_code, reply.text))
            return False
        answers = reply.json()["acks"]
        for ack_id in ids:
            if answers[str(ack_id)] is True:
                self.acked.extend(self.pending.pop(ack_id))
                self.doubtful.discard(ack_id)
        return True

    def settle(self, server: RunningServer) -> None:
        """After a restart: every id handed out and never in a lost poll must be true now."""
        with self.client(server) as client:
            assert self.poll(client), self.unexpected[-1:]
        lost = sorted(set(self.pending) - self.doubtful)
        assert not lost, f"channel {self.channel}: acks {lost} issued before the crash are gone"
        self.unknown += sum(len(self.pending.pop(i)) for i in list(self.pending))
        self.doubtful.clear()
        # ack ids are never reused on a channel, across restarts too
        assert self.issued == sorted(set(self.issued)), f"ack ids reused: {self.issued}"


def read_lake(data_dir: Path) -> dict[int, list[str]]:
    """Each partition's event ids, indexed by offset, read from its files.

    Asserts that offsets are dense from 0, that every batch decodes (zstd checksum, line
    count) and that the partition's ``next_offset`` is the end of its last batch.
    """
    out: dict[int, list[str]] = {}
    p = 0
    while partition_path(data_dir, p).exists():
        reader = PartitionReader(data_dir, p)
        try:
            ids: list[str] = []
            for info, blob in reader.batches_from(0, 10**9):
                assert info.first_offset == len(ids), f"partition {p}: gap before {info}"
                for line in decompress_lines(blob, p, info.first_offset, info.count):
                    ids.append(orjson.loads(split_line(line)[1])["id"])
            assert reader.bounds() == (0, len(ids)), f"partition {p}: {reader.bounds()}"
        finally:
            reader.close()
        out[p] = ids
        p += 1
    return out


class SdkConsumer:
    """A ``StreamConsumer`` on a thread, with a file checkpoint; restartable (clean close)."""

    def __init__(self, server: RunningServer, credentials: tuple[str, str], path: Path) -> None:
        self.server = server
        self.credentials = credentials
        self.checkpoint = path
        self.seen: dict[int, list[tuple[int, str]]] = defaultdict(list)  # p -> (offset, id)
        self.errors: list[BaseException] = []
        self.runs = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(self._stop,), daemon=True)
        self._thread.start()
        self.runs += 1

    def stop(self) -> None:
        assert self._thread is not None
        self._stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive()

    def _run(self, stop: threading.Event) -> None:
        consumer = StreamConsumer(
            self.server.url,
            client_id=self.credentials[0],
            client_secret=self.credentials[1],
            app_id="chaos-sdk",
            checkpoint=self.checkpoint,
            reconnect_backoff=0.1,
            max_backoff=1.0,
        )
        try:
            while not stop.is_set():
                event = consumer.poll(0.2)
                if event is not None:
                    meta = event["metadata"]
                    self.seen[meta["partition"]].append((meta["offset"], event["event"]["id"]))
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            consumer.close()  # a clean close commits every event handed out

    def last(self) -> dict[int, int]:
        return {p: seen[-1][0] for p, seen in self.seen.items() if seen}

    def check(self, lake: dict[int, list[str]]) -> int:
        """Every offset handed out exactly once, in order, with the lake's event; the count."""
        assert not self.errors, self.errors
        for p, seen in self.seen.items():
            assert [o for o, _ in seen] == list(range(len(seen))), f"partition {p}: not dense"
            assert [x for _, x in seen] == lake[p][: len(seen)], f"partition {p}: wrong events"
        return sum(len(s) for s in self.seen.values())


class CliConsumer:
    """``lakehose stream --resume`` in its own process, killed with the server (a crash).

    Each run prints to its own file; a run killed mid-line leaves a partial last line,
    which does not count (it was not printed whole).
    """

    def __init__(self, server: RunningServer, credentials: tuple[str, str], work: Path) -> None:
        self.server = server
        self.credentials = credentials
        self.work = work
        self.checkpoint = work / "cli.offsets.json"
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs: list[tuple[dict[int, int], Path]] = []  # checkpoint at start, output
        self.printed = 0
        self.repeated = 0

    def start(self) -> None:
        start = FileCheckpoint(self.checkpoint).load()
        out = self.work / f"cli-run-{len(self.runs)}.ndjson"
        env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOSE_")}
        env |= {"LAKEHOSE_CLIENT_ID": self.credentials[0]}
        env |= {"LAKEHOSE_CLIENT_SECRET": self.credentials[1]}
        argv = [sys.executable, "-m", "lakehose", "stream", "--url", self.server.url]
        argv += ["--app-id", "chaos-cli", "--resume", str(self.checkpoint), "-v"]
        with out.open("wb") as stdout, out.with_suffix(".log").open("wb") as stderr:
            self.proc = subprocess.Popen(argv, stdout=stdout, stderr=stderr, env=env)
        self.runs.append((start, out))

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)

    def run_events(self, run: int) -> dict[int, list[tuple[int, str]]]:
        """The whole lines a run printed, per partition: (offset, id)."""
        data = self.runs[run][1].read_bytes()
        out: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for line in data[: data.rfind(b"\n") + 1].splitlines():
            event = orjson.loads(line)
            meta = event["metadata"]
            out[meta["partition"]].append((meta["offset"], event["event"]["id"]))
        return out

    def caught_up(self, ends: dict[int, int]) -> bool:
        """Whether the current run opened every feed (``-v`` logs it) and printed up to ``ends``."""
        if self.runs[-1][1].with_suffix(".log").read_text().count(": reading ") < len(ends):
            return False
        got = self.run_events(len(self.runs) - 1)
        start = self.runs[-1][0]
        return all(
            (got[p][-1][0] if got[p] else start.get(p, -1)) == end - 1 for p, end in ends.items()
        )

    def check(self, lake: dict[int, list[str]]) -> None:
        """Every run resumed right after its checkpoint and read on densely; the checkpoint
        never passed what was printed; each repeat is a line printed after a run's last commit."""
        printed_up_to: dict[int, int] = {}
        self.printed = self.repeated = 0
        for run, (start, _) in enumerate(self.runs):
            for p, last in start.items():  # the checkpoint a run found never passes the output
                assert last <= printed_up_to.get(p, -1), f"run {run}: checkpoint {start} ahead"
                self.repeated += printed_up_to.get(p, -1) - last
                assert printed_up_to.get(p, -1) - last <= 1000  # stream.py's COMMIT_EVERY
            for p, events in self.run_events(run).items():
                first = start.get(p, -1) + 1
                offsets = [o for o, _ in events]
                assert offsets == list(range(first, first + len(offsets))), f"run {run}: gap"
                assert [x for _, x in events] == lake[p][first : first + len(events)]
                if events:
                    printed_up_to[p] = max(printed_up_to.get(p, -1), offsets[-1])
                self.printed += len(events)


def wait_caught_up(sdk: SdkConsumer, cli: CliConsumer, lake: dict[int, list[str]]) -> None:
    ends = {p: len(ids) for p, ids in lake.items()}
    wait_for(lambda: sdk.errors or sdk.last() == {p: e - 1 for p, e in ends.items() if e}, 60)
    wait_for(lambda: cli.caught_up(ends), 60)


def summary(**numbers: Any) -> str:
    return " ".join(f"{k}={v}" for k, v in numbers.items())
