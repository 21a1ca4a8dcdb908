"""TOTP and recovery codes (SEC-AUT-2c, 2d, 2f)."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlparse

import pyotp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.accounts.totp_codes import (
    format_recovery_code,
    matching_step,
    new_recovery_codes,
    new_secret,
    normalise_recovery_code,
    provisioning_uri,
    time_step,
)

# RFC 6238 appendix B: ASCII key "12345678901234567890" (SHA-1).
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
AT = datetime(2026, 3, 2, 8, 0, 10, tzinfo=UTC)


def code_for(secret: str, step: int) -> str:
    return pyotp.TOTP(secret).generate_otp(step)


def test_new_secret_is_160_bits_of_base32() -> None:
    secret = new_secret()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert len(base64.b32decode(secret)) == 20
    assert len({new_secret() for _ in range(20)}) == 20


def test_provisioning_uri_carries_secret_issuer_and_rfc_defaults() -> None:
    secret = new_secret()
    uri = provisioning_uri(secret, "alice@chu-exemple.fr", "AAC Portal")
    parsed = urlparse(uri)
    assert parsed.scheme == "otpauth" and parsed.netloc == "totp"
    assert unquote(parsed.path) == "/AAC Portal:alice@chu-exemple.fr"
    query = parse_qs(parsed.query)
    assert query["secret"] == [secret]
    assert query["issuer"] == ["AAC Portal"]
    totp = pyotp.parse_uri(uri)
    assert (totp.digits, totp.interval, totp.secret) == (6, 30, secret)
    assert totp.digest().name == "sha1"


@pytest.mark.parametrize(
    ("unix_time", "code"),
    [(59, "287082"), (1111111109, "081804"), (1234567890, "005924"), (2000000000, "279037")],
)
def test_rfc6238_vectors_truncated_to_6_digits(unix_time: int, code: str) -> None:
    at = datetime.fromtimestamp(unix_time, tz=UTC)
    assert matching_step(RFC_SECRET, code, at) == unix_time // 30


def test_only_steps_t_and_t_minus_1_are_accepted() -> None:
    secret = new_secret()
    step = time_step(AT)
    assert matching_step(secret, code_for(secret, step), AT) == step
    assert matching_step(secret, code_for(secret, step - 1), AT) == step - 1
    for refused in (step - 2, step + 1, step + 2):
        code = code_for(secret, refused)
        if code not in (code_for(secret, step), code_for(secret, step - 1)):
            assert matching_step(secret, code, AT) is None


def test_step_boundaries() -> None:
    secret = new_secret()
    start = datetime.fromtimestamp(time_step(AT) * 30, tz=UTC)
    code = code_for(secret, time_step(start))
    # Valid during its own 30 s and the next 30 s, not after.
    assert matching_step(secret, code, start) is not None
    assert matching_step(secret, code, start + timedelta(seconds=59)) is not None
    later = matching_step(secret, code, start + timedelta(seconds=60))
    assert later is None or code == code_for(secret, time_step(start) + 2)


@pytest.mark.parametrize(
    "spaced",
    [
        lambda c: f" {c}",
        lambda c: f"{c} ",
        lambda c: f"{c}\n",
        lambda c: f"{c[:3]} {c[3:]}",
        lambda c: f"\t{c[:2]} {c[2:4]}\u00a0{c[4:]}",
    ],
)
def test_whitespace_is_ignored(spaced) -> None:
    secret = new_secret()
    code = code_for(secret, time_step(AT))
    assert matching_step(secret, spaced(code), AT) == time_step(AT)


def test_first_step_of_the_epoch_has_no_previous_step() -> None:
    epoch = datetime.fromtimestamp(0, tz=UTC)
    assert matching_step(RFC_SECRET, code_for(RFC_SECRET, 0), epoch) == 0


def test_only_six_ascii_digits_are_accepted() -> None:
    secret = new_secret()
    code = code_for(secret, time_step(AT))
    for bad in (
        code[:5],
        code + "0",
        "abcdef",
        "",
        code.replace(code[0], "a", 1),
        "".join(chr(ord(c) + 0xFEE0) for c in code),  # Full-width digits.
        f"{code[:3]}-{code[3:]}",
    ):
        assert matching_step(secret, bad, AT) is None


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError):
        matching_step(new_secret(), "123456", datetime(2026, 3, 2, 8, 0))


@settings(max_examples=200)
@given(
    st.integers(min_value=300, max_value=4_000_000_000),
    st.integers(min_value=-5, max_value=5),
)
def test_acceptance_window_property(unix_time: int, offset: int) -> None:
    at = datetime.fromtimestamp(unix_time, tz=UTC)
    step = time_step(at)
    code = code_for(RFC_SECRET, step + offset)
    result = matching_step(RFC_SECRET, code, at)
    if offset == 0:
        assert result == step
    elif offset == -1:
        # Equal codes for T and T-1 are possible (1 in a million): T wins then.
        assert result in (step - 1, step)
    elif code not in (code_for(RFC_SECRET, step), code_for(RFC_SECRET, step - 1)):
        assert result is None


# --- Recovery codes ---------------------------------------------------------------------------


def test_recovery_codes_are_8_unique_64_bit_codes() -> None:
    codes = new_recovery_codes()
    assert len(codes) == 8
    assert len(set(codes)) == 8
    for code in codes:
        assert re.fullmatch(r"[0-9a-f]{4}(-[0-9a-f]{4}){3}", code)
        assert len(bytes.fromhex(normalise_recovery_code(code))) == 8


def test_recovery_code_count_is_configurable() -> None:
    assert len(new_recovery_codes(10)) == 10
    with pytest.raises(ValueError):
        new_recovery_codes(0)


@pytest.mark.parametrize(
    "typed",
    [
        "abcd-ef01-2345-6789",
        "ABCD-EF01-2345-6789",
        "abcdef0123456789",
        " abcd ef01 2345 6789 ",
        "ABCD EF01-2345 6789",
    ],
)
def test_recovery_code_normalisation(typed: str) -> None:
    assert normalise_recovery_code(typed) == "abcdef0123456789"


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "abcd-ef01-2345-678",
        "abcd-ef01-2345-67890",
        "abcd-ef01-2345-678g",
        "abcd_ef01_2345_6789",
    ],
)
def test_malformed_recovery_codes(typed: str) -> None:
    assert normalise_recovery_code(typed) is None


@given(st.binary(min_size=8, max_size=8))
def test_recovery_code_round_trip(raw: bytes) -> None:
    canonical = raw.hex()
    shown = format_recovery_code(canonical)
    assert normalise_recovery_code(shown) == canonical
    assert normalise_recovery_code(shown.upper()) == canonical
