"""Secrets: their shapes, the digest they are stored as, the constant-time check, hints and masks."""

from __future__ import annotations

import hashlib
import re
import uuid

import pytest

from lakehose.auth.secrets import digest, hint, mask, matches, new_api_key, new_id, new_secret


def test_an_api_key_is_a_random_uuid4() -> None:
    key = new_api_key()
    assert str(uuid.UUID(key)) == key and uuid.UUID(key).version == 4
    assert new_api_key() != key


@pytest.mark.parametrize(("nbytes", "length"), [(30, 40), (16, 22), (1, 2)])
def test_a_secret_is_nbytes_of_url_safe_base64(nbytes: int, length: int) -> None:
    secret = new_secret(nbytes)
    assert len(secret) == length and re.fullmatch(r"[A-Za-z0-9_-]+", secret)
    assert new_secret(nbytes) != secret or nbytes == 1


def test_the_default_secret_carries_240_bits_and_an_id_128() -> None:
    assert len(new_secret()) == 40
    ident = new_id()
    assert re.fullmatch(r"[0-9a-f]{32}", ident) and new_id() != ident
    assert re.fullmatch(r"[0-9a-f]{8}", new_id(4))


def test_the_digest_is_sha256_of_the_utf8_text_even_with_a_lone_surrogate() -> None:
    assert digest("abc") == hashlib.sha256(b"abc").digest()
    assert digest("é") == hashlib.sha256("é".encode()).digest()
    assert digest("a\ud800") == hashlib.sha256(b"a\xed\xa0\x80").digest()


@pytest.mark.parametrize(
    ("secret", "stored", "expected"),
    [
        ("s3cret", "s3cret", True),
        ("s3cret", "s3cres", False),
        ("s3cre", "s3cret", False),
        ("", "", True),
        ("", "x", False),
    ],
)
def test_matches_compares_against_the_stored_digest(
    secret: str, stored: str, expected: bool
) -> None:
    assert matches(secret, digest(stored)) is expected


def test_a_hint_is_the_last_four_characters() -> None:
    assert hint("abcdefgh1234") == "…1234"
    assert hint("xy") == "…xy"


@pytest.mark.parametrize(
    ("text", "secret", "expected"),
    [
        ("key=abcdefgh1234 and abcdefgh1234", "abcdefgh1234", "key=****1234 and ****1234"),
        ("key=abcdefgh", "abcdefgh", "key=****"),  # 8 characters: no hint, it would be half
        ("key=abcdefghi", "abcdefghi", "key=****fghi"),
        ("nothing here", "abcdefgh1234", "nothing here"),
        ("text", None, "text"),
        ("text", "", "text"),
    ],
)
def test_mask_replaces_every_occurrence(text: str, secret: str | None, expected: str) -> None:
    assert mask(text, secret) == expected
