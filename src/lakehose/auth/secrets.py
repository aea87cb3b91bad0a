"""Secrets are shown once and stored only as SHA-256 digests, compared in constant time.

Every secret lakehose issues carries at least 122 random bits (UUID4 form for HEC
keys, which some shippers expect; URL-safe base64 for client secrets and tokens),
so a plain SHA-256 is as good as a slow password hash here and costs ~1 µs per
request on the ingest path.

Keys, tokens and sessions are *found* by their digest (a dictionary or an indexed
column), not compared one by one. Such a lookup is constant-time in effect: how
long it takes can depend only on the digest, which a caller cannot steer toward a
stored one without a SHA-256 preimage, so timing reveals nothing about any secret.
Client secrets, checked against one known row, use :func:`matches`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid


def new_api_key() -> str:
    """A HEC API key: a random UUID4, the form Splunk tokens have."""
    return str(uuid.uuid4())


def new_secret(nbytes: int = 30) -> str:
    """A client secret or bearer token: ``nbytes`` random bytes, URL-safe base64."""
    return secrets.token_urlsafe(nbytes)


def new_id(nbytes: int = 16) -> str:
    """A public identifier (client id, connector id): random hex."""
    return secrets.token_hex(nbytes)


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def matches(secret: str, stored_digest: bytes) -> bool:
    """Constant-time check of ``secret`` against a stored digest."""
    return hmac.compare_digest(digest(secret), stored_digest)


def hint(secret: str) -> str:
    """The last four characters, enough for a person to tell keys apart in a listing."""
    return "…" + secret[-4:]


def mask(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` replaced by a hint."""
    if not secret:
        return text
    return text.replace(secret, "****" + secret[-4:] if len(secret) > 8 else "****")
