"""What happens when a sealed record fails authentication: never data, always an alert.

The alert and its audit entry go into the caller's session. In a request, the records
blueprint's error handler commits them before showing the integrity page; a CLI command or
another area calling the records services must commit too (a rollback would lose the alert).
A separate transaction is not used on purpose: the request may already hold the audit head
lock (a read was logged), and a second writer would wait on it forever.
"""

from __future__ import annotations

import logging
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import clock
from portal.audit.checks import announce_alert
from portal.audit.models import AuditAlert
from portal.audit.services import actor_fields, record
from portal.errors import PortalError
from portal.records.actions import RecordsAction

log = logging.getLogger(__name__)

#: the rule name of the DPO alert raised for a record failing its integrity check
ALERT_RULE = "record_integrity"


class RecordIntegrityError(PortalError):
    """A sealed record failed its integrity check: shown as such, never as data."""

    status = 500

    def __init__(self, target: tuple[str, str]) -> None:
        super().__init__(str(_l("This record failed its integrity check: it is not shown. "
                                "The data protection officer has been alerted.")))
        self.target = target


def report_integrity_failure(session: Session, actor: Any, target: tuple[str, str],
                             **details: Any) -> None:
    """Raise a DPO alert, write the audit entry and log the event (the caller commits).

    :param target: ("patient" | "submission" | table name, opaque reference).
    """
    kind, ref = target
    log.error("integrity check failed on %s %s (%s)", kind, ref,
              ", ".join(f"{k}={v}" for k, v in sorted(details.items())))
    actor_kind, actor_id, actor_label = actor_fields(actor)
    subject = f"{kind}:{ref}"[:96]
    # One alert per record: a list or an export meeting the same altered row again (every
    # page load) extends the alert the DPO already has instead of burying it under copies.
    existing = session.scalar(select(AuditAlert).where(
        AuditAlert.rule == ALERT_RULE, AuditAlert.subject == subject).limit(1))
    if existing is not None:
        existing.count = (existing.count or 0) + 1
        existing.updated_at = clock.now()
    else:
        alert = AuditAlert(
            rule=ALERT_RULE, subject=subject, actor_id=actor_id,
            actor_label=actor_label if actor_kind == "user" else None,
            target_ref=ref[:96], count=1, details={"target_type": kind, **details},
        )
        session.add(alert)
        # An altered record may be a breach of integrity: the DPO's register opens a draft.
        announce_alert(session, alert)
    record(session, actor, RecordsAction.INTEGRITY_FAIL, (kind, ref), outcome="failure",
           **details)
