"""Password hashing with argon2id (CNIL 2022-100 storage, SEC-AUT-3f).

argon2-cffi's ``PasswordHasher()`` defaults are the RFC 9106 low-memory profile: argon2id,
m = 65536 KiB, t = 3, p = 4, 16-byte salt, 32-byte tag. Passwords are NFC-normalised with
``password_policy.normalise`` before hashing and verifying, so the same text typed on two
systems that compose accents differently still matches (SEC-AUT-3c).
"""

from __future__ import annotations

import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from portal.accounts.password_policy import MAX_LENGTH, normalise

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """Return the argon2id PHC string of the NFC-normalised password."""
    normalised = normalise(password)
    if len(normalised) > MAX_LENGTH:
        # verify_password refuses such input, so the hash could never be used (SEC-AUT-3b).
        raise ValueError(f"passwords are limited to {MAX_LENGTH} characters")
    return _hasher.hash(normalised)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Tell whether ``password`` matches ``password_hash``; never raises on mismatch or bad hash."""
    if not isinstance(password_hash, str) or len(normalise(password)) > MAX_LENGTH:
        # No usable hash (account without password), or a password that was never accepted:
        # spend the same time as a real check so that neither case shows in the response time.
        _burn(password)
        return False
    try:
        return _hasher.verify(password_hash, normalise(password))
    except (VerificationError, InvalidHashError, ValueError):
        # VerifyMismatchError is a VerificationError; a corrupt or foreign hash is a mismatch.
        return False


def needs_rehash(password_hash: str | None) -> bool:
    """Tell whether the hash uses other parameters than the current ones (or is unreadable)."""
    if not isinstance(password_hash, str):
        return True
    try:
        return _hasher.check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return True


@cache
def dummy_hash() -> str:
    """Return a hash of a random secret, computed once, for verifications of unknown logins."""
    return _hasher.hash(secrets.token_urlsafe(32))


def verify_dummy(password: str) -> bool:
    """Run one verification against ``DUMMY_HASH`` and return False (timing of unknown logins)."""
    _burn(password)
    return False


def _burn(password: str) -> None:
    """Spend one argon2 verification on the dummy hash."""
    try:
        # Truncated only to bound the work on absurd input; the result is discarded anyway.
        _hasher.verify(dummy_hash(), normalise(password)[:MAX_LENGTH])
    except VerificationError:
        pass


def __getattr__(name: str) -> str:
    """Compute ``DUMMY_HASH`` lazily on first access (PEP 562), so imports stay cheap."""
    if name == "DUMMY_HASH":
        return dummy_hash()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
