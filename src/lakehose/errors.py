"""Every error lakehose raises, rooted at :class:`LakehoseError`.

Domain errors know nothing of HTTP; ``server/replies/errors.py`` maps them to replies.
The ``retriable`` class flag tells the SDK and the collector whether trying
again later can succeed.

    LakehoseError
    ├── ConfigError              bad setting, file or flag
    ├── DataDirError             data directory missing, unwritable, locked
    │   └── ClusterLakeError     no such lake on the NATS cluster, or one already there
    ├── StorageError
    │   ├── StorageFullError     disk full: retriable
    │   ├── CorruptBatchError    a stored batch fails its checksum
    │   └── OffsetOutOfRangeError
    ├── NotFoundError            a connector, client or session that does not exist
    ├── ConflictError            a name already taken
    ├── AuthError                bad or missing credentials
    │   └── ScopeError           valid credentials without the scope a route needs
    ├── RateLimitedError         too many requests: retriable
    │   └── LimitError           a per-client limit (tokens, sessions, feeds) is reached
    ├── QueryError               a search query that does not parse (with its column)
    ├── SearchTimeoutError       a search that scanned longer than search_timeout
    ├── DeliveryClosedError      collector: a sink's delivery closed before events were safe
    ├── TransportError           SDK: the server could not be reached: retriable
    └── ResponseError            SDK: an API refused a request (status, message); 5xx retriable
"""

from __future__ import annotations


class LakehoseError(Exception):
    """Root of every lakehose error."""

    retriable: bool = False


class ConfigError(LakehoseError):
    """A setting, configuration file or flag is invalid."""


class DataDirError(LakehoseError):
    """The data directory cannot be used (missing, read-only, wrong layout)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"data directory {path!r} cannot be used: {reason}")


class ClusterLakeError(DataDirError):
    """The lake a command names on a NATS cluster is not there (or, for ``migrate``, is)."""

    def __init__(self, urls: str, reason: str) -> None:
        super().__init__(urls, reason)
        self.args = (f"the NATS cluster at {urls} {reason}",)

    def __str__(self) -> str:
        return str(self.args[0])


class StorageError(LakehoseError):
    """The event log failed to read or write."""


class StorageUnavailableError(StorageError):
    """The store cannot commit now (a cluster node cut off from the quorum): nothing of the
    failed write is acknowledged; the sender retries (HEC 503 code 9)."""

    retriable = True


class StorageFullError(StorageError):
    """The disk holding the log is full; nothing of the failed write was kept."""

    retriable = True

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"no space left for the event log in {path!r}")


class CorruptBatchError(StorageError):
    """A stored record batch fails its checksum or cannot be decoded."""

    def __init__(self, partition: int, first_offset: int, reason: str) -> None:
        self.partition = partition
        self.first_offset = first_offset
        super().__init__(
            f"record batch at offset {first_offset} of partition {partition} is corrupt: {reason}"
        )


class OffsetOutOfRangeError(StorageError):
    """An offset is not a valid position in a partition."""

    def __init__(self, partition: int, offset: int, reason: str) -> None:
        self.partition = partition
        self.offset = offset
        super().__init__(f"offset {offset} in partition {partition}: {reason}")


class NotFoundError(LakehoseError):
    """A named object (connector, API client, session) does not exist."""

    def __init__(self, kind: str, name: str) -> None:
        self.kind = kind
        self.name = name
        super().__init__(f"{kind} {name!r} not found")


class ConflictError(LakehoseError):
    """A name or identifier is already in use."""

    def __init__(self, kind: str, name: str) -> None:
        self.kind = kind
        self.name = name
        super().__init__(f"{kind} {name!r} already exists")


class AuthError(LakehoseError):
    """Credentials are missing, malformed, unknown, expired or revoked."""


class ScopeError(AuthError):
    """Valid credentials that do not carry the scope the operation needs."""

    def __init__(self, needed: str) -> None:
        self.needed = needed
        super().__init__(f"this operation needs the {needed!r} scope")


class RateLimitedError(LakehoseError):
    """Too many requests; try again after ``retry_after`` seconds."""

    retriable = True

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"rate limited; retry after {retry_after:.1f} s")


class LimitError(RateLimitedError):
    """A per-client limit (live tokens, stream sessions, open feeds) is reached."""

    def __init__(self, message: str, retry_after: float = 60.0) -> None:
        self.retry_after = retry_after
        self.message = message
        LakehoseError.__init__(self, message)


class QueryError(LakehoseError):
    """A search query or time range that cannot be parsed."""

    def __init__(self, message: str, line: int = 1, column: int = 0) -> None:
        self.message = message
        self.line = line
        self.column = column
        where = f" at column {column}" if column else ""
        super().__init__(f"{message}{where}")


class SearchTimeoutError(LakehoseError):
    """A search scanned longer than its time limit and was stopped (not retriable as is)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(
            f"the search ran longer than {seconds:g} s (search_timeout) and was stopped; "
            "narrow the time range or the query"
        )


class DeliveryClosedError(LakehoseError):
    """A collector sink's delivery closed before these events were safe; read them again."""

    def __init__(self, sink: str) -> None:
        self.sink = sink
        super().__init__(f"the delivery to sink {sink!r} closed before the events were safe")


class TransportError(LakehoseError):
    """The SDK could not reach the server, or the connection broke."""

    retriable = True


class ResponseError(LakehoseError):
    """An API answered with an error status the SDK has no closer type for.

    ``status`` is the HTTP status and ``message`` the server's (``errors[0].message``
    in the Falcon body). Answers of 500 and above are ``retriable``; 401/403 raise
    :class:`AuthError` and 429 :class:`RateLimitedError` instead.
    """

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        self.retriable = status >= 500 or status == 408
        super().__init__(f"HTTP {status}: {message}")
