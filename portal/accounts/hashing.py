"""Password hashing with argon2id (CNIL 2022-100 storage, SEC-AUT-3f).

argon2-cffi's ``PasswordHasher()`` defaults are the RFC 9106 low-memory profile: argon2id,
m = 65536 KiB, t = 3, p = 4, 16-byte salt, 32-byte tag. Passwords are NFC-normalised with
``password_policy.normalise`` before hashing and verifying, so the same text typed on two
systems that compose accents differently still matches (SEC-AUT-3c).

Production and development always hash with those defaults. The test suite sets
`app.config["PASSWORD_HASHER"]` to a dict of cheaper `argon2.PasswordHasher` parameters so that
it stays fast (`hasher(app)` returns the `Hasher` of the app's profile); a production app
refuses such a profile if it is weaker than the defaults. Verification reads the parameters
from each stored hash, so hashes made under one profile verify under the other and are
rehashed at the next login (SEC-AUT-3f).
"""

from __future__ import annotations

import secrets
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask

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



# --- the app's hashing profile ------------------------------------------------------------------

CONFIG_KEY = "PASSWORD_HASHER"
#: argon2-cffi's defaults, which production must not go below
DEFAULT_PARAMETERS = {"time_cost": 3, "memory_cost": 65536, "parallelism": 4}


class Hasher:
    """Hash and verify passwords and recovery codes with one parameter profile."""

    def __init__(self, parameters: dict[str, Any] | None) -> None:
        self.parameters = parameters
        self._argon2 = PasswordHasher(**parameters) if parameters else None
        self._dummy: str | None = None

    def hash(self, secret: str) -> str:
        """Return the argon2id hash of the NFC-normalised secret."""
        if self._argon2 is None:
            return hash_password(secret)
        return self._argon2.hash(normalise(secret))

    def verify(self, stored: str, secret: str) -> bool:
        """Tell whether `secret` matches `stored`; never raises on a mismatch or a bad hash."""
        if self._argon2 is None:
            return verify_password(stored, secret)
        if len(normalise(secret)) > MAX_LENGTH:
            self.verify_dummy(secret[:MAX_LENGTH])
            return False
        try:
            return self._argon2.verify(stored, normalise(secret))
        except (VerificationError, InvalidHashError, TypeError, ValueError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        """Tell whether `stored` was made with other parameters than this profile's."""
        if self._argon2 is None:
            return needs_rehash(stored)
        try:
            return self._argon2.check_needs_rehash(stored)
        except (InvalidHashError, ValueError, TypeError):
            return True

    def verify_dummy(self, secret: str) -> bool:
        """Spend one verification on a dummy hash (unknown logins) and return False."""
        if self._argon2 is None:
            return verify_dummy(secret)
        if self._dummy is None:
            self._dummy = self._argon2.hash(secrets.token_urlsafe(32))
        try:
            self._argon2.verify(self._dummy, normalise(secret[:MAX_LENGTH]))
        except VerificationError:
            pass
        return False


@cache
def _hasher_for(parameters: tuple[tuple[str, int], ...] | None) -> Hasher:
    return Hasher(dict(parameters) if parameters else None)


def hasher(app: Flask) -> Hasher:
    """Return the hasher of `app`'s configured profile (the defaults when none is set)."""
    parameters: dict[str, Any] | None = app.config.get(CONFIG_KEY)
    return _hasher_for(tuple(sorted(parameters.items())) if parameters else None)


def check_profile(app: Flask) -> None:
    """Refuse, in production, a hashing profile weaker than argon2-cffi's defaults."""
    parameters = app.config.get(CONFIG_KEY)
    if not parameters or app.config["ENV"] != "production":
        return
    for name, minimum in DEFAULT_PARAMETERS.items():
        if int(parameters.get(name, minimum)) < minimum:
            from portal.config import ConfigError

            raise ConfigError(
                f"PASSWORD_HASHER {name}={parameters[name]} is below the argon2 default "
                f"{minimum}: production keeps the default password hashing parameters."
            )


def __getattr__(name: str) -> str:
    """Compute ``DUMMY_HASH`` lazily on first access (PEP 562), so imports stay cheap."""
    if name == "DUMMY_HASH":
        return dummy_hash()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
