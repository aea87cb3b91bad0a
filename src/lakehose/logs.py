"""Log handlers for lakehose processes: JSON lines when stderr is not a terminal, text when it is.

Only entry points (the CLI, a worker process) call :func:`configure_logging`;
library code just uses ``logging.getLogger(__name__)``. A filter masks anything
that looks like a credential (``Authorization`` values, ``token=``,
``client_secret=``, UUID-form keys) in every record, as a last line of defence:
code never logs secrets on purpose.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any

import orjson

_SECRET_PATTERNS = [
    (re.compile(r"(?i)\b(authorization:?\s*(?:splunk|bearer|basic|token)\s+)\S+"), r"\1****"),
    (
        re.compile(
            r"(?i)\b((?:token|client_secret|access_token|api_key)[\"']?\s*[=:]\s*[\"']?)[^\s&\"',}]+"
        ),
        r"\1****",
    ),
    (
        re.compile(
            r"\b([0-9a-fA-F]{8})-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-([0-9a-fA-F]{12})\b"
        ),
        r"****-\2",
    ),
]


def redact(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


# uvicorn logs its ordinary lines (started, shutting down) as "uvicorn.error"; they are
# lakehose's server talking, and "error" in the name of an info line misleads.
RENAMED_LOGGERS = {"uvicorn.error": "lakehose.server", "uvicorn": "lakehose.server"}


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.name = RENAMED_LOGGERS.get(record.name, record.name)
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(entry).decode()


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    """Control characters as visible escapes (``\\n``, ``\\x1b``): a logged value such as a
    request path with ``%0a`` in it cannot start a forged line or drive a terminal."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


class TextFormatter(logging.Formatter):
    """Plain text lines; tracebacks are redacted too (the filter sees only the message).

    The message (every value formatted into it) has its control characters escaped;
    only a traceback, which the logger itself formats, spans several lines."""

    def format(self, record: logging.LogRecord) -> str:
        saved = record.msg, record.args
        record.msg, record.args = escape_controls(record.getMessage()), None
        try:
            return super().format(record)
        finally:
            record.msg, record.args = saved

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return redact(super().formatException(ei))


ACCESS_LOGGER = "lakehose.access"


class AccessLog:
    """One line per HEC request, written to stderr in bulk, in the logs' format.

    It bypasses ``logging`` on purpose: a record through ``Logger.info`` costs ~60 µs
    here (caller lookup, record set-up, %-formatting, the JSON formatter), a quarter of
    a small ingest request; this costs a list append. Lines carry no credentials by
    construction (route, status, counts; never headers or query strings), so they
    skip the redaction filter. Writes are whole lines of at most 4 KiB each, so two
    workers sharing a pipe never interleave within a line.
    """

    WRITE_LIMIT = 4096

    def __init__(self, json_lines: bool, stream: Any = None, capacity: int = 64) -> None:
        self.json_lines = json_lines
        self._stream = stream
        self.capacity = capacity
        self._pending: list[tuple[float, str, dict[str, Any] | None]] = []
        self._second = -1  # the second whose time stamp is cached (strftime is most of a line)
        self._stamp = ""

    def add(self, message: str, fields: dict[str, Any] | None = None) -> None:
        """A line: ``message`` for text logs; in JSON, ``fields`` as keys of their own too."""
        self._pending.append((time.time(), message, fields))
        if len(self._pending) >= self.capacity:
            self.flush()

    def _line(self, when: float, message: str, fields: dict[str, Any] | None = None) -> bytes:
        second = int(when)
        if second != self._second:
            self._second = second
            self._stamp = (
                time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
                if self.json_lines
                else time.strftime("%H:%M:%S", time.localtime(second))
            )
        stamp = self._stamp
        if self.json_lines:
            return orjson.dumps(
                {
                    "time": f"{stamp}.{int(when % 1 * 1000):03d}Z",
                    "level": "info",
                    "logger": ACCESS_LOGGER,
                    "message": message,
                    **(fields or {}),
                },
                option=orjson.OPT_APPEND_NEWLINE,
            )
        return f"{stamp} INFO    {ACCESS_LOGGER}: {escape_controls(message)}\n".encode()

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        stream = self._stream or sys.stderr.buffer
        chunk = bytearray()
        try:
            for when, message, fields in pending:
                line = self._line(when, message, fields)
                if chunk and len(chunk) + len(line) > self.WRITE_LIMIT:
                    stream.write(bytes(chunk))
                    chunk.clear()
                chunk += line
            if chunk:
                stream.write(bytes(chunk))
            stream.flush()
        except (OSError, ValueError):  # stderr closed or full: access lines are best effort
            pass


def access_log_for(fmt: str) -> AccessLog:
    """The access log of a worker whose logs have format ``fmt`` (auto, json, text)."""
    return AccessLog(json_lines=fmt == "json" or (fmt == "auto" and not sys.stderr.isatty()))


def configure_logging(level: str = "info", fmt: str = "auto") -> None:
    """Send lakehose's and uvicorn's logs to stderr, redacted, as JSON or text."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    if use_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            TextFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
