"""One frozen settings object, built from defaults < TOML file < LAKEHOSE_* env < flags.

This is the only module that reads the environment; everything else receives a
:class:`Settings`. Every field is documented in the README's configuration table
(a test checks that), and every field can be set by its flag, by
``LAKEHOSE_<FIELD>`` and by ``<field> = ...`` in the TOML file.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_type_hints

from lakehose.errors import ConfigError

Durability = Literal["fsync", "none"]
LogFormat = Literal["auto", "json", "text"]

ENV_PREFIX = "LAKEHOSE_"
MiB = 1024 * 1024


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything a lakehose process can be told. Sizes in bytes, durations in seconds."""

    # where and how to listen
    data_dir: Path = Path("lakehose-data")
    host: str = "127.0.0.1"
    port: int = 8088
    workers: int = dataclasses.field(default_factory=_cpu_count)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    public_url: str | None = None
    # distributed mode (NATS JetStream)
    cluster: str | None = None
    cluster_replicas: int = 3
    cluster_namespace: str = "lakehose"
    cluster_ack_timeout: float = 10.0
    cluster_connect_timeout: float = 30.0
    cluster_creds: Path | None = None
    cluster_nkey: Path | None = None
    cluster_user: str | None = None
    cluster_password: str | None = dataclasses.field(default=None, repr=False)  # a secret
    cluster_token: str | None = dataclasses.field(default=None, repr=False)
    cluster_tls_ca: Path | None = None
    cluster_tls_cert: Path | None = None
    cluster_tls_key: Path | None = None
    # HEC ingest
    max_body_bytes: int = 10 * MiB
    max_event_size: int = MiB
    max_queue_bytes: int = 64 * MiB
    body_timeout: float = 60.0
    enable_zstd: bool = True
    hec_auth_fail_limit: int = 100
    hec_auth_fail_window: float = 60.0
    # connections
    header_timeout: float = 20.0
    max_header_bytes: int = 64 * 1024
    max_connections: int = 4096
    max_connections_per_address: int = 256
    keep_alive_timeout: int = 75
    # the log
    partitions: int = 1
    durability: Durability = "fsync"
    commit_delay: float = 0.0
    commit_gather: float = 0.0005
    commit_max_bytes: int = 16 * MiB
    zstd_level: int = 1
    retention_age: float | None = None
    retention_bytes: int | None = None
    retention_interval: float = 60.0
    columnar_after: float | None = 600.0
    columnar_interval: float = 30.0
    # OAuth2 and streams
    token_ttl: int = 1799
    session_ttl: int = 1800
    session_grace: int = 120
    heartbeat_interval: float = 10.0
    feed_stall_timeout: float = 60.0
    search_timeout: float = 300.0
    tail_poll_interval: float = 0.002
    customer_id: str | None = None
    # administration and logs
    sandbox: bool = False
    allow_remote_admin: bool = False
    console_idle_timeout: float = 1800.0
    console_session_max: float = 43200.0
    allow_remote_metrics: bool = False
    metrics_token: bool = False
    max_tokens_per_client: int = 100
    max_sessions_per_client: int = 1000
    max_feeds_per_client: int = 64
    trusted_proxies: str = "127.0.0.1,::1"
    access_log: bool = True
    log_level: str = "info"
    log_format: LogFormat = "auto"

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ConfigError("workers must be at least 1")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port {self.port} is not a TCP port")
        if self.partitions < 1:
            raise ConfigError("partitions must be at least 1")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("tls_cert and tls_key go together")
        if self.max_body_bytes < 1024:
            raise ConfigError("max_body_bytes must be at least 1024")
        if self.max_event_size < 1:
            raise ConfigError("max_event_size must be at least 1 byte")
        if self.max_header_bytes < 1024:
            raise ConfigError("max_header_bytes must be at least 1024")
        if self.max_connections < 1:
            raise ConfigError("max_connections must be at least 1")
        for limit in ("max_tokens_per_client", "max_sessions_per_client", "max_feeds_per_client"):
            if getattr(self, limit) < 1:
                raise ConfigError(f"{limit} must be at least 1")
        if self.max_connections_per_address < 0:
            raise ConfigError("max_connections_per_address must be 0 (no cap) or more")
        if self.hec_auth_fail_limit < 0:
            raise ConfigError("hec_auth_fail_limit must be 0 (off) or more")
        for name in (
            "header_timeout",
            "keep_alive_timeout",
            "hec_auth_fail_window",
            "body_timeout",
            "feed_stall_timeout",
            "search_timeout",
            "console_idle_timeout",
            "console_session_max",
            "cluster_ack_timeout",
            "cluster_connect_timeout",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be more than 0")
        for entry in self.proxy_list:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ConfigError(
                    f"trusted_proxies: {entry!r} is not an IP address or network"
                ) from None
        if self.sandbox and not _loopback(self.host):
            raise ConfigError(
                f"sandbox needs a loopback host (127.0.0.1, ::1 or localhost), not {self.host!r}:"
                " it lets anyone who can reach it break ingest and streams"
            )
        if self.columnar_after is not None and self.columnar_after < 0:
            raise ConfigError("columnar_after must be 0 or more (none: off)")
        if self.columnar_interval <= 0:
            raise ConfigError("columnar_interval must be more than 0")
        if not 1 <= self.cluster_replicas <= 5:
            raise ConfigError("cluster_replicas must be 1 to 5 (JetStream keeps at most 5 copies)")
        if not re.match(r"^[a-z0-9][a-z0-9_-]{0,31}$", self.cluster_namespace):
            raise ConfigError("cluster_namespace must be 1-32 lower-case letters, digits, _ or -")
        ways = [n for n in ("cluster_creds", "cluster_nkey", "cluster_user", "cluster_token")
                if getattr(self, n)]  # fmt: skip
        if len(ways) > 1:
            raise ConfigError(f"NATS takes one way to authenticate: {' or '.join(ways)}")
        if (self.cluster_user is None) != (self.cluster_password is None):
            raise ConfigError("cluster_user and cluster_password go together")
        if (self.cluster_tls_cert is None) != (self.cluster_tls_key is None):
            raise ConfigError("cluster_tls_cert and cluster_tls_key go together")
        if self.cluster and self.sandbox:
            raise ConfigError("sandbox is for a single node; it cannot be used with cluster")
        if self.token_ttl <= 120:
            raise ConfigError("token_ttl must exceed 120 s (FalconPy renews 120 s early)")

    @property
    def proxy_list(self) -> list[str]:
        """The entries of ``trusted_proxies`` (``*``, trusting anyone, is not accepted)."""
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"

    @property
    def catalog_path(self) -> Path:
        return self.data_dir / "catalog.db"

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


HELP: dict[str, str] = {
    "data_dir": "directory holding the lake (catalog.db, partition-N.db)",
    "cluster": (
        "comma-separated NATS URLs (nats://h1:4222,nats://h2:4222; user:password@, tls://"
        " accepted) of a JetStream cluster that holds the lake: the node keeps no state, and"
        " admin commands take --cluster in place of --data-dir"
    ),
    "cluster_replicas": "copies JetStream keeps of every partition stream and catalog bucket",
    "cluster_ack_timeout": (
        "seconds an ingest request waits for the cluster's quorum to acknowledge it before it"
        " is answered 503 code 9 (nothing acknowledged; the sender retries)"
    ),
    "cluster_connect_timeout": (
        "how long a node or command waits at its start for a NATS server to answer before it"
        " gives up with an error"
    ),
    "cluster_namespace": "name of the lake in the cluster (its streams and buckets), for several"
    " lakes on one cluster",
    "cluster_creds": "NATS credentials file (.creds: a user JWT and its NKey seed, from nsc)",
    "cluster_nkey": "file holding the NKey seed (SU...) of a NATS user authenticated by NKey",
    "cluster_user": "NATS user name (with cluster_password)",
    "cluster_password": (
        "NATS user's password (set it in the config file or LAKEHOSE_CLUSTER_PASSWORD: a flag"
        " shows in the process list)"
    ),
    "cluster_token": (
        "NATS authentication token (config file or LAKEHOSE_CLUSTER_TOKEN, as cluster_password)"
    ),
    "cluster_tls_ca": (
        "PEM CA bundle that signed the NATS servers' certificates (TLS to NATS; tls:// URLs"
        " without it verify against the system's CAs)"
    ),
    "cluster_tls_cert": "PEM client certificate for NATS servers that verify clients",
    "cluster_tls_key": "PEM private key of cluster_tls_cert",
    "host": "address to listen on",
    "port": "TCP port (HEC's conventional 8088; 0 picks a free one)",
    "workers": "HTTP worker processes (default: one per CPU core)",
    "tls_cert": "PEM certificate: serve HTTPS",
    "tls_key": "PEM private key for tls_cert",
    "public_url": "base URL clients reach this server at (stream and HEC URLs are built from it)",
    "max_body_bytes": "largest request body accepted, before and after decompression",
    "max_event_size": (
        "largest event (its JSON text, or a raw event's text); a larger one gets code 6 with"
        " its invalid-event-number"
    ),
    "max_queue_bytes": "bytes waiting for commit per worker before ingest answers 503 code 9",
    "body_timeout": "seconds a client may pause while sending a body before it is cut off",
    "enable_zstd": "accept Content-Encoding: zstd",
    "hec_auth_fail_limit": (
        "failed HEC key checks allowed per client address and window before its requests get"
        " 429 (per worker; 0: no limit)"
    ),
    "hec_auth_fail_window": "the window of hec_auth_fail_limit, seconds",
    "header_timeout": (
        "seconds a client has to send a request's line and headers (from connecting, or from"
        " the request's first byte) before it is cut off"
    ),
    "max_header_bytes": "largest request line plus headers accepted (431 above it)",
    "max_connections": "open connections per worker; more are answered 503 and closed",
    "max_connections_per_address": (
        "open connections per worker from one client address (IPv6: /64), at most half of"
        " max_connections; more are answered 503 and closed (0: no cap)"
    ),
    "keep_alive_timeout": "seconds an idle keep-alive connection is kept open",
    "partitions": "partitions of the log (1 suits every Falcon stream consumer)",
    "durability": "fsync: a 200 means on disk; none: skip fsync (benchmarks only)",
    "commit_delay": "extra seconds to gather a group commit (0: commit as soon as the last one ends)",
    "commit_gather": "wait this long before a commit when the last one was shared (0: never)",
    "commit_max_bytes": "most bytes in one group commit",
    "zstd_level": "zstd level for stored record batches",
    "retention_age": "drop events older than this (e.g. 30d); unset keeps everything",
    "retention_bytes": "drop the oldest events beyond this stored size per partition (e.g. 50GiB)",
    "retention_interval": "how often retention runs",
    "columnar_after": (
        "compact record batches older than this into the columnar tier (Parquet) for fast"
        " search; none: off"
    ),
    "columnar_interval": "how often the compactor looks for batches to compact",
    "token_ttl": "lifetime of OAuth2 access tokens, seconds (expires_in)",
    "session_ttl": "data-feed session lifetime after issue or refresh, seconds",
    "session_grace": "extra seconds a session lives past session_ttl before it is cut",
    "heartbeat_interval": "seconds of idleness before a data feed sends a keep-alive line",
    "feed_stall_timeout": "seconds a data feed waits for a consumer that reads nothing before "
    "disconnecting it (it resumes from its offset)",
    "search_timeout": "longest a search may scan before it is stopped (422)",
    "tail_poll_interval": "how often a worker checks for events committed by other workers",
    "customer_id": "customerIDString in stream metadata (default: generated per data directory)",
    "sandbox": (
        "fault sandbox for integration tests (/api/v1/sandbox, lakehose sandbox): never in"
        " production; loopback only"
    ),
    "allow_remote_admin": "allow admin API calls from non-loopback addresses",
    "console_idle_timeout": "a console session ends after this long without a request",
    "console_session_max": "a console session ends this long after sign-in, however busy",
    "allow_remote_metrics": (
        "answer /metrics and /api/v1/status to non-loopback addresses (they name connectors"
        " and show counts, offsets and the version)"
    ),
    "metrics_token": "require a bearer token with the metrics:read scope for /metrics and"
    " /api/v1/status",
    "max_tokens_per_client": "live OAuth2 access tokens one API client may hold (429 beyond)",
    "max_sessions_per_client": "live stream sessions one API client may hold (429 beyond)",
    "max_feeds_per_client": "open data feeds one API client may hold, all workers (429 beyond)",
    "trusted_proxies": (
        "comma-separated addresses or networks of reverse proxies whose X-Forwarded-For names"
        " the client ('' trusts none)"
    ),
    "access_log": "log one line per HEC request",
    "log_level": "debug, info, warning or error",
    "log_format": "auto (JSON when stderr is not a terminal), json or text",
}

FIELDS: dict[str, dataclasses.Field[Any]] = {f.name: f for f in dataclasses.fields(Settings)}
_HINTS = get_type_hints(Settings)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}
_DURATION_FIELDS = {
    "retention_age",
    "cluster_ack_timeout",
    "cluster_connect_timeout",
    "retention_interval",
    "columnar_after",
    "columnar_interval",
    "body_timeout",
    "header_timeout",
    "keep_alive_timeout",
    "hec_auth_fail_window",
    "commit_delay",
    "commit_gather",
    "heartbeat_interval",
    "feed_stall_timeout",
    "search_timeout",
    "tail_poll_interval",
    "token_ttl",
    "session_ttl",
    "session_grace",
    "console_idle_timeout",
    "console_session_max",
}
_SIZE_FIELDS = {
    "max_header_bytes",
    "max_body_bytes",
    "max_event_size",
    "max_queue_bytes",
    "commit_max_bytes",
    "retention_bytes",
}


