"""Read events from files and streams: NDJSON, YAML, XML or CSV, gzip-compressed or not.

Each reader yields events lazily (memory stays bounded for NDJSON, CSV and XML;
YAML documents are parsed one at a time). A record that cannot be read becomes an
:class:`InputError` in the stream, with its line number, so a sender can report it
and go on with the rest instead of losing everything after it.

How each format maps to events:

- ``json``: one JSON value per line (NDJSON). A file that starts with ``[`` is one
  JSON array of events instead.
- ``yaml``: every document is an event; a document that is a list gives one event
  per item.
- ``xml``: every child element of the root is an event, converted the way xmltodict
  does it: attributes as ``@name``, text as ``#text`` (or the value itself for a
  plain element), repeated child elements as lists.
- ``csv``: the first row names the columns; every other row is an event, a dict of
  strings (columns missing from a short row are left out).

An event that is a mapping with only HEC envelope keys (``event``, ``time``,
``host``, ``source``, ``sourcetype``, ``index``, ``fields``) is sent as that
envelope; anything else is the event itself.
"""

from __future__ import annotations

import csv
import gzip
import importlib
import io
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, cast

import orjson

FORMATS = ("json", "yaml", "xml", "csv")
_GZIP_MAGIC = b"\x1f\x8b"


class InputError(ValueError):
    """A record that could not be read: where (``line``, 1-based) and why."""

    def __init__(self, line: int, reason: str) -> None:
        self.line = line
        self.reason = reason
        super().__init__(f"line {line}: {reason}")


class CountingReader(io.RawIOBase):
    """A binary stream that counts the bytes read through it (for progress bars)."""

    def __init__(self, inner: IO[bytes], owns: bool = False) -> None:
        self.inner = inner
        self.owns = owns
        self.count = 0

    def close(self) -> None:
        if not self.closed and self.owns:
            self.inner.close()
        super().close()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        # read1: what is there now, so a terminal's Ctrl-D ends the input at once (read(n)
        # would wait for n bytes, or a second Ctrl-D)
        read1 = getattr(self.inner, "read1", None)
        data = read1(len(buffer)) if read1 is not None else self.inner.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        return n


@contextmanager
def open_input(source: str | Path | IO[bytes]) -> Iterator[tuple[IO[bytes], CountingReader]]:
    """A binary stream over ``source`` (a path, ``-`` for stdin, or a binary stream),
    gunzipped when it starts with gzip's magic bytes; and the counter of bytes consumed
    from ``source``. A file opened here is closed when the block ends."""
    owns = False
    if isinstance(source, str | Path):
        if str(source) == "-":
            import sys

            inner: IO[bytes] = sys.stdin.buffer
        else:
            inner, owns = open(source, "rb"), True
    else:
        inner = source
    counter = CountingReader(inner, owns)
    buffered = io.BufferedReader(counter, buffer_size=1 << 16)
    stream: IO[bytes] = cast(IO[bytes], buffered)
    if buffered.peek(2)[:2] == _GZIP_MAGIC:
        stream = cast(IO[bytes], gzip.GzipFile(fileobj=buffered, mode="rb"))
    try:
        yield stream, counter
    finally:
        stream.close()
        buffered.close()


def read_lines(stream: IO[bytes]) -> Iterator[bytes]:
    """Non-blank lines without their line endings (``\\n``, ``\\r\\n``)."""
    for line in stream:
        line = line.rstrip(b"\r\n")
        if line.strip():
            yield line


def read_events(stream: IO[bytes], fmt: str = "json") -> Iterator[Any]:
    """Events (or :class:`InputError` markers) from a binary stream in format ``fmt``."""
    if fmt == "json":
        return _json_events(stream)
    if fmt == "yaml":
        return _yaml_events(stream)
    if fmt == "xml":
        return _xml_events(stream)
    if fmt == "csv":
        return _csv_events(stream)
    raise ValueError(f"unknown input format {fmt!r}; known: {', '.join(FORMATS)}")


def _json_events(stream: IO[bytes]) -> Iterator[Any]:
    peek = getattr(stream, "peek", None)
    head = peek(64).lstrip()[:1] if peek is not None else b""
    if head == b"[":
        try:
            values = orjson.loads(stream.read())
        except orjson.JSONDecodeError as exc:
            yield InputError(1, f"not a valid JSON array: {exc}")
            return
        yield from values
        return
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            yield orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield InputError(number, f"not valid JSON: {exc}")


def _yaml_events(stream: IO[bytes]) -> Iterator[Any]:
    yaml: Any = importlib.import_module("yaml")  # PyYAML, imported only for YAML input
    loader = yaml.SafeLoader(stream)
    try:
        while True:
            try:
                if not loader.check_node():
                    return
                document = loader.construct_document(loader.get_node())
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                yield InputError(mark.line + 1 if mark else 1, f"not valid YAML: {exc}")
                return
            if document is None:
                continue
            if isinstance(document, list):
                yield from document
            else:
                yield document
    finally:
        loader.dispose()


def element_value(element: ET.Element) -> Any:
    """An XML element as JSON-ready data, xmltodict's way (see the module docstring)."""
    children = list(element)
    text = (element.text or "").strip()
    if not children and not element.attrib:
        return text
    value: dict[str, Any] = {f"@{k}": v for k, v in element.attrib.items()}
    for child in children:
        child_value = element_value(child)
        if child.tag in value:
            existing = value[child.tag]
            if isinstance(existing, list):
                existing.append(child_value)
            else:
                value[child.tag] = [existing, child_value]
        else:
            value[child.tag] = child_value
    if text:
        value["#text"] = text
    return value


def _xml_events(stream: IO[bytes]) -> Iterator[Any]:
    depth = 0
    root: ET.Element | None = None
    parser = ET.iterparse(stream, events=("start", "end"))
    try:
        for kind, element in parser:
            if kind == "start":
                depth += 1
                if depth == 1:
                    root = element
                continue
            depth -= 1
            if depth == 1:
                yield element_value(element)
                if root is not None:
                    root.clear()  # keep memory flat: events already read are dropped
    except ET.ParseError as exc:
        yield InputError(exc.position[0], f"not valid XML: {exc}")


def _csv_events(stream: IO[bytes]) -> Iterator[Any]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        yield InputError(1, f"not valid CSV: {exc}")
        return
    width = len(header)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield InputError(reader.line_num, f"not valid CSV: {exc}")
            return
        if not row or row == [""]:
            continue
        if len(row) > width:
            yield InputError(
                reader.line_num, f"{len(row)} values for {width} columns in the header row"
            )
            continue
        yield dict(zip(header, row, strict=False))
