"""Named event parsers (``json``, ``kv``, ``csv``, ``syslog``, ``regex``) and their registry.

A parser turns the text of a string event into flat fields and, optionally, an
event time. A sourcetype selects the parser of the same name, or one that lists
it under ``sourcetypes``; otherwise the connector's ``parser`` applies; else a
text that is a JSON object is parsed as JSON. Unknown sourcetypes are kept as
raw text, never rejected.

Custom parsers are defined in ``<data-dir>/parsers.toml``::

    [parsers.fw]
    type = "csv"                      # json | kv | csv | syslog | regex
    columns = ["ts", "src", "dst", "action"]
    time_field = "ts"                 # optional
    time_format = "epoch"             # epoch | epoch_ms | iso8601 | a strptime format
    sourcetypes = ["fortinet:csv"]    # optional: other sourcetypes that select it
    line_start = '^\\d{4}-'            # optional, /raw: a new event starts only here
    line_continue = '^\\s'             # optional, /raw: such lines join the event before

``type = "text"`` extracts nothing (for a parser that only groups lines).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from lakehose.parsers.lines import LineGrouping
from lakehose.parsers.timestamps import MAX_SECONDS, BadTime, guess_unit_ns, seconds_to_ns

Fields = dict[str, Any]
ParseFn = Callable[[str], Fields | None]
PARSER_TYPES = ("json", "kv", "csv", "syslog", "regex", "text")


def flatten(obj: Mapping[str, Any], prefix: str = "", out: Fields | None = None) -> Fields:
    """Nested objects -> dotted names (``host.ip``); arrays of objects -> ``a[0].b``."""
    out = {} if out is None else out
    for key, value in obj.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if type(value) is dict:
            flatten(value, name, out)
        elif type(value) is list and any(type(v) in (dict, list) for v in value):
            for i, item in enumerate(value):
                if type(item) is dict:
                    flatten(item, f"{name}[{i}]", out)
                else:
                    out[f"{name}[{i}]"] = item
        else:
            out[name] = value
    return out


# -- time of an extracted field ---------------------------------------------------------


def parse_time_text(value: Any, fmt: str | None) -> int | None:
    """An extracted time value -> ns, per ``fmt``; None when it does not parse."""
    try:
        if fmt in (None, "auto"):
            if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.match(value)):
                number = float(value)
                return int(number * guess_unit_ns(int(number)))
            return _iso_ns(str(value))
        if fmt == "epoch":
            return seconds_to_ns(value)
        if fmt == "epoch_ms":
            text = str(value).strip()
            return int(text) * 1_000_000 if text.isdigit() else int(float(text) * 1_000_000)
        if fmt == "iso8601":
            return _iso_ns(str(value))
        dt = datetime.strptime(str(value), fmt)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return int(dt.timestamp() * 1_000_000) * 1000
    except (BadTime, ValueError, OverflowError):
        return None


_NUMBER = re.compile(r"^\d+(\.\d+)?$")


def _iso_ns(text: str) -> int | None:
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    frac_ns = 0
    m = re.match(r"^(.*?[T ]\d\d:\d\d:\d\d)\.(\d+)(.*)$", text)
    if m:
        text = m.group(1) + m.group(3)
        frac_ns = int(m.group(2)[:9].ljust(9, "0"))
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp()) * 1_000_000_000 + frac_ns


# -- the parsers ------------------------------------------------------------------------


def _json_parser(_: Mapping[str, Any]) -> ParseFn:
    def parse(text: str) -> Fields | None:
        if not text.lstrip().startswith("{"):
            return None
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            return None
        return flatten(value) if type(value) is dict else None

    return parse


# key=value, the key starting with a letter, _, @ or #. Tried only where a run of key characters
# begins (or at a #), skipping possessively to the run's first letter: a try from inside the run
# would end the same way, and trying at every position made a long run quadratic (a 1 MB line of
# letters took hours).
_KV = re.compile(
    r"""(?:(?<![\w.@\-])|(?=#))(?:(?![A-Za-z_@])[\w.\-])*+([A-Za-z_@#][\w.@\-]*+)="""
    r"""("(?:[^"\\]|\\.)*"|'[^']*'|[^\s,;"']*)"""
)


def _kv_parser(options: Mapping[str, Any]) -> ParseFn:
    pattern = re.compile(options["pattern"]) if "pattern" in options else _KV

    def parse(text: str) -> Fields | None:
        out: Fields = {}
        for key, value in pattern.findall(text):
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            out[key] = value
        return out or None

    return parse


def _csv_parser(options: Mapping[str, Any]) -> ParseFn:
    columns = [str(c) for c in options.get("columns", ())]
    delimiter = str(options.get("delimiter", ","))
    if len(delimiter) != 1:
        raise ValueError("csv delimiter must be one character")

    def parse(text: str) -> Fields | None:
        try:
            row = next(csv.reader([text], delimiter=delimiter))
        except (csv.Error, StopIteration):
            return None
        names = columns or [f"field{i + 1}" for i in range(len(row))]
        return {name: value for name, value in zip(names, row, strict=False)} or None

    return parse


_SYSLOG_5424 = re.compile(
    r"^<(\d{1,3})>(\d{1,2}) (\S+) (\S+) (\S+) (\S+) (\S+) (-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: (.*))?$",
    re.DOTALL,
)
_SYSLOG_3164 = re.compile(
    r"^(?:<(\d{1,3})>)?([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)\s+(\S+)\s+"
    r"(?:([^\s:\[]+)(?:\[([^\]]*)\])?: ?)?(.*)$",
    re.DOTALL,
)
_SD_ELEMENT = re.compile(r"\[([^\s\]]+)((?:\s+[^\s=\]]+=\"(?:[^\"\\]|\\.)*\")*)\]")
_SD_PARAM = re.compile(r'([^\s=\]]+)="((?:[^"\\]|\\.)*)"')
_SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")


def _pri(out: Fields, pri: str | None) -> None:
    if pri is not None and int(pri) < 192:
        value = int(pri)
        out["priority"] = value
        out["facility"] = value >> 3
        out["severity"] = _SEVERITIES[value & 7]


def _syslog_parser(_: Mapping[str, Any]) -> ParseFn:
    def parse(text: str) -> Fields | None:
        m = _SYSLOG_5424.match(text)
        if m:
            out: Fields = {}
            _pri(out, m.group(1))
            out["version"] = int(m.group(2))
            names = ("timestamp", "hostname", "appname", "procid", "msgid")
            for name, value in zip(names, m.group(3, 4, 5, 6, 7), strict=True):
                if value != "-":
                    out[name] = value
            if m.group(8) != "-":
                for sd_id, params in _SD_ELEMENT.findall(m.group(8)):
                    for pname, pvalue in _SD_PARAM.findall(params):
                        out[f"sd.{sd_id}.{pname}"] = re.sub(r"\\(.)", r"\1", pvalue)
            message = m.group(9)
            if message is not None:
                out["message"] = message.removeprefix("\ufeff")
            return out
        m = _SYSLOG_3164.match(text)
        if m:
            out = {}
            _pri(out, m.group(1))
            out["timestamp"] = m.group(2)
            out["hostname"] = m.group(3)
            if m.group(4):
                out["appname"] = m.group(4)
            if m.group(5):
                out["procid"] = m.group(5)
            out["message"] = m.group(6)
            return out
        return None

    return parse


def syslog_time(fields: Fields, now: datetime | None = None) -> int | None:
    """The event time of a parsed syslog line (RFC 3164 lines carry no year: the latest past)."""
    ts = fields.get("timestamp")
    if not isinstance(ts, str):
        return None
    if fields.get("version") is not None:
        return _iso_ns(ts)
    now = now or datetime.now(UTC)
    try:
        dt = datetime.strptime(f"{now.year} {ts}", "%Y %b %d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    if (dt - now).days >= 1:
        dt = dt.replace(year=now.year - 1)
    return int(dt.timestamp()) * 1_000_000_000


def _text_parser(_: Mapping[str, Any]) -> ParseFn:
    """Extracts nothing: the event stays its text (for a parser that only groups lines)."""

    def parse(text: str) -> Fields | None:
        return None

    return parse


def _regex_parser(options: Mapping[str, Any]) -> ParseFn:
    if "pattern" not in options:
        raise ValueError("a regex parser needs a 'pattern' with named groups")
    flags = re.IGNORECASE if options.get("ignore_case") else 0
    pattern = re.compile(str(options["pattern"]), flags)
    if not pattern.groupindex:
        raise ValueError("a regex parser's pattern needs at least one named group (?P<name>...)")

    def parse(text: str) -> Fields | None:
        m = pattern.search(text)
        if not m:
            return None
        return {k: v for k, v in m.groupdict().items() if v is not None}

    return parse


_BUILDERS: dict[str, Callable[[Mapping[str, Any]], ParseFn]] = {
    "json": _json_parser,
    "kv": _kv_parser,
    "csv": _csv_parser,
    "syslog": _syslog_parser,
    "regex": _regex_parser,
    "text": _text_parser,
}


@dataclass(frozen=True)
class Parser:
    """A configured parser: ``extract(text) -> (fields, time_ns)`` or None if nothing matched."""

    name: str
    type: str
    parse: ParseFn
    time_field: str | None = None
    time_format: str | None = None
    sourcetypes: tuple[str, ...] = ()
    lines: LineGrouping | None = None

    def extract(self, text: str) -> tuple[Fields, int | None] | None:
        fields = self.parse(text)
        if fields is None:
            return None
        when = None
        if self.time_field is not None and self.time_field in fields:
            when = parse_time_text(fields[self.time_field], self.time_format)
        elif self.type == "syslog":
            when = syslog_time(fields)
        if when is not None and not 0 <= when <= MAX_SECONDS * 1_000_000_000:
            when = None  # no event time (the year 9999, or before 1970): keep the default
        return fields, when


def build_parser(name: str, definition: Mapping[str, Any]) -> Parser:
    """A parser from its definition (a ``[parsers.NAME]`` table); raises ValueError."""
    kind = str(definition.get("type", name))
    if kind not in _BUILDERS:
        raise ValueError(
            f"parser {name!r}: unknown type {kind!r}; one of {', '.join(PARSER_TYPES)}"
        )
    known = {"type", "time_field", "time_format", "sourcetypes", "pattern", "columns"}
    known |= {"delimiter", "ignore_case", "line_start", "line_continue"}
    unknown = set(definition) - known
    if unknown:
        raise ValueError(f"parser {name!r}: unknown option(s) {', '.join(sorted(unknown))}")
    try:
        parse = _BUILDERS[kind](definition)
        lines = LineGrouping.build(definition.get("line_start"), definition.get("line_continue"))
    except re.error as exc:
        raise ValueError(f"parser {name!r}: bad pattern: {exc}") from exc
    return Parser(
        name=name,
        type=kind,
        parse=parse,
        time_field=definition.get("time_field"),
        time_format=definition.get("time_format"),
        sourcetypes=tuple(definition.get("sourcetypes", ())),
        lines=lines,
    )


BUILTIN_ALIASES = {"_json": "json", "json": "json", "kv": "kv", "syslog": "syslog", "csv": "csv"}


@dataclass
class ParserRegistry:
    """Which parser a sourcetype selects."""

    parsers: dict[str, Parser] = field(default_factory=dict)
    by_sourcetype: dict[str, Parser] = field(default_factory=dict)

    @classmethod
    def build(cls, definitions: Mapping[str, Mapping[str, Any]] | None = None) -> ParserRegistry:
        parsers = {
            name: build_parser(name, {"type": name}) for name in ("json", "kv", "syslog", "csv")
        }
        for name, definition in (definitions or {}).items():
            parsers[name] = build_parser(name, definition)
        by_sourcetype = {alias: parsers[target] for alias, target in BUILTIN_ALIASES.items()}
        for parser in parsers.values():
            by_sourcetype[parser.name] = parser
            for sourcetype in parser.sourcetypes:
                by_sourcetype[sourcetype] = parser
        return cls(parsers, by_sourcetype)

    def names(self) -> list[str]:
        return sorted(self.parsers)

    def extractor(self, connector_parser: str | None) -> Extractor:
        """The extraction a connector's string events get (its default parser is given)."""
        fallback = self.parsers.get(connector_parser) if connector_parser else None
        return Extractor(self.by_sourcetype, fallback, self.parsers["json"])


class Extractor:
    """``extract(sourcetype, text) -> (fields, time_ns) | None`` for one connector."""

    __slots__ = ("by_sourcetype", "fallback", "auto_json")

    def __init__(
        self, by_sourcetype: dict[str, Parser], fallback: Parser | None, auto_json: Parser
    ) -> None:
        self.by_sourcetype = by_sourcetype
        self.fallback = fallback
        self.auto_json = auto_json

    def wants(self, sourcetype: str) -> bool:
        """Whether a named parser applies to this sourcetype, whatever the text."""
        return self.fallback is not None or sourcetype in self.by_sourcetype

    def grouping(self, sourcetype: str) -> LineGrouping | None:
        """How ``/raw`` lines of this sourcetype group into events (None: a line each)."""
        parser = self.by_sourcetype.get(sourcetype) or self.fallback
        return parser.lines if parser is not None else None

    def __call__(self, sourcetype: str, text: str) -> tuple[Fields, int | None] | None:
        parser = self.by_sourcetype.get(sourcetype) or self.fallback
        if parser is not None:
            return parser.extract(text)
        if text[:1] == "{":
            return self.auto_json.extract(text)
        return None
