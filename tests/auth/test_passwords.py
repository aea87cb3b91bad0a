"""Console passwords: length bounds, argon2id with OWASP's minimum parameters, and checks that
fail closed."""

from __future__ import annotations

import pytest

from lakehose.auth.passwords import check_strength, hash_password, verify


@pytest.mark.parametrize("password", ["12345678", "x" * 1024, "correct horse"])
def test_acceptable_passwords(password: str) -> None:
    assert check_strength(password) == password


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("1234567", "a password needs at least 8 characters"),
        ("", "a password needs at least 8 characters"),
        ("x" * 1025, "a password has at most 1024 characters"),
    ],
)
def test_refused_passwords(password: str, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        check_strength(password)
    assert str(caught.value) == reason
    with pytest.raises(ValueError):
        hash_password(password)


def test_the_hash_is_argon2id_with_19_mib_2_passes_1_lane() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert hash_password("correct horse") != stored  # salted
    assert verify(stored, "correct horse") is True
    assert verify(stored, "correct horsE") is False
    assert verify(stored, "correct horse" + "x" * 1020) is False  # over the bound: not checked


@pytest.mark.parametrize("stored", [None, "", "not a hash", "$argon2id$v=19$m=19456,t=2,p=1$x$y"])
def test_a_missing_or_broken_hash_never_matches(stored: str | None) -> None:
    assert verify(stored, "lakehose: no such user") is False
    assert verify(stored, "correct horse") is False


def test_a_password_of_the_longest_length_verifies() -> None:
    longest = "x" * 1024
    assert verify(hash_password(longest), longest) is True
