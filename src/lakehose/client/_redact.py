"""Keep API keys out of the SDK's debug log (the client cannot use the server's log filter)."""

from __future__ import annotations

from collections.abc import Mapping


def mask(secret: str) -> str:
    """``****`` and, for a long secret, its last four characters (enough to tell keys apart)."""
    return "****" + secret[-4:] if len(secret) >= 16 else "****"


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` with every occurrence of each secret masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, mask(secret))
    return text


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``headers`` with the Authorization value masked (FalconPy: "Bearer REDACTED")."""
    out = dict(headers)
    for name in out:
        if name.lower() == "authorization":
            scheme, _, credential = out[name].partition(" ")
            out[name] = f"{scheme} {mask(credential)}" if credential else mask(scheme)
    return out
