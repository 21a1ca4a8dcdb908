"""Mails telling people about their account (SEC-AUT-2i, 3g): never a password, never health data.

Queued in the durable outbox (`portal.outbox`), never mailed from inside the request: in the
caller's transaction when it passes its session, else in a short transaction of its own right
after the caller's commit. The sender delivers them with retries; a mail server failure shows
on the administrators' outbox page and never undoes what the person did.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from flask import Flask, render_template
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from portal.accounts.models import User
from portal.db import new_session
from portal.mail import MailError
from portal.outbox.services import enqueue

log = logging.getLogger(__name__)

SUBJECTS: dict[str, Any] = {
    "activation": _l("Activate your AAC Portal account"),
    "reset": _l("Choose a new password for your AAC Portal account"),
    "password_changed": _l("Your AAC Portal password was changed"),
    "totp_enrolled": _l("A second factor was set up on your AAC Portal account"),
    "recovery_codes_regenerated": _l("New recovery codes for your AAC Portal account"),
    "recovery_code_used": _l("A recovery code was used on your AAC Portal account"),
    "account_locked": _l("Your AAC Portal account is temporarily locked"),
    "second_factor_alert": _l("Unusual second-factor attempts on your AAC Portal account"),
}


def _local(app: Flask, value: Any, locale: str) -> Any:
    # Stored times are UTC; a person reads the portal's local time, in their language.
    if not isinstance(value, datetime):
        return value
    zone = ZoneInfo(app.config["TIMEZONE"])
    return format_datetime(value, "short", tzinfo=zone, locale=locale)


def notify(app: Flask, user: User, kind: str, *, session: Session | None = None,
           **context: Any) -> bool:
    """Queue the notice `kind` (templates/mail/<kind>.txt) to `user`; False when it cannot be
    queued (no address, or a header on several lines).

    :param session: queue it in this transaction (committed by the caller); without one, the
        notice is queued and committed on its own.

    Datetimes in `context` reach the template as local times in the person's language.
    """
    if not user.email:
        return False
    locale = user.locale or app.config["BABEL_DEFAULT_LOCALE"]
    context = {name: _local(app, value, locale) for name, value in context.items()}
    with force_locale(locale):
        subject = str(SUBJECTS[kind])
        body = render_template(f"mail/{kind}.txt", user=user, base_url=app.config["BASE_URL"],
                               **context)
    try:
        if session is not None:
            enqueue(session, user.email, subject, body, kind=f"account_{kind}")
        else:
            with new_session(app) as own:
                enqueue(own, user.email, subject, body, kind=f"account_{kind}")
                own.commit()
    except MailError:
        log.warning("the %s notice to user %s could not be queued", kind, user.id)
        return False
    return True


_background: list[threading.Thread] = []


def notify_in_background(app: Flask, user: User, kind: str, **context: Any) -> None:
    """Queue a notice from a thread, so the response time does not tell whether the account
    exists (the queueing is a write the unknown logins do not make)."""
    def send() -> None:
        with app.app_context():
            notify(app, user, kind, **context)

    thread = threading.Thread(target=send, name=f"notice-{kind}", daemon=True)
    _background[:] = [t for t in _background if t.is_alive()]
    _background.append(thread)
    thread.start()


def wait_for_background(timeout: float = 10.0) -> None:
    """Wait until the notices queued in the background are in the outbox (tests, shutdown)."""
    for thread in list(_background):
        thread.join(timeout)
