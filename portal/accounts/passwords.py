"""Which argon2 parameters this app hashes with: the defaults, or a cheaper test profile.

Production and development always use `portal.accounts.hashing` (argon2-cffi defaults, RFC 9106
low-memory profile: m = 65536 KiB, t = 3, p = 4). The test suite sets
`app.config["PASSWORD_HASHER"]` to a dict of cheaper `argon2.PasswordHasher` parameters so that
it stays fast; a production app refuses such a profile if it is weaker than the defaults.
Verification reads the parameters from each stored hash, so hashes made under one profile
verify under the other and are rehashed at the next login (SEC-AUT-3f).
"""

from __future__ import annotations

import secrets
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask

from portal.accounts import hashing
from portal.accounts.password_policy import MAX_LENGTH, normalise

CONFIG_KEY = "PASSWORD_HASHER"
#: argon2-cffi's defaults, which production must not go below
DEFAULT_PARAMETERS = {"time_cost": 3, "memory_cost": 65536, "parallelism": 4}


class Hasher:
    """Hash and verify passwords and recovery codes with one parameter profile."""

    def __init__(self, parameters: dict[str, int] | None) -> None:
        self.parameters = parameters
        self._argon2 = PasswordHasher(**parameters) if parameters else None
        self._dummy: str | None = None

    def hash(self, secret: str) -> str:
        """Return the argon2id hash of the NFC-normalised secret."""
        if self._argon2 is None:
            return hashing.hash_password(secret)
        return self._argon2.hash(normalise(secret))

    def verify(self, stored: str, secret: str) -> bool:
        """Tell whether `secret` matches `stored`; never raises on a mismatch or a bad hash."""
        if self._argon2 is None:
            return hashing.verify_password(stored, secret)
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
            return hashing.needs_rehash(stored)
        try:
            return self._argon2.check_needs_rehash(stored)
        except (InvalidHashError, ValueError, TypeError):
            return True

    def verify_dummy(self, secret: str) -> bool:
        """Spend one verification on a dummy hash (unknown logins) and return False."""
        if self._argon2 is None:
            return hashing.verify_dummy(secret)
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
