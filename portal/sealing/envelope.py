"""AES-256-GCM sealing and envelope encryption (SEC-CRY-1).

Every ciphertext carries a random 96-bit nonce and is bound by its associated data to where it
is stored, so a ciphertext copied to another row or column fails authentication. A sealed value
gets a fresh random 256-bit data key, wrapped under the current key-encryption key of the key
file and bound to the same place (`wrap_context`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from portal.keys import KeyRing

NONCE_BYTES = 12
#: the GCM tag; a ciphertext shorter than nonce + tag was never produced by `seal`
TAG_BYTES = 16


class IntegrityCheckFailed(Exception):
    """A ciphertext failed authentication: it was altered, moved, or sealed under another key."""


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """Encrypt and authenticate `plaintext`; returns nonce || ciphertext || tag."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    """Decrypt what `seal` produced with the same key and associated data."""
    return open_with(AESGCM(key), sealed, aad)


def open_with(cipher: AESGCM, sealed: bytes, aad: bytes) -> bytes:
    """`open_` with a cipher object already built (bulk opening keeps one per KEK)."""
    if len(sealed) < NONCE_BYTES + TAG_BYTES:
        raise IntegrityCheckFailed("ciphertext too short")
    try:
        return cipher.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
    except InvalidTag:
        raise IntegrityCheckFailed("ciphertext failed authentication") from None


@dataclass(frozen=True)
class WrappedKey:
    """A data key wrapped under a key-encryption key of a given version."""

    kek_version: int
    wrapped: bytes


def wrap_context_prefix(kek_version: int) -> bytes:
    """The associated-data prefix put before a wrapped key's context (binds the KEK version)."""
    return b"aac-portal/dek/v%d/" % kek_version


def wrap_context(kek_version: int, context: bytes) -> bytes:
    """The associated data of a data key wrapped by KEK `kek_version` for `context`."""
    return wrap_context_prefix(kek_version) + context


def new_data_key() -> bytes:
    """Return a fresh random 256-bit data key."""
    return os.urandom(32)


def wrap_data_key(ring: KeyRing, dek: bytes, context: bytes) -> WrappedKey:
    """Wrap `dek` under the current KEK, bound to `context` (the row it belongs to)."""
    version, kek = ring.kek()
    return WrappedKey(version, seal(kek, dek, wrap_context(version, context)))


def unwrap_data_key(ring: KeyRing, wrapped: WrappedKey, context: bytes) -> bytes:
    """Unwrap a data key; fails when the KEK, the wrapped bytes or the context differ."""
    version, kek = ring.kek(wrapped.kek_version)
    return open_(kek, wrapped.wrapped, wrap_context(version, context))


def rewrap_data_key(ring: KeyRing, wrapped: WrappedKey, context: bytes) -> WrappedKey:
    """Re-wrap a data key under the current KEK without touching the data it protects."""
    return wrap_data_key(ring, unwrap_data_key(ring, wrapped, context), context)


# --- sealed JSON values --------------------------------------------------------------------------


@dataclass(frozen=True)
class Sealed:
    """A sealed value as stored: ciphertext, wrapped data key and the KEK version."""

    payload: bytes
    wrapped_key: bytes
    kek_version: int


def canonical_json(value: Any) -> bytes:
    """Serialise `value` as canonical JSON (sorted keys, no spaces, UTF-8)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def seal_value(ring: KeyRing, aad: bytes, value: Any) -> Sealed:
    """Seal a JSON-ready value under a fresh data key wrapped by the current KEK."""
    dek = new_data_key()
    wrapped = wrap_data_key(ring, dek, aad)
    return Sealed(seal(dek, canonical_json(value), aad), wrapped.wrapped, wrapped.kek_version)


def open_value(ring: KeyRing, aad: bytes, payload: bytes, wrapped_key: bytes,
               kek_version: int) -> Any:
    """Open what `seal_value` produced with the same AAD.

    :raises IntegrityCheckFailed: the ciphertext, its key or its place was altered.
    :raises KeyFileError: the key file lacks the KEK version the row was wrapped with.
    """
    dek = unwrap_data_key(ring, WrappedKey(kek_version, wrapped_key), aad)
    return parse_opened(open_(dek, payload, aad))


def parse_opened(plaintext: bytes) -> Any:
    """The JSON value of an opened payload."""
    try:
        return json.loads(plaintext)
    except ValueError:
        # Authenticated but not JSON: never written by the portal; treat it as tampering.
        raise IntegrityCheckFailed("sealed value is not JSON") from None
