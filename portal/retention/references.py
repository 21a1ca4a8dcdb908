"""The opaque reference of a case: a keyed hash of its case number (`portal.sealing`).

What outlives a purge (the ledger, every audit entry naming the case, rights requests) keeps
this reference only. Without the key file it cannot be computed from a case number; with it, a
restored database's patients can be matched against the ledger.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from portal.sealing import CASE_REFERENCE_PREFIX, case_reference, ring_of

PREFIX = CASE_REFERENCE_PREFIX


def reference_for(session: Session, case_number: str) -> str:
    """Return the opaque reference of the case `case_number`."""
    return case_reference(ring_of(session), case_number)
