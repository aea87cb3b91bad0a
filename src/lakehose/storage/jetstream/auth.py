"""How a process proves itself to NATS: credentials and TLS for the cluster connection.

One of a ``.creds`` file (a user JWT and its NKey seed, as ``nsc`` writes it), an NKey
seed file, a user and password, or a token; and TLS: a CA file to verify the servers
(``tls://`` URLs, or any server that requires TLS) and a client certificate and key for
servers that verify clients. ``config.py`` reads them (``cluster_*`` settings); a process
:func:`register`\\ s them for its cluster URLs before its first connection
(``storage/lake.py`` does, wherever settings open a cluster), and ``link.py`` connects
with :func:`options_for`. The secrets stay in this object: :meth:`NatsAuth.describe`,
what banners and errors show, names the method and files, never a secret.
"""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass
from typing import Any

from lakehose.errors import ConfigError

_registered: dict[str, NatsAuth] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class NatsAuth:
    """Credentials and TLS files for a NATS connection (picklable, for search processes)."""

    creds: str | None = None
    nkey: str | None = None
    user: str | None = None
    password: str | None = None
    token: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None

    def __repr__(self) -> str:  # never a secret in a traceback or a log line
        return f"NatsAuth({self.describe()})"

    def empty(self) -> bool:
        return not any(vars(self).values())

    def describe(self) -> str:
        """The method and files, for a banner or an error: no password, token or seed."""
        parts = []
        if self.creds:
            parts.append(f"credentials file {self.creds}")
        if self.nkey:
            parts.append(f"NKey seed file {self.nkey}")
        if self.user:
            parts.append(f"user {self.user!r} and password")
        if self.token:
            parts.append("token")
        if self.tls_ca or self.tls_cert:
            tls = f"TLS (CA {self.tls_ca or 'system'}"
            parts.append(tls + (f", client certificate {self.tls_cert})" if self.tls_cert else ")"))
        return ", ".join(parts) or "no credentials"

    def connect_options(self) -> dict[str, Any]:
        """Keyword arguments for ``nats.connect``."""
        options: dict[str, Any] = {}
        if self.creds:
            _readable(self.creds, "cluster_creds")
            options["user_credentials"] = self.creds
        if self.nkey:
            _readable(self.nkey, "cluster_nkey")
            options["nkeys_seed"] = self.nkey
        if self.user:
            options["user"], options["password"] = self.user, self.password or ""
        if self.token:
            options["token"] = self.token
        if self.tls_ca or self.tls_cert:
            options["tls"] = self.tls_context()
        return options

    def tls_context(self) -> ssl.SSLContext:
        """Verifies the servers (with ``tls_ca``, else the system's CAs); presents the client
        certificate when one is set."""
        try:
            context = ssl.create_default_context(cafile=self.tls_ca)
            if self.tls_cert:
                context.load_cert_chain(self.tls_cert, self.tls_key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cluster TLS files ({self.describe()}): {exc}") from exc
        return context


def how_it_connects(urls: str, auth: NatsAuth | None) -> str:
    """``auth``'s :meth:`~NatsAuth.describe`, or "credentials in the URL" when none is set
    but a URL carries ``user:password@`` (never the secret itself)."""
    said = auth.describe() if auth is not None and not auth.empty() else ""
    named = auth is not None and any((auth.creds, auth.nkey, auth.user, auth.token))
    if "@" in urls and not named:
        said = "credentials in the URL" + (f", {said}" if said else "")
    return said or "no credentials"


def _readable(path: str, setting: str) -> None:
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise ConfigError(f"{setting} {path!r}: {exc.strerror or exc}") from exc


def refusal(exc: BaseException) -> bool:
    """Whether a connection error is the server refusing us (credentials, permissions or
    TLS), which no retry mends, rather than a server being away."""
    import nats.errors

    if isinstance(exc, (nats.errors.AuthorizationError, ssl.SSLError)):
        return True
    text = str(exc).lower()
    return "authorization" in text or "authentication" in text or "permissions" in text


def _key(urls: str) -> str:
    """As ``link.parse_urls`` joins them: a bare ``host:port`` gets ``nats://``."""
    parts = [u.strip() for u in urls.split(",") if u.strip()]
    return ",".join(u if "://" in u else f"nats://{u}" for u in parts)


def register(urls: str, auth: NatsAuth | None) -> None:
    """Connect to ``urls`` with ``auth`` from now on in this process."""
    if auth is None or auth.empty():
        return
    with _lock:
        _registered[_key(urls)] = auth


def auth_for(urls: str) -> NatsAuth | None:
    with _lock:
        return _registered.get(_key(urls))


def options_for(urls: str) -> dict[str, Any]:
    """``nats.connect`` keywords for ``urls``: the registered credentials and TLS, if any."""
    auth = auth_for(urls)
    return auth.connect_options() if auth is not None else {}
