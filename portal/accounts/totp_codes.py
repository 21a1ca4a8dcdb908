"""Pure TOTP and recovery-code helpers (SEC-AUT-2c, 2d, 2f) on pyotp.

TOTP: RFC 6238 defaults for authenticator compatibility (6 digits, 30 s, HMAC-SHA-1) and a
160-bit secret from a CSPRNG. Accepted steps are T and T-1 only (one step of network delay,
RFC 6238 section 5.2). ``matching_step`` returns the step so that the caller can refuse
replays by storing the last used step and updating it atomically
(``UPDATE ... WHERE last_totp_step < :step``, SEC-AUT-2e).

Recovery codes: 8 codes of 64 bits (warehouse pattern), shown once as xxxx-xxxx-xxxx-xxxx
and stored by the caller as argon2 hashes of their normalised form (SEC-AUT-2f).
"""

from __future__ import annotations

import hmac
import re
import secrets
from datetime import datetime

import pyotp

DIGITS = 6
PERIOD_SECONDS = 30
SECRET_BITS = 160
RECOVERY_CODE_COUNT = 8
RECOVERY_CODE_BYTES = 8  # 64 bits (ASVS 6.5.2 then requires hashing them: done by the caller).

_SECRET_BASE32_CHARS = SECRET_BITS // 5
_WHITESPACE = re.compile(r"\s+")
_CODE = re.compile(rf"[0-9]{{{DIGITS}}}")
_RECOVERY_SEPARATORS = re.compile(r"[\s\-]+")
_RECOVERY = re.compile(rf"[0-9a-f]{{{2 * RECOVERY_CODE_BYTES}}}")


def new_secret() -> str:
    """Return a new base32 TOTP secret of 160 bits from the system CSPRNG."""
    return pyotp.random_base32(length=_SECRET_BASE32_CHARS)


def provisioning_uri(secret: str, login: str, issuer: str) -> str:
    """Return the otpauth:// URI to show as a QR code at enrolment."""
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD_SECONDS)
    return totp.provisioning_uri(name=login, issuer_name=issuer)


def time_step(at: datetime) -> int:
    """Return the RFC 6238 time step T containing ``at`` (timezone-aware)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("datetimes must be timezone-aware (UTC)")
    return int(at.timestamp()) // PERIOD_SECONDS


def matching_step(secret: str, code: str, at: datetime) -> int | None:
    """Return the step (T or T-1) whose code equals ``code``, or None; whitespace is ignored."""
    step = time_step(at)
    candidate = _WHITESPACE.sub("", code)
    if not _CODE.fullmatch(candidate):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD_SECONDS)
    matched = None
    # Compare against both steps in constant time; T wins if both codes happen to be equal.
    for candidate_step in (step - 1, step):
        if candidate_step < 0:
            continue  # Only at the Unix epoch: there is no step before the first one.
        if hmac.compare_digest(totp.generate_otp(candidate_step), candidate):
            matched = candidate_step
    return matched


def new_recovery_codes(n: int = RECOVERY_CODE_COUNT) -> list[str]:
    """Return ``n`` new recovery codes of 64 bits each, formatted xxxx-xxxx-xxxx-xxxx."""
    if n < 1:
        raise ValueError("n must be >= 1")
    return [format_recovery_code(secrets.token_hex(RECOVERY_CODE_BYTES)) for _ in range(n)]


def format_recovery_code(normalised: str) -> str:
    """Return the display form xxxx-xxxx-xxxx-xxxx of a normalised recovery code."""
    return "-".join(normalised[i : i + 4] for i in range(0, len(normalised), 4))


def normalise_recovery_code(code: str) -> str | None:
    """Return the canonical form (16 lower-case hex digits) of a typed code, or None if malformed.

    Spaces and hyphens are ignored and case does not matter: "ABCD EF01-2345 6789" gives
    "abcdef0123456789". Anything but exactly 16 hexadecimal digits is malformed.
    """
    candidate = _RECOVERY_SEPARATORS.sub("", code).lower()
    return candidate if _RECOVERY.fullmatch(candidate) else None
