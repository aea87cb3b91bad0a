"""Failed key checks per client address: after too many, the address is refused before any check.

Theory of operation
-------------------
Each address has a token bucket of ``limit`` failures that refills at ``limit``
per ``window`` seconds. A failed check takes a token; when fewer than one is
left the address is *locked out* until one has refilled. While locked out, every
request from the address is refused **before its key is compared**, right key or
wrong, so a guesser learns nothing from the answers it gets meanwhile.

The hot path pays one test of an empty dictionary (nobody locked out) or one
lookup; buckets are touched only on failures. IPv6 addresses count per /64
network, since one host usually holds a whole /64. The tables are bounded
(``max_addresses``): full buckets are forgotten first, then the least recently
failed ones, so many addresses cannot grow memory without bound.

Each worker counts in its memory, and the runtime also counts every failure in
one bucket per address group in the catalog (``hec:`` rows of
``login_failures``, as the OAuth2 limits do), shared by the workers: a worker
whose failure empties the shared bucket locks the address at once, and every
worker picks up the catalog's locked addresses twice a second (:meth:`lock`).
So N workers do not multiply the allowance. Keys carry 122 random bits: the
limit is about the cost and noise of guessing, not about the odds of a guess.
"""

from __future__ import annotations

import ipaddress

MAX_ADDRESSES = 65536


def address_group(address: str) -> str:
    """The unit that is limited: the address itself, or its /64 network for IPv6."""
    if ":" not in address:
        return address
    try:
        ip = ipaddress.IPv6Address(address)
    except ValueError:
        return address
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))


class Lockout:
    """Failed-check buckets per address group, and the groups locked out now."""

    def __init__(self, limit: int, window: float, max_addresses: int = MAX_ADDRESSES) -> None:
        self.limit = float(limit)
        self.rate = limit / window if window > 0 else 0.0
        self.max_addresses = max_addresses
        self._buckets: dict[str, tuple[float, float]] = {}  # group -> (tokens, stamp)
        self._locked: dict[str, float] = {}  # group -> locked until (monotonic seconds)

    def wait(self, address: str, now: float) -> float:
        """Seconds the address stays locked out (0: it may try)."""
        if not self._locked:
            return 0.0
        group = address_group(address)
        until = self._locked.get(group)
        if until is None:
            return 0.0
        if until <= now:
            del self._locked[group]
            return 0.0
        return until - now

    def failed(self, address: str, now: float) -> bool:
        """Count a failed check; True when it locks the address out."""
        if self.limit <= 0:
            return False
        group = address_group(address)
        tokens, stamp = self._buckets.pop(group, (self.limit, now))
        tokens = min(self.limit, tokens + (now - stamp) * self.rate) - 1.0
        self._buckets[group] = (tokens, now)  # re-inserted: the dict is in order of last failure
        if tokens >= 1.0:
            locked = False
        else:
            self._locked[group] = now + (1.0 - tokens) / self.rate
            locked = True
        if len(self._buckets) > self.max_addresses or len(self._locked) > self.max_addresses:
            self._forget(now)
        return locked

    def _forget(self, now: float) -> None:
        """Drop full buckets and ended lockouts; then the oldest of each, down to half the bound."""
        self._buckets = {
            group: (tokens, stamp)
            for group, (tokens, stamp) in self._buckets.items()
            if tokens + (now - stamp) * self.rate < self.limit
        }
        self._locked = {group: until for group, until in self._locked.items() if until > now}
        for table in (self._buckets, self._locked):
            excess = len(table) - self.max_addresses // 2
            if excess > 0:
                for group in list(table)[:excess]:
                    del table[group]

    def lock(self, group: str, until: float) -> None:
        """Lock ``group`` out until ``until`` (another worker's count said so)."""
        if until > self._locked.get(group, 0.0):
            self._locked[group] = until
        if len(self._locked) > self.max_addresses:
            self._forget(until)

    def __len__(self) -> int:
        return len(self._buckets)