def parse_duration(text: str) -> float:
    """``"90"``, ``"90s"``, ``"15m"``, ``"24h"``, ``"7d"``, ``"250ms"`` -> seconds."""
    m = _DURATION.match(text)
    if not m:
        raise ConfigError(f"{text!r} is not a duration (examples: 30s, 15m, 24h, 7d)")
    return float(m.group(1)) * _DURATION_UNITS[m.group(2)]


def parse_size(text: str) -> int:
    """``"10MiB"``, ``"10MB"``, ``"512k"``, ``"1048576"`` -> bytes."""
    m = _SIZE.match(text)
    if not m:
        raise ConfigError(f"{text!r} is not a size (examples: 10MiB, 500MB, 1048576)")
    unit = (m.group(2) or "").lower()
    binary = "i" in unit
    base = unit[:1] if unit not in ("", "b") else unit
    factor = _SIZE_UNITS[base] if not binary else 1024 ** ("kmgt".index(base) + 1)
    return int(float(m.group(1)) * factor)


def _coerce(name: str, value: Any) -> Any:
    """Turn a TOML or environment value into the field's type."""
    hint = _HINTS[name]
    args = [a for a in get_args(hint) if a is not type(None)]
    optional = type(None) in get_args(hint)
    if value is None or (optional and isinstance(value, str) and value.strip() in ("", "none")):
        if not optional:
            raise ConfigError(f"{name} cannot be empty")
        return None
    target = args[0] if optional and args else hint
    try:
        return _convert(name, value, target)
    except ConfigError as exc:
        raise ConfigError(f"bad value for {name}: {exc}") from exc


