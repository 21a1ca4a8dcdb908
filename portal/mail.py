"""Outgoing mail: the transport. Areas never call it from a request: they queue their
messages in the durable outbox (`portal.outbox.enqueue`), whose sender calls `deliver`.

`PORTAL_MAIL_URL` (SEC-ECH-2): `smtps://host:465` speaks TLS from the first byte;
`smtp://host:587` requires STARTTLS (a server that does not offer it makes the send fail,
never fall back to clear text); the certificate and the host name are verified against the
system CAs or `PORTAL_MAIL_CA_FILE`. `smtp+insecure://host:port` is clear text, for a local
test relay outside production only. An empty URL writes each message as an .eml file to
`instance/outbox/` (development and tests). Mails are short notices: they never carry health
data, a password or a TOTP secret.
"""

from __future__ import annotations

import itertools
import logging
import os
import smtplib
import ssl
import uuid
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import Flask

from portal import clock

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


def build_message(app: Flask, to: str, subject: str, body: str,
                  idstring: str | None = None) -> EmailMessage:
    """Build a plain-text UTF-8 message from the portal's sender address.

    :param idstring: makes the Message-ID stable (the outbox passes the message's handle), so
        a copy delivered again after a crash is recognisably the same message.
    """
    message = EmailMessage()
    message["From"] = app.config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(clock.now())
    domain = str(app.config["MAIL_FROM"]).rpartition("@")[2] or "localhost"
    message["Message-ID"] = (f"<{idstring}@{domain}>" if idstring
                             else make_msgid(domain=domain))
    message.set_content(body)
    return message


def check_headers(to: str, subject: str) -> None:
    """Refuse a recipient or subject spanning several lines (header injection)."""
    if "\n" in to or "\r" in to or "\n" in subject or "\r" in subject:
        raise MailError("header values must be on one line")


def send_mail(app_or_session: Any, to: str, subject: str, body: str) -> EmailMessage:
    """Send one plain-text message to `to`; raises `MailError` when it cannot be delivered."""
    app = _app(app_or_session)
    check_headers(to, subject)
    message = build_message(app, to, subject, body)
    deliver(app, message)
    return message


def deliver(app: Flask, message: EmailMessage) -> None:
    """Hand a built message to the configured transport; raises `MailError` when it fails."""
    url = str(app.config.get("MAIL_URL") or "")
    if not url:
        _write_outbox(app, message)
    else:
        _send_smtp(app, url, message)


_WRITTEN = itertools.count()


def _write_outbox(app: Flask, message: EmailMessage) -> None:
    directory = outbox_dir(app)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    # The time prefix and the process's counter keep the files in sending order (a frozen test
    # clock gives many the same time); the uuid keeps them distinct across processes.
    name = f"{clock.now():%Y%m%dT%H%M%S%f}-{next(_WRITTEN):08d}-{uuid.uuid4().hex[:8]}.eml"
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


#: the transports of PORTAL_MAIL_URL; clear text only outside production (SEC-ECH-2)
TLS_SCHEMES = frozenset({"smtps", "smtp"})
CLEAR_TEXT_SCHEME = "smtp+insecure"


def mail_url_problem(url: str, *, production: bool) -> str | None:
    """Why `url` cannot carry the portal's mail, or None; production refuses clear text."""
    parts = urlsplit(url)
    if parts.scheme not in TLS_SCHEMES | {CLEAR_TEXT_SCHEME} or not parts.hostname:
        return ("PORTAL_MAIL_URL must look like smtps://host:465 (implicit TLS) or "
                "smtp://host:587 (STARTTLS required).")
    if parts.scheme == CLEAR_TEXT_SCHEME and production:
        return ("PORTAL_MAIL_URL is smtp+insecure://: production sends mail over TLS only "
                "(smtps:// or smtp:// with STARTTLS, certificate verified).")
    return None


def _send_smtp(app: Flask, url: str, message: EmailMessage) -> None:
    """Deliver over SMTP: TLS always (implicit or STARTTLS, the certificate and name verified),
    except for the development-only `smtp+insecure://`; a relay without STARTTLS is an error."""
    problem = mail_url_problem(url, production=app.config.get("ENV") == "production")
    if problem:
        raise MailError(problem)
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        if parts.scheme == "smtps":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, parts.port or 465, timeout=SMTP_TIMEOUT,
                                                  context=_tls_context(app))
        else:
            smtp = smtplib.SMTP(host, parts.port or (587 if parts.scheme == "smtp" else 25),
                                timeout=SMTP_TIMEOUT)
        with smtp:
            smtp.ehlo()
            if parts.scheme == "smtp":
                if not smtp.has_extn("starttls"):
                    # Never fall back to clear text: the mail holds links and names.
                    raise MailError(f"the SMTP server {host} does not offer STARTTLS; "
                                    "nothing was sent")
                smtp.starttls(context=_tls_context(app))
                smtp.ehlo()
            if parts.username:
                if not isinstance(smtp.sock, ssl.SSLSocket):
                    # Never send credentials over a connection that is not encrypted.
                    raise MailError("the SMTP connection is not encrypted; not logging in")
                smtp.login(unquote(parts.username), unquote(parts.password or ""))
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("mail to the SMTP server %s failed: %s", host, type(exc).__name__)
        raise MailError(f"{type(exc).__name__}: {exc}") from exc
