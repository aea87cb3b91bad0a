"""``lakehose stream``: print a Falcon event stream (lakehose's or CrowdStrike's) as NDJSON.

Events go to stdout, one JSON object per line, until Ctrl-C, SIGTERM or
``--max-events``. With ``--resume FILE`` the offsets are committed to FILE after the
lines are flushed to stdout (every 1000 events or second, and on exit), so a run
that follows resumes right after the last line printed; a run that was killed
prints again at most the lines of its last second.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import click

from lakehose.cli.commands.stream_groups import groups
from lakehose.client import FileCheckpoint, StreamConsumer
from lakehose.logs import configure_logging

COMMIT_EVERY = 1000
COMMIT_SECONDS = 1.0
IDLE_POLL = 0.25  # how often an idle stream looks at the stop flag


class _Stop:
    """Set by SIGINT/SIGTERM; the loop looks at it between events (nothing is cut short)."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.signal = signum


class _Output:
    """stdout, flushed before each commit; remembers whether the reader went away."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.broken = False

    def write(self, line: str) -> None:
        self.out.write(line)
        self.out.write("\n")

    def flush(self) -> bool:
        if self.broken:
            return False
        try:
            self.out.flush()
        except BrokenPipeError:
            self.broken = True
        return not self.broken


@click.group("stream", invoke_without_command=True)
@click.option(
    "--url",
    envvar="LAKEHOSE_URL",
    default="http://127.0.0.1:8088",
    show_default=True,
    help="lakehose's URL, or a CrowdStrike region (us-1, us-2, eu-1, us-gov-1) (or $LAKEHOSE_URL)",
)
@click.option(
    "--client-id",
    envvar="LAKEHOSE_CLIENT_ID",
    help="API client id (or $LAKEHOSE_CLIENT_ID)",
)
@click.option(
    "--client-secret",
    envvar="LAKEHOSE_CLIENT_SECRET",
    help="API client secret (or $LAKEHOSE_CLIENT_SECRET, which keeps it out of ps)",
)
@click.option(
    "--app-id",
    default="lakehose-cli",
    show_default=True,
    help="the consumer's name; one connection per appId and partition",
)
@click.option(
    "--from-offset",
    type=click.IntRange(min=0),
    default=None,
    help="start every partition at this offset (inclusive; default 0, the oldest kept)",
)
@click.option("--tail", is_flag=True, help="start at the end: only events that arrive from now on")
@click.option(
    "--resume",
    "resume",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="checkpoint FILE: resume after the offsets it holds, and keep it up to date "
    "(created if missing; --from-offset/--tail apply to partitions it does not know)",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "flatjson"]),
    default="json",
    show_default=True,
    help="event shape: as sent, or flattened into dotted names",
)
@click.option(
    "--event-type",
    "event_types",
    multiple=True,
    help="only this eventType (repeat for several)",
)
@click.option(
    "--max-events",
    type=click.IntRange(min=1),
    default=None,
    help="stop after printing this many events",
)
@click.option(
    "--start",
    "start",
    metavar="SPEC",
    default=None,
    help="lakehose extension: where partitions without a position start: earliest, latest, "
    "committed, offset:N or time:<RFC 3339 time or epoch seconds>",
)
@click.option(
    "--filter",
    "query",
    metavar="QUERY",
    default=None,
    help="lakehose extension: only events matching this filter of the query language, "
    "applied by the server (e.g. '#sourcetype=auth and user=admin')",
)
@click.option(
    "--commit",
    "commit",
    type=click.Choice(["file", "server", "both"]),
    default="file",
    show_default=True,
    help="where offsets are committed: the --resume FILE, the server's consumer group of "
    "--app-id (lakehose extension), or both",
)
@click.option("--insecure", is_flag=True, help="do not verify the server's TLS certificate")
@click.option("-v", "--verbose", count=True, help="log connections (-v) and every request (-vv)")
@click.pass_context
def stream(
    ctx: click.Context,
    url: str,
    client_id: str | None,
    client_secret: str | None,
    app_id: str,
    from_offset: int | None,
    tail: bool,
    resume: Path | None,
    fmt: str,
    event_types: tuple[str, ...],
    max_events: int | None,
    start: str | None,
    query: str | None,
    commit: str,
    insecure: bool,
    verbose: int,
) -> None:
    """Print the events of a Falcon event stream as NDJSON, until interrupted.

    Reads every partition, refreshes the sessions, reconnects after drops and server
    restarts, and with --resume continues where the last run stopped. Logs go to
    stderr. Exit status: 0 after --max-events, SIGTERM or a closed stdout; 130 after
    Ctrl-C; 1 on an error that reconnecting cannot fix (bad credentials, missing
    scope).
    """
    if ctx.invoked_subcommand is not None:
        return
    for value, flag in ((client_id, "--client-id"), (client_secret, "--client-secret")):
        if not value:
            raise click.UsageError(f"Missing option '{flag}'.")
    assert client_id is not None and client_secret is not None
    if from_offset is not None and tail:
        raise click.UsageError("choose one of --from-offset and --tail")
    if start is not None and (from_offset is not None or tail):
        raise click.UsageError("choose one of --start, --from-offset and --tail")
    if commit == "both" and resume is None:
        raise click.UsageError("--commit both needs --resume FILE")
    configure_logging(("warning", "info", "debug")[min(verbose, 2)])
    if verbose < 2:
        logging.getLogger("httpx").setLevel(logging.WARNING)
    checkpoint = None
    if resume is not None:
        checkpoint = FileCheckpoint(resume)
        if not resume.exists():
            checkpoint.save({})  # fails now, not after the first events, if FILE is unwritable
    stop = _Stop()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        consumer = StreamConsumer(
            url,
            client_id=client_id,
            client_secret=client_secret,
            app_id=app_id,
            format=fmt,
            offset=from_offset,
            tail=tail,
            event_types=event_types,
            checkpoint=checkpoint,
            commit="checkpoint" if commit == "file" else commit,
            start=start,
            filter=query,
            auto_commit=False,
            raw=True,
            verify=not insecure,
        )
        out = _Output(sys.stdout)
        try:
            _print_events(consumer, out, stop, max_events)
        finally:
            consumer.close()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if out.broken:
        _silence_stdout()
    elif stop.signal == signal.SIGINT:
        sys.exit(130)


stream.add_command(groups)


def _print_events(
    consumer: StreamConsumer, out: _Output, stop: _Stop, max_events: int | None
) -> None:
    """Print until told to stop; commit only what stdout has taken."""
    printed = uncommitted = 0
    last_commit = time.monotonic()

    def commit() -> None:
        nonlocal uncommitted, last_commit
        if uncommitted and out.flush():
            consumer.commit()
            uncommitted = 0
        last_commit = time.monotonic()

    try:
        while stop.signal is None and not out.broken:
            line: Any = consumer.poll(0)
            if line is None:
                commit()  # idle: flush what was printed
                line = consumer.poll(IDLE_POLL)
                if line is None:
                    continue
            out.write(line)
            printed += 1
            uncommitted += 1
            if max_events is not None and printed >= max_events:
                break
            if uncommitted >= COMMIT_EVERY or time.monotonic() - last_commit >= COMMIT_SECONDS:
                commit()
    except BrokenPipeError:
        out.broken = True
    finally:
        commit()  # even when the stream failed: what stdout took was printed


def _silence_stdout() -> None:
    """The reader of stdout went away (``| head``): exit quietly, without a flush error."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