def _convert(name: str, value: Any, target: Any) -> Any:
    if name == "cluster" and isinstance(value, list):  # TOML: cluster = ["nats://h1:4222", ...]
        if not value or not all(isinstance(v, str) for v in value):
            raise ConfigError("cluster is a list of NATS URLs, or one comma-separated string")
        return ",".join(value)
    try:
        if name in _DURATION_FIELDS:
            seconds = parse_duration(value) if isinstance(value, str) else float(value)
            return int(seconds) if target is int else seconds
        if name in _SIZE_FIELDS:
            return parse_size(value) if isinstance(value, str) else int(value)
        if target is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"{value!r} is not a boolean")
        if target is Path:
            return Path(os.path.expanduser(str(value)))
        if target is int:
            return int(value)
        if target is float:
            return float(value)
        if getattr(target, "__origin__", None) is Literal:
            allowed = get_args(target)
            if value not in allowed:
                raise ValueError(f"{value!r} is not one of {', '.join(map(str, allowed))}")
            return value
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad value for {name}: {exc}") from exc


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError as exc:
        raise ConfigError(f"configuration file {str(path)!r} not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {str(path)!r}: {exc}") from exc
    section = raw.get("lakehose", raw)
    unknown = sorted(set(section) - set(FIELDS))
    if unknown:
        raise ConfigError(f"unknown settings in {str(path)!r}: {', '.join(unknown)}")
    return dict(section)


