"""``lakehose send``: ship a file (or stdin) of events to any HEC, and say what landed."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import click

from lakehose.cli.output import emit_json
from lakehose.cli.rows import plural
from lakehose.client import HEC, InputError, SendResult, open_input, read_events, read_lines
from lakehose.client.hec.inputs import FORMATS

_KEPT_INPUT_ERRORS = 1000
_LISTED = 20


class _Skipper:
    """Passes events through; keeps (and counts) the records that could not be read."""

    def __init__(self) -> None:
        self.errors: list[InputError] = []
        self.count = 0

    def __call__(self, events: Iterable[Any]) -> Iterator[Any]:
        for event in events:
            if isinstance(event, InputError):
                self.count += 1
                if len(self.errors) < _KEPT_INPUT_ERRORS:
                    self.errors.append(event)
            else:
                yield event


def _events_label(r_index: int, count: int) -> str:
    if count == 1:
        return f"event #{r_index + 1}"
    return f"events #{r_index + 1}-#{r_index + count}"


def _summary(
    result: SendResult, skipped: _Skipper, as_json: bool, url: str, fmt: str, raw: bool
) -> None:
    """What landed: ``sent = accepted + rejected``; unreadable records were never sent.

    Events are numbered from 1 by their position among the events read, in both forms.
    """
    if as_json:
        out = result.to_dict()
        out["unreadable"] = skipped.count
        for r in out["rejections"]:
            r["event_number"] = r["index"] + 1  # as the summary for people numbers them
        out["input_errors"] = [{"line": e.line, "reason": e.reason} for e in skipped.errors]
        emit_json(out)
        return
    requests = plural(result.requests, "request")
    click.echo(
        f"sent {plural(result.sent, 'event')} in {requests} ({result.elapsed:.2f} s): "
        f"{result.accepted:,} accepted, {result.rejected:,} rejected"
        + (
            f", {plural(result.retries, 'retry').replace('retrys', 'retries')}"
            if result.retries
            else ""
        )
        + (
            f"; {result.acknowledged:,} acknowledged durable"
            if result.acknowledged is not None
            else ""
        )
    )
    for reason, count in result.reasons():
        click.echo(f"  {count:,} × {_plain_reason(reason, url)}")
    listed = sorted(result.rejections, key=lambda r: r.index)[:_LISTED]
    for r in listed:
        click.echo(f"    {_events_label(r.index, r.count)}: {_plain_reason(r.reason, url)}")
    if len(result.rejections) > _LISTED:
        click.echo(f"    … and {len(result.rejections) - _LISTED:,} more (see --json)")
    if skipped.count:
        click.echo(f"{plural(skipped.count, 'unreadable record')}, not sent")
        for e in skipped.errors[:_LISTED]:
            click.echo(f"    {e}")
        if skipped.count > _LISTED:
            click.echo(f"    … and {skipped.count - _LISTED:,} more (see --json)")
        if not raw and fmt == "json" and result.sent == 0:
            click.echo(
                "hint: this file is not JSON lines; for CSV use --format csv (or yaml, xml), "
                "for plain text lines use --raw"
            )


def _plain_reason(reason: str, url: str) -> str:
    """A transport failure said plainly: ``cannot reach http://…: connection refused``."""
    if reason.startswith("connection failed:") and "refused" in reason.lower():
        return f"cannot reach {url}: connection refused (is the server running, on this port?)"
    if reason.startswith("connection failed:"):
        return f"cannot reach {url}: {reason.partition(':')[2].strip()}"
    return reason


def _check_text(file: str) -> None:
    """Refuse a binary file by name (gzip is read as text; other binaries are not events)."""
    if file == "-":
        return
    with open(file, "rb") as f:
        head = f.read(8192)
    if head[:2] == b"\x1f\x8b":
        return
    if b"\x00" in head:
        raise click.UsageError(f"{file} is a binary file, not text: nothing to send")


@click.command("send")
@click.argument("file", default="-", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option(
    "--url",
    envvar="LAKEHOSE_URL",
    default="http://127.0.0.1:8088",
    show_default=True,
    help="the HEC: a server's base URL or its event endpoint (or $LAKEHOSE_URL)",
)
@click.option(
    "--token", envvar="LAKEHOSE_TOKEN", required=True, help="HEC API key (or $LAKEHOSE_TOKEN)"
)
@click.option(
    "--raw", is_flag=True, help="send each line as is to the raw endpoint (--format is ignored)"
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="json",
    show_default=True,
    help="input format: NDJSON, YAML documents, XML (each child of the root), CSV (with a header row)",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="events per request",
)
@click.option("--gzip", "use_gzip", is_flag=True, help="gzip request bodies")
@click.option("--zstd", "use_zstd", is_flag=True, help="zstd-compress request bodies")
@click.option(
    "--auth-scheme",
    type=click.Choice(["Bearer", "Splunk"]),
    default="Bearer",
    show_default=True,
    help="Authorization scheme (Splunk Enterprise needs Splunk)",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="retries of a busy or failed request",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="seconds to wait for each answer",
)
@click.option("--insecure", is_flag=True, help="do not verify the server's TLS certificate")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="progress bar on stderr (default: when stderr is a terminal and the send takes over a second)",
)
@click.option(
    "--ack",
    is_flag=True,
    help="for a connector created with --ack: send a channel and wait until the server reports "
    "every request durable (/services/collector/ack); the summary counts acknowledged events",
)
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
def send(
    file: str,
    url: str,
    token: str,
    raw: bool,
    fmt: str,
    batch_size: int,
    use_gzip: bool,
    use_zstd: bool,
    auth_scheme: str,
    retries: int,
    timeout: float,
    insecure: bool,
    progress: bool | None,
    ack: bool,
    as_json: bool,
) -> None:
    """Send events from FILE (default: stdin; gzip is detected) to a HEC.

    Prints what was sent, accepted and rejected (with the HEC reasons); exits 1 when
    anything was rejected or could not be read.
    """
    if use_gzip and use_zstd:
        raise click.UsageError("choose one of --gzip and --zstd")
    compression = "gzip" if use_gzip else "zstd" if use_zstd else None
    _check_text(file)
    if file == "-" and sys.stdin.isatty():
        click.echo("reading events from standard input (end with Ctrl-D)…", err=True)
    skipped = _Skipper()
    total = Path(file).stat().st_size if file != "-" else None
    with (
        open_input(file) as (stream, counter),
        HEC(
            token,
            base_url=url,
            raw_ingest=raw,
            batch_size=batch_size,
            compression=compression,
            auth_scheme=auth_scheme,
            retry_count=retries,
            ingest_timeout=timeout,
            verify=not insecure,
            ack=ack,
        ) as hec,
    ):
        events = read_lines(stream) if raw else skipped(read_events(stream, fmt))
        show = progress if progress is not None else sys.stderr.isatty()
        if show:
            from lakehose.client.hec.progress import ProgressBar

            bar = ProgressBar(
                total,
                position=lambda: counter.count,
                delay=0.0 if progress else 1.0,
                force_terminal=True if progress else None,
            )
            with bar:
                result = hec.send_events(events, progress=bar)
        else:
            result = hec.send_events(events)
    _summary(result, skipped, as_json, url, fmt, raw)
    if result.rejected or skipped.count:
        sys.exit(1)
