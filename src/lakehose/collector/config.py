"""The collector's YAML configuration, in the Falcon LogScale Collector's shape and key names.

Reading goes in three steps: YAML -> ``${VAR}`` expansion in every string -> a schema walk
that collects *every* problem with its YAML path (``sources.app.include[1]``) before failing,
so ``lakehose collect validate`` can list them all at once. Unknown keys are problems too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import yaml

from lakehose.collector.delivery import DeadLetterConfig, QueueConfig, SinkConfig
from lakehose.errors import ConfigError

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
SOURCE_TYPES = ("syslog", "syslog_tls", "file", "journald", "cmd", "stdin")
SINK_TYPES = ("hec", "logscale", "humio")
TRANSFORM_TYPES = ("regex_filter", "static_fields")


class CollectorConfigError(ConfigError):
    """A collector configuration with one or more problems, each named by its YAML path."""

    def __init__(self, path: str, problems: Sequence[str]) -> None:
        self.path = path
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        count = len(self.problems)
        super().__init__(f"{path}: {count} problem{'' if count == 1 else 's'}\n{lines}")


@dataclass(frozen=True, slots=True)
class Transform:
    """One entry of a source's ``transforms`` list."""

    type: Literal["regex_filter", "static_fields"]
    mode: Literal["include", "exclude"] = "include"
    pattern: re.Pattern[str] | None = None
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """A ``sources.<name>`` block; the per-type keys are typed attributes with defaults."""

    name: str
    type: str
    sink: str
    parser: str | None = None
    transforms: tuple[Transform, ...] = ()
    # syslog, syslog_tls
    mode: str = ""
    port: int = 0
    bind: str = "0.0.0.0"
    max_event_size: int = 1_048_576
    certificate_file: Path | None = None
    key_file: Path | None = None
    client_ca_file: Path | None = None
    # file
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    exclude_extensions: tuple[str, ...] = ()
    multi_line_begins_with: re.Pattern[str] | None = None
    inactivity_timeout: float = 60.0
    start_at: Literal["beginning", "end"] = "beginning"
    # journald
    include_units: tuple[str, ...] = ()
    exclude_units: tuple[str, ...] = ()
    directory: Path | None = None
    # cmd
    cmd: str = ""
    args: tuple[str, ...] = ()
    interval: float = 60.0
    environment: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StatusConfig:
    """``status:`` (a lakehose addition): where the local status and metrics endpoint listens."""

    bind: str = "127.0.0.1"
    port: int = 5591


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    """The whole file, validated."""

    data_directory: Path
    log_level: str
    sources: Mapping[str, SourceConfig]
    sinks: Mapping[str, SinkConfig]
    status: StatusConfig = field(default_factory=StatusConfig)


