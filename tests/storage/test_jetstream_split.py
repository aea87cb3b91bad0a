"""A request split over several messages (past max_payload) keeps contiguous offsets, and
all or nothing, while a writer in another process stores a request between its parts (as
happens when a part is retried after a timeout or a leader change)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lakehose.storage.jetstream.devcluster import DevCluster
from lakehose.storage.jetstream.layout import Layout
from lakehose.storage.jetstream.link import link_for
from lakehose.storage.jetstream.log import ensure_streams, open_readers
from tests.storage.backendkit import namespace, read_all

ROOT = Path(__file__).resolve().parents[2]
EVENTS = 1500  # incompressible events of a request: several 24 KiB messages

# A writer process. "whole": one request through append. "split": one request whose first
# part is published, then (once the file ``gate`` exists) the others: the real writer and
# index, with the pause a retried part has. Prints "first count tag" when acknowledged.
WRITER = """
import asyncio, os, sys
from lakehose.models import Slice
from lakehose.records import encode_line
from lakehose.storage.base import PendingAppend
from lakehose.storage.jetstream.log import JetStreamEventLog
from lakehose.storage.jetstream.writer import build_messages
urls, ns, tag, mode, gate, events = sys.argv[1:7]

async def main():
    log = JetStreamEventLog(urls, 1, namespace=ns, max_message=24 * 1024)
    await log.start(asyncio.get_running_loop())
    s = Slice("c", "main", "st")
    for i in range(int(events)):
        t = 1_700_000_000_000_000_000 + i
        body = '{"tag": "%s", "n": %d, "pad": "%s"}' % (tag, i, os.urandom(40).hex())
        s.add(encode_line({"time": t}, body.encode()), t)
    if mode == "whole":
        r = await log.append(0, PendingAppend([s]), 100)
        print(r.first_offset, r.count, tag, flush=True)
        return
    writer, index = log.writers[0], log.indexes[0]
    messages = build_messages([s], 1, 24 * 1024, writer.next_id())
    assert len(messages) > 2
    seqs = [await log.link.run(writer.publish(messages[0]))]
    print("part0", flush=True)
    while not os.path.exists(gate):
        await asyncio.sleep(0.01)
    for m in messages[1:]:
        seqs.append(await log.link.run(writer.publish(m)))
    await log.link.run(index.first_of(seqs[-1]))
    first = await log.link.run(index.first_of(seqs[0]))
    print(first, sum(m.count for m in messages), tag, flush=True)

asyncio.run(main())
"""


def _writer(urls: str, ns: str, tag: str, mode: str, gate: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, urls, ns, tag, mode, str(gate), str(EVENTS)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def _acked(proc: subprocess.Popen[str]) -> tuple[int, int, str]:
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0
    first, count, tag = out.split()[-3:]
    return int(first), int(count), tag


def test_a_request_split_around_another_writers_keeps_its_offsets_together(
    nats_cluster: DevCluster, tmp_path: Path
) -> None:
    ns = namespace(tmp_path)
    link = link_for(nats_cluster.urls)
    link.call(ensure_streams(link, Layout(ns), 1, 3))
    gate = tmp_path / "gate"
    split = _writer(nats_cluster.urls, ns, "split", "split", gate)
    assert split.stdout is not None and split.stdout.readline().strip() == "part0"
    whole = _acked(_writer(nats_cluster.urls, ns, "whole", "whole", gate))  # between the parts
    gate.touch()
    parted = _acked(split)
    assert whole[0] == 0 and parted[0] == EVENTS  # the whole one completed first
    events = read_all(open_readers(nats_cluster.urls, ns, 1)[0])
    assert [at for at, _ in events] == list(range(2 * EVENTS))  # dense
    for first, count, tag in (whole, parted):
        got = [e for at, e in events if first <= at < first + count]
        assert [(e["tag"], e["n"]) for e in got] == [(tag, i) for i in range(EVENTS)]


def test_a_request_whose_writer_died_between_parts_gets_no_offsets(
    nats_cluster: DevCluster, tmp_path: Path
) -> None:
    ns = namespace(tmp_path)
    link = link_for(nats_cluster.urls)
    link.call(ensure_streams(link, Layout(ns), 1, 3))
    split = _writer(nats_cluster.urls, ns, "split", "split", tmp_path / "never")
    assert split.stdout is not None and split.stdout.readline().strip() == "part0"
    split.kill()  # dies with one part stored: the request was never acknowledged
    split.wait(30)
    split.stdout.close()
    whole = _acked(_writer(nats_cluster.urls, ns, "whole", "whole", tmp_path / "gate"))
    assert whole[0] == 0
    events = read_all(open_readers(nats_cluster.urls, ns, 1)[0])
    assert [(at, e["tag"]) for at, e in events] == [(i, "whole") for i in range(EVENTS)]
