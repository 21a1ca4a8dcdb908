"""Sealing records: canonical JSON under a per-record data key, bound to where it is stored.

Each sealed value gets a fresh random 256-bit data key (AES-256-GCM, 96-bit random nonce); the
data key is wrapped by the current key-encryption key. The associated data names the table, the
row's unique key and the protocol it belongs to, and the wrapped key is bound to the same
context, so a ciphertext copied to another row, another patient or another table fails
authentication instead of showing someone else's data.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.orm import Session

from portal.crypto import (
    NONCE_BYTES,
    IntegrityCheckFailed,
    WrappedKey,
    new_data_key,
    open_,
    seal,
    unwrap_data_key,
    wrap_data_key,
)
from portal.db import app_of
from portal.keys import KeyFileError, KeyRing, load_key_file

log = logging.getLogger(__name__)

#: version tag of the associated-data layout; part of every AAD
AAD_PREFIX = b"aac-portal/records/v1"
#: how often a worker looks at the key file's modification time (seconds)
RING_CHECK_INTERVAL = 2.0
_SEPARATOR = b"\x1f"


@dataclass(frozen=True)
class Sealed:
    """A sealed value as stored: ciphertext, wrapped data key and the KEK version."""

    payload: bytes
    wrapped_key: bytes
    kek_version: int


def associated_data(table: str, row_key: str, binding: str) -> bytes:
    """Return the AAD binding a ciphertext to its table, row and protocol."""
    parts = (AAD_PREFIX, table.encode(), row_key.encode(), binding.encode())
    for part in parts[1:]:
        if _SEPARATOR in part:
            raise ValueError("a separator inside an associated-data part")
    return _SEPARATOR.join(parts)


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
    plaintext = open_(dek, payload, aad)
    try:
        return json.loads(plaintext)
    except ValueError:
        # Authenticated but not JSON: never written by the portal; treat it as tampering.
        raise IntegrityCheckFailed("sealed value is not JSON") from None


# --- the key ring, refreshed when the key file changes -----------------------------------------

_ring_lock = threading.Lock()


def ring_of(session: Session, *, force: bool = False) -> KeyRing:
    """Return the app's key ring, reloaded when `portal records rekey` rewrote the key file.

    Workers started before a rotation pick up the new key-encryption key within a few seconds,
    so they wrap new data keys with it and can unwrap keys already re-wrapped.
    """
    app = app_of(session)
    ring: KeyRing = app.extensions["portal.keys"]
    if ring.path is None:
        return ring
    state = app.extensions.setdefault("records.ring_state", {"checked": 0.0, "mtime": None})
    now = time.monotonic()
    if not force and now - state["checked"] < RING_CHECK_INTERVAL:
        return ring
    with _ring_lock:
        state["checked"] = now
        try:
            mtime = os.stat(ring.path).st_mtime_ns
        except OSError:
            return ring
        if state["mtime"] is None and not force:
            state["mtime"] = mtime
            return ring
        if mtime == state["mtime"] and not force:
            return ring
        try:
            fresh = load_key_file(ring.path)
        except KeyFileError as exc:
            log.error("key file changed but cannot be read; keeping the loaded keys: %s", exc)
            return ring
        if fresh.single != ring.single or any(
            ring.keks.get(v, k) != k for v, k in fresh.keks.items()
        ):
            log.error("key file %s changed keys other than adding a KEK; keeping the loaded "
                      "keys", ring.path)
            return ring
        state["mtime"] = mtime
        app.extensions["portal.keys"] = fresh
        return fresh


def open_with_refresh(session: Session, aad: bytes, payload: bytes, wrapped_key: bytes,
                      kek_version: int) -> Any:
    """Open a sealed value, reloading the key file once if the KEK version is unknown."""
    ring = ring_of(session)
    if kek_version not in ring.keks:
        ring = ring_of(session, force=True)
    return open_value(ring, aad, payload, wrapped_key, kek_version)


# --- blind index -------------------------------------------------------------------------------

_BLIND_INFO = b"aac-portal/bidx/patient-duplicate/v1"
_derived: dict[bytes, bytes] = {}


def _blind_key(ring: KeyRing) -> bytes:
    root = ring.key("blind_index")
    key = _derived.get(root)
    if key is None:
        # One derived key per index (SEC-CRY-3a): the root key could serve other indexes.
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_BLIND_INFO).derive(root)
        _derived[root] = key
    return key


def duplicate_index(ring: KeyRing, letters: str, birth_year: int, birth_month: int, sex: str,
                    establishment_id: int) -> str:
    """Return the keyed blind index of a patient's identity in an establishment (hex)."""
    message = f"{letters}|{birth_year:04d}-{birth_month:02d}|{sex}|{establishment_id}".encode()
    return hmac.new(_blind_key(ring), message, hashlib.sha256).hexdigest()


