"""Telling the requesting professional that their request moved, by mail, without health data.

The answer itself is only ever read in the portal: the mail carries the request number and a
link, never the case, the patient's data or the reason of a refusal.
"""

from __future__ import annotations

import enum
import logging
from typing import Any

from flask import has_app_context
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from portal.accounts.models import User
from portal.audit.services import SYSTEM, record
from portal.db import app_of
from portal.outbox.services import enqueue
from portal.rights.actions import RightsAction
from portal.rights.models import RightsRequest

log = logging.getLogger(__name__)


class Notice(enum.StrEnum):
    """The moments the requester is told of."""

    EXTENDED = "extended"
    ANSWERED = "answered"
    REFUSED = "refused"
    LIMITED = "limited"
    LIFT_PLANNED = "lift_planned"
    LIFTED = "lifted"


SUBJECTS: dict[Notice, Any] = {
    Notice.EXTENDED: _l("Rights request %(number)s: the answer period is extended"),
    Notice.ANSWERED: _l("Rights request %(number)s: the answer is ready"),
    Notice.REFUSED: _l("Rights request %(number)s: the laboratory has answered"),
    Notice.LIMITED: _l("Rights request %(number)s: the data are limited"),
    Notice.LIFT_PLANNED: _l("Rights request %(number)s: the limitation will be lifted"),
    Notice.LIFTED: _l("Rights request %(number)s: the limitation is lifted"),
}

BODIES: dict[Notice, Any] = {
    Notice.EXTENDED: _l("The laboratory needs more time to answer the rights request "
                        "%(number)s. The reason and the new due date are shown in the portal."),
    Notice.ANSWERED: _l("The answer to the rights request %(number)s is ready. It can only be "
                        "read in the portal, after logging in."),
    Notice.REFUSED: _l("The laboratory has answered the rights request %(number)s. The letter "
                       "can be read in the portal, after logging in."),
    Notice.LIMITED: _l("The data concerned by the rights request %(number)s are now limited: "
                       "they are kept but no longer used or changed until the checks are done."),
    Notice.LIFT_PLANNED: _l("The checks on the rights request %(number)s are done. The "
                            "limitation of the data will be lifted; the details are in the "
                            "portal."),
    Notice.LIFTED: _l("The limitation of the data concerned by the rights request %(number)s "
                      "has been lifted."),
}


def recipient_of(session: Session, request: RightsRequest) -> User | None:
    """Return the professional who receives the answer: the submitter or the named physician."""
    user_id = request.submitted_by_id or request.via_professional_id
    return session.get(User, user_id) if user_id else None


def _compose(session: Session, user: User, notice: Notice,
             request: RightsRequest) -> tuple[str, str]:
    app = app_of(session)
    link = f"{app.config['BASE_URL'].rstrip('/')}/rights/r/{request.handle}"

    def render() -> tuple[str, str]:
        with force_locale(user.locale or app.config["BABEL_DEFAULT_LOCALE"]):
            subject = str(SUBJECTS[notice] % {"number": request.number})
            body = str(BODIES[notice] % {"number": request.number})
            return subject, f"{body}\n\n{link}\n"

    if has_app_context():
        return render()
    with app.app_context():
        return render()


def requester(session: Session, actor: Any, request: RightsRequest, notice: Notice) -> bool:
    """Queue a mail to the requesting professional about `notice`; False when there is
    nobody to mail.

    The mail is queued in the outbox in the action's transaction, so a rolled-back action is
    never announced. A mail that cannot be sent does not undo the DPO's action (the portal
    still shows the news to the requester): when the sender gives it up, it audits the
    failure against the request (`mail_outcome`).
    """
    user = recipient_of(session, request)
    if user is None or not user.email or user.is_disabled:
        return False
    subject, body = _compose(session, user, notice, request)
    enqueue(session, user.email, subject, body, kind="rights_notice",
            on_outcome=MAIL_OUTCOME_HOOK,
            outcome_args={"request_id": request.id, "notice": notice.value})
    record(session, actor, RightsAction.NOTICE_MAIL, request, notice=notice.value,
           recipient=user.audit_ref, delivery="outbox")
    return True


#: the outbox hook that audits a rights notice the sender gave up
MAIL_OUTCOME_HOOK = "rights.notice_mail"


def mail_outcome(session: Session, message: Any, sent: bool, args: dict[str, Any]) -> None:
    """The sender's hook: a notice given up is audited against its request."""
    if sent:
        return
    found = session.get(RightsRequest, args["request_id"])
    log.warning("rights notice %s for request %s could not be mailed", args["notice"],
                args["request_id"])
    if found is not None:
        record(session, SYSTEM, RightsAction.NOTICE_MAIL, found, outcome="failure",
               notice=args["notice"], attempts=message.attempts)
