"""The opaque reference of a case: a keyed hash of its case number.

What outlives a purge (the ledger, the audit entries of the transitions, rights requests) keeps
this reference only. Without the key file it cannot be computed from a case number; with it, a
restored database's patients can be matched against the ledger.
"""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy.orm import Session

from portal.keys import keyring_of

PREFIX = "RC-"


def reference_for(session: Session, case_number: str) -> str:
    """Return the opaque reference of the case `case_number`."""
    key = keyring_of(session).key("blind_index")
    digest = hmac.new(key, b"retention-case-v1:" + case_number.encode(), hashlib.sha256)
    return PREFIX + digest.hexdigest()[:32]
