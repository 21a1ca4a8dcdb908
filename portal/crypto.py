"""AES-256-GCM sealing and envelope encryption (SEC-CRY-1).

Every ciphertext carries a random 96-bit nonce and is bound by its associated data to where it
is stored, so a ciphertext copied to another row or column fails authentication.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from portal.keys import KeyRing

NONCE_BYTES = 12


class IntegrityCheckFailed(Exception):
    """A ciphertext failed authentication: it was altered, moved, or sealed under another key."""


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """Encrypt and authenticate `plaintext`; returns nonce || ciphertext || tag."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    """Decrypt what `seal` produced with the same key and associated data."""
    if len(sealed) < NONCE_BYTES + 16:
        raise IntegrityCheckFailed("ciphertext too short")
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
    except InvalidTag:
        raise IntegrityCheckFailed("ciphertext failed authentication") from None


@dataclass(frozen=True)
class WrappedKey:
    """A data key wrapped under a key-encryption key of a given version."""

    kek_version: int
    wrapped: bytes


def _wrap_aad(kek_version: int, context: bytes) -> bytes:
    return b"aac-portal/dek/v%d/" % kek_version + context


def new_data_key() -> bytes:
    """Return a fresh random 256-bit data key."""
    return os.urandom(32)


def wrap_data_key(ring: KeyRing, dek: bytes, context: bytes) -> WrappedKey:
    """Wrap `dek` under the current KEK, bound to `context` (the row it belongs to)."""
    version, kek = ring.kek()
    return WrappedKey(version, seal(kek, dek, _wrap_aad(version, context)))


def unwrap_data_key(ring: KeyRing, wrapped: WrappedKey, context: bytes) -> bytes:
    """Unwrap a data key; fails when the KEK, the wrapped bytes or the context differ."""
    version, kek = ring.kek(wrapped.kek_version)
    return open_(kek, wrapped.wrapped, _wrap_aad(version, context))


def rewrap_data_key(ring: KeyRing, wrapped: WrappedKey, context: bytes) -> WrappedKey:
    """Re-wrap a data key under the current KEK without touching the data it protects."""
    return wrap_data_key(ring, unwrap_data_key(ring, wrapped, context), context)
