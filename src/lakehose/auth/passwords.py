"""Console passwords: argon2id hashes (memory-hard), because people choose guessable passwords.

API keys and client secrets are random and hashed with SHA-256 (``secrets.py``);
a password is not random, so it gets a slow, memory-hard hash that makes each
guess against a stolen catalog expensive. The parameters are OWASP's recommended
minimum for argon2id (19 MiB, 2 passes, one lane): measured here at about 25 ms of
CPU a check, against 210 ms (and four threads) for argon2-cffi's default 64 MiB
profile, which made every sign-in wait most of a second on a busy two-core machine.
Stored hashes carry their parameters, so raising them later keeps old ones valid.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
MIN_LENGTH = 8
MAX_LENGTH = 1024
# checked when the user is unknown, so an unknown name costs as much time as a known one
_DUMMY = _HASHER.hash("lakehose: no such user")


def check_strength(password: str) -> str:
    """The password if it is acceptable; raises ValueError with the reason."""
    if len(password) < MIN_LENGTH:
        raise ValueError(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise ValueError(f"a password has at most {MAX_LENGTH} characters")
    return password


def hash_password(password: str) -> str:
    return _HASHER.hash(check_strength(password))


def verify(stored: str | None, password: str) -> bool:
    """True if ``password`` matches the stored hash; with no hash, spends the same time."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _HASHER.verify(stored or _DUMMY, password) and bool(stored)  # "" is no hash
    except (VerificationError, InvalidHashError):
        return False
