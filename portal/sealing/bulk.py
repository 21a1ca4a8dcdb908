"""Opening many sealed values at once (exports, and next archives and backups)."""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from portal.keys import KeyRing
from portal.sealing.envelope import open_with, wrap_context_prefix


class BulkOpener:
    """Open many sealed values with one key ring, keeping a cipher object per KEK version.

    The same operations as `open_value` (unwrap the data key under the KEK, then decrypt), with
    the KEK's AES-GCM object built once instead of per row; `tests/records/test_crypto.py`
    checks it agrees with `open_value` byte for byte.
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
        dek = open_with(cipher, wrapped_key, prefix + aad)
        return open_with(AESGCM(dek), payload, aad)