def env_values(environ: Mapping[str, str]) -> dict[str, str]:
    out = {}
    for name in FIELDS:
        key = ENV_PREFIX + name.upper()
        if key in environ:
            out[name] = environ[key]
    return out


def config_file_path(explicit: str | Path | None, environ: Mapping[str, str]) -> Path | None:
    """The TOML file to read: ``--config``, else ``LAKEHOSE_CONFIG``, else ``./lakehose.toml``."""
    if explicit:
        return Path(explicit)
    if environ.get(ENV_PREFIX + "CONFIG"):
        return Path(environ[ENV_PREFIX + "CONFIG"])
    default = Path("lakehose.toml")
    return default if default.is_file() else None


def load_settings(
    flags: Mapping[str, Any] | None = None,
    *,
    config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build the settings: defaults < TOML file < ``LAKEHOSE_*`` environment < flags.

    ``flags`` holds only the options given on the command line (``None`` = not given).
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = config_file_path(config_file, env)
    if path is not None:
        values.update({k: _coerce(k, v) for k, v in read_toml(path).items()})
    values.update({k: _coerce(k, v) for k, v in env_values(env).items()})
    for k, v in (flags or {}).items():
        if v is None:
            continue
        if k not in FIELDS:
            raise ConfigError(f"unknown setting {k!r}")
        values[k] = _coerce(k, v) if isinstance(v, str) else v
    return Settings(**values)


def process_environment() -> Mapping[str, str]:
    """The process environment, for ``${VAR}`` in the collector's YAML and its commands."""
    return os.environ