class _Walker:
    """Reads typed values out of plain YAML data, recording each problem with its path."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def mapping(self, value: Any, path: str, known: Sequence[str]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(path, f"must be a mapping, not {_kind(value)}")
            return {}
        for key in value:
            if not isinstance(key, str) or key not in known:
                hint = f"; known keys: {', '.join(known)}" if known else ""
                self.problem(f"{path}.{key}", f"unknown key{hint}")
        return {k: v for k, v in value.items() if k in known}

    def string(self, m: Mapping[str, Any], key: str, path: str, default: str | None = None) -> Any:
        value = m.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.problem(f"{path}.{key}", f"must be a string, not {_kind(value)}")
            return default
        return str(value)

    def required(self, m: Mapping[str, Any], key: str, path: str) -> str:
        if m.get(key) in (None, ""):
            self.problem(f"{path}.{key}", "is required")
            return ""
        return cast(str, self.string(m, key, path, ""))

    def choice(
        self, m: Mapping[str, Any], key: str, path: str, choices: Sequence[str], default: str
    ) -> str:
        value = self.string(m, key, path, default)
        if value not in choices:
            self.problem(f"{path}.{key}", f"must be one of {', '.join(choices)}, not {value!r}")
            return default
        return cast(str, value)

    def number(
        self,
        m: Mapping[str, Any],
        key: str,
        path: str,
        default: float,
        *,
        low: float = 0,
        high: float = float("inf"),
        integer: bool = True,
    ) -> Any:
        value = m.get(key, default)
        if isinstance(value, str):
            try:
                value = float(value) if "." in value else int(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(f"{path}.{key}", f"must be a number, not {_kind(value)}")
            return default
        if integer and value != int(value):
            self.problem(f"{path}.{key}", f"must be a whole number, not {value}")
            return default
        if not low <= value <= high:
            top = "" if high == float("inf") else f" and {high:g}"
            self.problem(f"{path}.{key}", f"must be between {low:g}{top}, not {value}")
            return default
        return int(value) if integer else float(value)

    def boolean(self, m: Mapping[str, Any], key: str, path: str, default: bool) -> bool:
        value = m.get(key, default)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            self.problem(f"{path}.{key}", f"must be true or false, not {value!r}")
            return default
        return value

    def strings(self, m: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
        value = m.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list):
            self.problem(f"{path}.{key}", f"must be a list of strings, not {_kind(value)}")
            return ()
        out = []
        for i, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                self.problem(f"{path}.{key}[{i}]", f"must be a string, not {_kind(item)}")
            else:
                out.append(str(item))
        return tuple(out)

    def regex(self, m: Mapping[str, Any], key: str, path: str) -> re.Pattern[str] | None:
        text = self.string(m, key, path)
        if text is None:
            return None
        try:
            return re.compile(text)
        except re.error as exc:
            self.problem(f"{path}.{key}", f"is not a valid regular expression: {exc}")
            return None

    def file(self, m: Mapping[str, Any], key: str, path: str, base: Path) -> Path | None:
        text = self.string(m, key, path)
        if text is None:
            return None
        p = Path(text).expanduser()
        p = p if p.is_absolute() else base / p
        if not p.is_file():
            self.problem(f"{path}.{key}", f"file {str(p)!r} does not exist")
        return p


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", type(None): "empty"}.get(type(value), repr(value))


def expand(value: Any, environ: Mapping[str, str], path: str, walker: _Walker) -> Any:
    """Replace ``${VAR}`` in every string with the environment's value; a missing one is a problem."""
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in environ:
                walker.problem(path, f"environment variable {name} is not set")
                return m.group(0)
            return environ[name]

        return _ENV_REF.sub(sub, value)
    if isinstance(value, dict):
        return {
            k: expand(v, environ, f"{path}.{k}" if path else str(k), walker)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [expand(v, environ, f"{path}[{i}]", walker) for i, v in enumerate(value)]
    return value


_COMMON = ("type", "sink", "parser", "transforms")
_SOURCE_KEYS: dict[str, tuple[str, ...]] = {
    "syslog": ("mode", "port", "bind", "maxEventSize"),
    "syslog_tls": ("port", "bind", "maxEventSize", "certificateFile", "keyFile", "clientCAFile"),
    "file": (
        "include",
        "exclude",
        "excludeExtensions",
        "multiLineBeginsWith",
        "inactivityTimeout",
        "startAt",
        "maxEventSize",
    ),
    "journald": ("includeUnits", "excludeUnits", "directory"),
    "cmd": ("cmd", "args", "mode", "interval", "environment", "maxEventSize"),
    "stdin": ("maxEventSize",),
}


def _transforms(w: _Walker, value: Any, path: str) -> tuple[Transform, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        w.problem(path, f"must be a list, not {_kind(value)}")
        return ()
    out = []
    for i, item in enumerate(value):
        p = f"{path}[{i}]"
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "regex_filter":
            m = w.mapping(item, p, ("type", "mode", "pattern"))
            w.required(m, "pattern", p)
            mode = w.choice(m, "mode", p, ("include", "exclude"), "include")
            out.append(Transform("regex_filter", cast(Any, mode), w.regex(m, "pattern", p)))
        elif kind == "static_fields":
            m = w.mapping(item, p, ("type", "fields"))
            fields = w.mapping(
                m.get("fields"), f"{p}.fields", list(map(str, m.get("fields") or {}))
            )
            values = {str(k): w.string(fields, k, f"{p}.fields") for k in fields}
            out.append(Transform("static_fields", fields={k: str(v) for k, v in values.items()}))
        else:
            w.problem(f"{p}.type", f"must be one of {', '.join(TRANSFORM_TYPES)}, not {kind!r}")
    return tuple(out)


def _source(
    w: _Walker, name: str, raw: Any, path: str, sinks: Mapping[str, Any], base: Path
) -> SourceConfig | None:
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind not in SOURCE_TYPES:
        w.problem(f"{path}.type", f"must be one of {', '.join(SOURCE_TYPES)}, not {kind!r}")
        return None
    m = w.mapping(raw, path, _COMMON + _SOURCE_KEYS[kind])
    sink = w.required(m, "sink", path)
    if sink and sink not in sinks:
        w.problem(f"{path}.sink", f"names no sink in sinks: {sink!r}")
    opts: dict[str, Any] = {
        "name": name,
        "type": kind,
        "sink": sink,
        "parser": w.string(m, "parser", path),
        "transforms": _transforms(w, m.get("transforms"), f"{path}.transforms"),
        "max_event_size": w.number(m, "maxEventSize", path, 1_048_576, low=1, high=64 << 20),
    }
    port: Callable[[int], int] = lambda d: cast(int, w.number(m, "port", path, d, high=65535))  # noqa: E731
    if kind == "syslog":
        opts["mode"] = w.choice(m, "mode", path, ("udp", "tcp"), "udp")
        opts["port"] = port(514)
        opts["bind"] = w.string(m, "bind", path, "0.0.0.0")
    elif kind == "syslog_tls":
        opts["port"] = port(6514)
        opts["bind"] = w.string(m, "bind", path, "0.0.0.0")
        for key, attr in (("certificateFile", "certificate_file"), ("keyFile", "key_file")):
            if w.required(m, key, path):
                opts[attr] = w.file(m, key, path, base)
        opts["client_ca_file"] = w.file(m, "clientCAFile", path, base)
    elif kind == "file":
        opts["include"] = w.strings(m, "include", path)
        if not opts["include"]:
            w.problem(f"{path}.include", "is required (one or more glob patterns)")
        for i, pattern in enumerate(opts["include"]):
            if not Path(pattern).expanduser().is_absolute():
                w.problem(f"{path}.include[{i}]", f"must be an absolute path: {pattern!r}")
        opts["exclude"] = w.strings(m, "exclude", path)
        opts["exclude_extensions"] = tuple(
            e.lstrip(".") for e in w.strings(m, "excludeExtensions", path)
        )
        opts["multi_line_begins_with"] = w.regex(m, "multiLineBeginsWith", path)
        opts["inactivity_timeout"] = w.number(
            m, "inactivityTimeout", path, 60.0, low=0.1, integer=False
        )
        opts["start_at"] = w.choice(m, "startAt", path, ("beginning", "end"), "beginning")
    elif kind == "journald":
        opts["include_units"] = w.strings(m, "includeUnits", path)
        opts["exclude_units"] = w.strings(m, "excludeUnits", path)
        directory = w.string(m, "directory", path)
        opts["directory"] = Path(directory) if directory else None
    elif kind == "cmd":
        opts["cmd"] = w.required(m, "cmd", path)
        opts["args"] = w.strings(m, "args", path)
        opts["mode"] = w.choice(m, "mode", path, ("scheduled", "streaming"), "scheduled")
        opts["interval"] = w.number(m, "interval", path, 60.0, low=0.01, integer=False)
        env = m.get("environment") or {}
        envm = w.mapping(
            env, f"{path}.environment", [str(k) for k in env] if isinstance(env, dict) else []
        )
        opts["environment"] = {str(k): str(w.string(envm, k, f"{path}.environment")) for k in envm}
    return SourceConfig(**opts)


def _sink(w: _Walker, name: str, raw: Any, path: str, base: Path) -> SinkConfig | None:
    known = (
        "type", "url", "token", "proxy", "tls", "compression", "maxBatchSize",
        "maxEventSize", "useAck", "ackTimeoutInMillisecond", "queue", "deadLetter",
    )  # fmt: skip
    m = w.mapping(raw, path, known)
    kind = w.choice(m, "type", path, SINK_TYPES, "hec")
    url = w.required(m, "url", path)
    if url and not re.match(r"^https?://[^/\s]+", url):
        w.problem(f"{path}.url", f"must be an http:// or https:// URL, not {url!r}")
    token = w.required(m, "token", path)
    proxy = w.string(m, "proxy", path, "none")
    if proxy not in ("none", "system") and not re.match(r"^(https?|socks5h?)://", proxy):
        w.problem(f"{path}.proxy", f"must be none, system or a proxy URL, not {proxy!r}")
    tls = w.mapping(m.get("tls"), f"{path}.tls", ("insecure", "caFile"))
    q = w.mapping(
        m.get("queue"),
        f"{path}.queue",
        ("type", "maxLimitInMB", "fullAction", "flushTimeOutInMillisecond"),
    )
    dl = w.mapping(m.get("deadLetter"), f"{path}.deadLetter", ("maxFileSizeInMB", "maxFiles"))
    dead_letter = DeadLetterConfig(
        max_file_size_mb=w.number(
            dl, "maxFileSizeInMB", f"{path}.deadLetter", 64, low=0.001, integer=False
        ),
        max_files=w.number(dl, "maxFiles", f"{path}.deadLetter", 5, low=1, high=1000),
    )
    qp = f"{path}.queue"
    queue = QueueConfig(
        type=cast(Any, w.choice(q, "type", qp, ("memory", "disk"), "memory")),
        max_limit_mb=w.number(q, "maxLimitInMB", qp, 1024, low=1),
        full_action=cast(Any, w.choice(q, "fullAction", qp, ("pause", "deleteOldest"), "pause")),
        flush_timeout_ms=w.number(q, "flushTimeOutInMillisecond", qp, 1000, low=1),
    )
    return SinkConfig(
        name=name,
        url=url,
        token=token,
        type=cast(Any, kind),
        proxy=proxy,
        tls_insecure=w.boolean(tls, "insecure", f"{path}.tls", False),
        ca_file=w.file(tls, "caFile", f"{path}.tls", base),
        compression=cast(Any, w.choice(m, "compression", path, ("gzip", "zstd", "none"), "gzip")),
        max_batch_size=w.number(m, "maxBatchSize", path, 1_048_576, low=1024),
        max_event_size=w.number(m, "maxEventSize", path, 1_048_576, low=16),
        use_ack=w.boolean(m, "useAck", path, False),
        ack_timeout_ms=w.number(m, "ackTimeoutInMillisecond", path, 120_000, low=100),
        queue=queue,
        dead_letter=dead_letter,
    )


def parse_config(
    data: Any, environ: Mapping[str, str], *, where: str = "<config>", base: Path | None = None
) -> CollectorConfig:
    """Validate already-parsed YAML ``data``; raise :class:`CollectorConfigError` listing all problems."""
    w = _Walker()
    base = base or Path.cwd()
    data = expand(data, environ, "", w)
    top = w.mapping(data, "(top)", ("dataDirectory", "logLevel", "sources", "sinks", "status"))
    if not isinstance(data, dict):
        raise CollectorConfigError(where, w.problems or ["(top): must be a mapping"])
    data_dir = w.required(top, "dataDirectory", "(top)") or "."
    log_level = w.choice(
        top, "logLevel", "(top)", ("trace", "debug", "info", "warn", "warning", "error"), "info"
    )
    sinks_raw = w.mapping(top.get("sinks"), "sinks", list(map(str, top.get("sinks") or {})))
    sources_raw = w.mapping(top.get("sources"), "sources", list(map(str, top.get("sources") or {})))
    if not sinks_raw:
        w.problem("sinks", "at least one sink is required")
    if not sources_raw:
        w.problem("sources", "at least one source is required")
    sinks = {}
    for name, raw in sinks_raw.items():
        sink = _sink(w, name, raw, f"sinks.{name}", base)
        if sink is not None:
            sinks[name] = sink
    sources = {}
    for name, raw in sources_raw.items():
        source = _source(w, name, raw, f"sources.{name}", sinks_raw, base)
        if source is not None:
            sources[name] = source
    st = w.mapping(top.get("status"), "status", ("bind", "port"))
    status = StatusConfig(
        bind=w.string(st, "bind", "status", "127.0.0.1"),
        port=w.number(st, "port", "status", 5591, high=65535),
    )
    if w.problems:
        raise CollectorConfigError(where, w.problems)
    ddir = Path(data_dir).expanduser()
    return CollectorConfig(
        data_directory=ddir if ddir.is_absolute() else base / ddir,
        log_level="warning" if log_level == "warn" else log_level,
        sources=sources,
        sinks=sinks,
        status=status,
    )


def load_config(path: str | Path, environ: Mapping[str, str]) -> CollectorConfig:
    """Read and validate the YAML file at ``path`` (relative paths inside are from its folder)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise CollectorConfigError(str(path), [f"cannot read: {exc.strerror or exc}"]) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CollectorConfigError(str(path), [f"not valid YAML: {exc}"]) from exc
    return parse_config(data, environ, where=str(path), base=path.resolve().parent)
