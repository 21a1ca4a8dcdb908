"""Keyed blind indexes: find equal values without storing them (SEC-CRY-3a)."""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from portal.keys import KeyRing

#: (root key, info) -> derived key; HKDF once per process and index
_derived: dict[tuple[bytes, bytes], bytes] = {}


def _index_key(ring: KeyRing, info: bytes) -> bytes:
    root = ring.key("blind_index")
    key = _derived.get((root, info))
    if key is None:
        # One derived key per index: the root key serves every index of the portal.
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(root)
        _derived[(root, info)] = key
    return key


def blind_index(ring: KeyRing, info: bytes, message: bytes) -> str:
    """Return the HMAC-SHA256 (hex) of `message` under the index key derived for `info`."""
    return hmac.new(_index_key(ring, info), message, hashlib.sha256).hexdigest()


#: what the opaque reference of a case starts with
CASE_REFERENCE_PREFIX = "RC-"


def case_reference(ring: KeyRing, case_number: str) -> str:
    """Return the opaque reference of a case: 128 bits of an HMAC of its case number.

    The one name of a case in whatever outlives it (audit entries, the purge ledger, rights
    requests). Without the key file it cannot be computed from a case number, and once the
    patient row is gone nothing maps it back. Its form predates the derived index keys: the
    root key with a domain prefix, kept so that the ledgers already written still match.
    """
    digest = hmac.new(ring.key("blind_index"), b"retention-case-v1:" + case_number.encode(),
                      hashlib.sha256)
    return CASE_REFERENCE_PREFIX + digest.hexdigest()[:32]