# --- where each record's ciphertext belongs ------------------------------------------------------


def patient_aad(handle: str, protocol_key: str) -> bytes:
    """Return the AAD of a patient's sealed identity."""
    return associated_data("patient", handle, protocol_key)


def revision_aad(submission_handle: str, number: int, kind: str, patient_handle: str,
                 protocol_key: str, content_hash: str, form_key: str) -> bytes:
    """Return the AAD of a submission revision: row, patient, form and protocol version.

    The revision kind is bound too: a draft holds raw inputs, the others validated answers,
    and a row relabelled in SQL must not be read as the other kind.
    """
    return associated_data(
        "submission_revision",
        f"{submission_handle}#{number}#{kind}",
        f"{protocol_key}@{content_hash}|{form_key}|{patient_handle}",
    )


# --- opening many values (exports) ----------------------------------------------------------------


class BulkOpener:
    """Open many sealed values with one key ring, keeping a cipher object per KEK version.

    The same operations as `open_value` (unwrap the data key under the KEK, then decrypt), with
    the KEK's AES-GCM object built once instead of per row; `tests/records/test_crypto.py`
    checks it agrees with `portal.crypto` byte for byte.
    """

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring
        self._keks: dict[int, tuple[AESGCM, bytes]] = {}

    def _kek(self, version: int) -> tuple[AESGCM, bytes]:
        found = self._keks.get(version)
        if found is None:
            _version, key = self.ring.kek(version)
            found = self._keks[version] = (AESGCM(key), wrap_context_prefix(version))
        return found

    def open(self, aad: bytes, payload: bytes, wrapped_key: bytes, kek_version: int) -> bytes:
        """Return the plaintext; raise IntegrityCheckFailed when anything was altered."""
        cipher, prefix = self._kek(kek_version)
        if len(wrapped_key) < NONCE_BYTES + 16 or len(payload) < NONCE_BYTES + 16:
            raise IntegrityCheckFailed("ciphertext too short")
        try:
            dek = cipher.decrypt(wrapped_key[:NONCE_BYTES], wrapped_key[NONCE_BYTES:],
                                 prefix + aad)
            return AESGCM(dek).decrypt(payload[:NONCE_BYTES], payload[NONCE_BYTES:], aad)
        except InvalidTag:
            raise IntegrityCheckFailed("ciphertext failed authentication") from None


def wrap_context_prefix(kek_version: int) -> bytes:
    """The associated-data prefix `portal.crypto` puts before a wrapped key's context."""
    return b"aac-portal/dek/v%d/" % kek_version


def revision_aad_maker(protocol_key: str, content_hash: str, form_key: str) -> Any:
    """Return a fast `revision_aad` for many revisions of one form of one protocol version."""
    head = _SEPARATOR.join((AAD_PREFIX, b"submission_revision")) + _SEPARATOR
    tail = f"{protocol_key}@{content_hash}|{form_key}|".encode()

    def make(submission_handle: str, number: int, kind: str, patient_handle: str) -> bytes:
        return (head + f"{submission_handle}#{number}#{kind}".encode() + _SEPARATOR + tail +
                patient_handle.encode())

    return make
