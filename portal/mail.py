"""Outgoing mail: one small service with an SMTP backend and a development outbox.

`PORTAL_MAIL_URL=smtp://host:port` sends through that server, upgrading the connection with
STARTTLS whenever the server offers it; an empty URL writes each message as an .eml file to
`instance/outbox/` (development and tests). Mails are short notices: they never carry health
data, a password or a TOTP secret.

A mail that reports an action (a rights request answered, extended...) is queued on the
session with `send_after_commit`: it leaves once the action is committed, and never for an
action that was rolled back.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import uuid
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session

from portal import clock
from portal.db import on_rollback

log = logging.getLogger(__name__)

#: seconds before an unresponsive SMTP server is given up
SMTP_TIMEOUT = 15


class MailError(Exception):
    """The message could not be handed to the mail server."""


def _app(app_or_session: Any) -> Flask:
    if isinstance(app_or_session, Flask):
        return app_or_session
    from portal.db import app_of

    return app_of(app_or_session)


def outbox_dir(app: Flask) -> Path:
    """Return the directory where the development backend writes messages."""
    return Path(app.instance_path) / "outbox"


def build_message(app: Flask, to: str, subject: str, body: str) -> EmailMessage:
    """Build a plain-text UTF-8 message from the portal's sender address."""
    message = EmailMessage()
    message["From"] = app.config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(clock.now())
    domain = str(app.config["MAIL_FROM"]).rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(body)
    return message


def _check_headers(to: str, subject: str) -> None:
    if "\n" in to or "\r" in to or "\n" in subject or "\r" in subject:
        raise MailError("header values must be on one line")


def send_mail(app_or_session: Any, to: str, subject: str, body: str) -> EmailMessage:
    """Send one plain-text message to `to`; raises `MailError` when it cannot be delivered."""
    app = _app(app_or_session)
    _check_headers(to, subject)
    message = build_message(app, to, subject, body)
    url = str(app.config.get("MAIL_URL") or "")
    if not url:
        _write_outbox(app, message)
    else:
        _send_smtp(app, url, message)
    return message


_QUEUE = "portal.mail.after_commit"

#: called with the app when a queued message could not be sent (e.g. to audit the failure)
FailureHandler = Callable[[Flask], None]


def send_after_commit(session: Session, to: str, subject: str, body: str,
                      on_failure: FailureHandler | None = None) -> None:
    """Send a message once `session` commits; drop it if the session rolls back instead.

    :param on_failure: called after the commit when the message could not be sent; it runs
        outside the committed transaction and opens its own session if it writes.
    :raises MailError: a header value spans several lines (checked now, not at commit).
    """
    _check_headers(to, subject)
    session.info.setdefault(_QUEUE, []).append((to, subject, body, on_failure))


@event.listens_for(Session, "after_commit")
def _send_queued(session: Session) -> None:
    queued = session.info.pop(_QUEUE, None)
    app = session.info.get("portal.app")
    if not queued or app is None:
        return
    for to, subject, body, on_failure in queued:
        try:
            send_mail(app, to, subject, body)
        except MailError:
            log.warning("a mail queued by a committed action could not be sent")
            if on_failure is not None:
                try:
                    on_failure(app)
                except Exception:  # noqa: BLE001 - the action is committed; never undo it here
                    log.exception("recording a mail failure failed")


@on_rollback
def _drop_queued(session: Session) -> None:
    session.info.pop(_QUEUE, None)


def _write_outbox(app: Flask, message: EmailMessage) -> None:
    directory = outbox_dir(app)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    # The time prefix keeps the files in sending order; the uuid keeps them distinct.
    name = f"{clock.now():%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.eml"
    # Messages hold activation and reset links: the owner's only, from the first byte.
    fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(bytes(message))


def _tls_context(app: Flask) -> ssl.SSLContext:
    context = ssl.create_default_context()
    # An internal relay may use a private certificate authority.
    ca_file = app.config.get("MAIL_CA_FILE")
    if ca_file:
        context.load_verify_locations(cafile=str(ca_file))
    return context


def _send_smtp(app: Flask, url: str, message: EmailMessage) -> None:
    parts = urlsplit(url)
    if parts.scheme != "smtp" or not parts.hostname:
        raise MailError("PORTAL_MAIL_URL must look like smtp://host:port")
    try:
        with smtplib.SMTP(parts.hostname, parts.port or 25, timeout=SMTP_TIMEOUT) as smtp:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls(context=_tls_context(app))
                smtp.ehlo()
            if parts.username:
                if not smtp.sock or not isinstance(smtp.sock, ssl.SSLSocket):
                    # Never send credentials over a connection that is not encrypted.
                    raise MailError("the SMTP server does not offer STARTTLS; not logging in")
                smtp.login(unquote(parts.username), unquote(parts.password or ""))
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("mail to the SMTP server %s failed: %s", parts.hostname, type(exc).__name__)
        raise MailError(str(exc)) from exc
