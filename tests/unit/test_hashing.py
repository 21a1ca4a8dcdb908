"""argon2id password hashing (SEC-AUT-3b, 3c, 3f, 3i)."""

from __future__ import annotations

import re

import pytest
from argon2 import PasswordHasher

from portal.accounts import hashing
from portal.accounts.hashing import (
    dummy_hash,
    hash_password,
    needs_rehash,
    verify_dummy,
    verify_password,
)

PASSWORD = "Tq7!vLm#2xRp"
PHC = re.compile(
    r"^\$argon2id\$v=19\$m=(?P<m>\d+),t=(?P<t>\d+),p=(?P<p>\d+)\$(?P<salt>[A-Za-z0-9+/]+)\$(?P<tag>[A-Za-z0-9+/]+)$"
)


@pytest.fixture(scope="module")
def stored() -> str:
    return hash_password(PASSWORD)


def test_hash_uses_argon2id_with_rfc9106_low_memory_parameters(stored: str) -> None:
    match = PHC.match(stored)
    assert match, stored
    assert int(match["m"]) >= 65536
    assert int(match["t"]) >= 3
    assert int(match["p"]) == 4
    # Unpadded base64: 16-byte salt is 22 characters, 32-byte tag is 43.
    assert len(match["salt"]) == 22
    assert len(match["tag"]) == 43


def test_same_password_gives_different_hashes(stored: str) -> None:
    assert hash_password(PASSWORD) != stored


def test_verify_accepts_the_password_and_refuses_others(stored: str) -> None:
    assert verify_password(stored, PASSWORD) is True
    assert verify_password(stored, PASSWORD[:-1]) is False
    assert verify_password(stored, PASSWORD + " ") is False  # Never stripped.
    assert verify_password(stored, PASSWORD.swapcase()) is False  # Never case-folded.
    assert verify_password(stored, "") is False


@pytest.mark.parametrize(
    "bad_hash",
    [
        "",
        "not a hash",
        "$argon2id$v=19$m=65536,t=3,p=4$xx$yy",
        "$2b$12$C6UzMDM.H6dfI/f/IKcEeO5wT7J0lbIr9I8q1Zcp3sW8YAbqR5Kbe",
    ],
)
def test_verify_never_raises_on_invalid_hashes(bad_hash: str) -> None:
    assert verify_password(bad_hash, PASSWORD) is False


def test_missing_hash_is_a_mismatch_that_still_costs_one_verification(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spy = _SpyHasher()
    monkeypatch.setattr(hashing, "_hasher", spy)
    assert verify_password(None, PASSWORD) is False
    assert spy.verified == [dummy_hash()]
    assert needs_rehash(None) is True


def test_verify_applies_the_same_nfc_normalisation() -> None:
    composed = "Été à l'hôpital 2026 ok"
    decomposed = "E\u0301te\u0301 a\u0300 l'ho\u0302pital 2026 ok"
    assert verify_password(hash_password(composed), decomposed) is True
    assert verify_password(hash_password(decomposed), composed) is True


def test_128_characters_round_trip_and_the_last_one_counts() -> None:
    long_password = ("Tq7!vLm#2xRp" * 11)[:128]
    stored = hash_password(long_password)
    assert verify_password(stored, long_password) is True
    assert verify_password(stored, long_password[:-1] + "Z") is False


def test_over_128_characters_are_neither_hashed_nor_verified(stored: str) -> None:
    too_long = "a" * 129
    with pytest.raises(ValueError):
        hash_password(too_long)
    # A longer input never matches, even if it starts with the right password (no truncation).
    assert verify_password(stored, PASSWORD + "x" * 200) is False


def test_needs_rehash_after_a_parameter_change(stored: str) -> None:
    assert needs_rehash(stored) is False
    weaker = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    assert needs_rehash(weaker) is True
    assert verify_password(weaker, PASSWORD) is True  # Old hashes still verify, then get rehashed.
    assert needs_rehash("garbage") is True


def test_dummy_hash_is_computed_once_and_is_argon2id() -> None:
    first = hashing.DUMMY_HASH
    assert PHC.match(first)
    assert hashing.DUMMY_HASH == first
    assert dummy_hash() == first
    assert dummy_hash.cache_info().currsize == 1


def test_unknown_module_attribute_raises() -> None:
    with pytest.raises(AttributeError):
        _ = hashing.NOT_AN_ATTRIBUTE


class _SpyHasher:
    """Counts verifications while delegating to a real hasher."""

    def __init__(self) -> None:
        self.real = PasswordHasher()
        self.verified: list[str] = []

    def hash(self, password: str) -> str:
        return self.real.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        self.verified.append(password_hash)
        return self.real.verify(password_hash, password)


def test_unknown_login_runs_one_real_verification(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = _SpyHasher()
    monkeypatch.setattr(hashing, "_hasher", spy)
    assert verify_dummy(PASSWORD) is False
    assert spy.verified == [dummy_hash()]


def test_over_long_password_still_costs_one_verification(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = _SpyHasher()
    monkeypatch.setattr(hashing, "_hasher", spy)
    assert verify_password("$argon2id$whatever", "x" * 500) is False
    assert spy.verified == [dummy_hash()]
