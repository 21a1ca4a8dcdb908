"""The mail service against a real SMTP server (aiosmtpd), and the development outbox."""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from portal.mail import MailError, send_mail
from portal.outbox.models import OutboxMessage
from portal.outbox.services import enqueue, send_due
from portal.permissions import Role
from tests.helpers_auth import login, make_user, outbox
from tests.servers import free_port
from tests.smtp_servers import Inbox, self_signed


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, str]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()


@pytest.fixture
def tls_smtp_server(tmp_path: Path) -> Iterator[tuple[Inbox, str, Path]]:
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=context,
                            require_starttls=True)
    controller.start()
    try:
        yield inbox, f"smtp://127.0.0.1:{port}", cert
    finally:
        controller.stop()


@pytest.fixture
def implicit_tls_smtp_server(tmp_path: Path) -> Iterator[tuple[Inbox, str, Path]]:
    """An aiosmtpd server speaking TLS from the first byte (smtps://)."""
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, ssl_context=context)
    controller.start()
    try:
        yield inbox, f"smtps://127.0.0.1:{port}", cert
    finally:
        controller.stop()


def _clear_text(url: str) -> str:
    return url.replace("smtp://", "smtp+insecure://", 1)


def test_an_account_created_on_the_page_gets_its_link_by_smtp(app, db, smtp_server) -> None:  # noqa: ANN001
    inbox, url = smtp_server
    app.config["MAIL_URL"] = _clear_text(url)
    admin = make_user(db, "h.petit", role=Role.ADMINISTRATOR)
    client = app.test_client()
    login(client, admin)
    client.post("/admin/users/new", data={
        "login": "j.lefebvre", "first_name": "Julien", "last_name": "Lefebvre",
        "email": "j.lefebvre@example.org"})
    # Nothing is mailed from inside the request: the link waits in the outbox.
    assert inbox.messages == []
    assert send_due(app).sent == 1
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert message["To"] == "j.lefebvre@example.org"
    assert message["From"] == app.config["MAIL_FROM"]
    body = message.get_body().get_content()
    assert re.search(r"/activate/[A-Za-z0-9_-]{43,}", body)
    assert "j.lefebvre" in body
    assert not inbox.encrypted[0]  # smtp+insecure:// (development only) speaks clear text


def test_starttls_is_used_and_the_certificate_verified(app, tls_smtp_server) -> None:  # noqa: ANN001
    inbox, url, cert = tls_smtp_server
    app.config.update(MAIL_URL=url, MAIL_CA_FILE=str(cert))
    with app.app_context():
        send_mail(app, "c.martin@example.org", "Subject", "Body")
    assert inbox.encrypted == [True]
    # A certificate nobody vouches for is refused rather than sent in clear.
    app.config["MAIL_CA_FILE"] = None
    with app.app_context(), pytest.raises(MailError, match="CERTIFICATE_VERIFY_FAILED"):
        send_mail(app, "c.martin@example.org", "Subject", "Body")
    assert len(inbox.messages) == 1


def test_implicit_tls_is_used_and_the_certificate_verified(  # noqa: ANN201
        app, implicit_tls_smtp_server):  # noqa: ANN001
    inbox, url, cert = implicit_tls_smtp_server
    app.config.update(MAIL_URL=url, MAIL_CA_FILE=str(cert))
    send_mail(app, "c.martin@example.org", "Subject", "Body")
    assert inbox.encrypted == [True]
    app.config["MAIL_CA_FILE"] = None
    with pytest.raises(MailError, match="CERTIFICATE_VERIFY_FAILED"):
        send_mail(app, "c.martin@example.org", "Subject", "Body")
    assert len(inbox.messages) == 1


def test_a_server_without_starttls_makes_the_send_fail_never_clear_text(  # noqa: ANN201
        app, smtp_server):  # noqa: ANN001
    inbox, url = smtp_server  # offers no STARTTLS
    app.config["MAIL_URL"] = url
    with pytest.raises(MailError, match="does not offer STARTTLS"):
        send_mail(app, "c.martin@example.org", "Subject", "Body")
    assert inbox.messages == []


def test_a_server_without_tls_keeps_outbox_messages_waiting(app, db, smtp_server) -> None:  # noqa: ANN001
    inbox, url = smtp_server
    app.config["MAIL_URL"] = url
    enqueue(db, "c.martin@example.org", "Subject", "Body", kind="test")
    db.commit()
    report = send_due(app)
    assert (report.sent, report.retried) == (0, 1)
    assert inbox.messages == []
    message = db.scalars(select(OutboxMessage)).one()
    assert message.state == "pending" and "STARTTLS" in (message.last_error or "")


def test_an_unreachable_server_is_a_mail_error_not_a_500(app, db) -> None:  # noqa: ANN001
    app.config["MAIL_URL"] = f"smtp://127.0.0.1:{free_port()}"
    with pytest.raises(MailError):
        send_mail(app, "c.martin@example.org", "Subject", "Body")
    admin = make_user(db, "h.petit", role=Role.ADMINISTRATOR)
    client = app.test_client()
    login(client, admin)
    response = client.post("/admin/users/new", data={
        "login": "j.lefebvre", "first_name": "Julien", "last_name": "Lefebvre",
        "email": "j.lefebvre@example.org"}, follow_redirects=True)
    assert response.status_code == 200
    # The link waits in the outbox; the failed attempt shows on the administrators' page.
    assert send_due(app).retried == 1
    page = client.get("/outbox/").get_data(as_text=True)
    assert "account_activation" in page and "ConnectionRefusedError" in page


def test_the_development_backend_writes_the_outbox(app) -> None:  # noqa: ANN001
    send_mail(app, "c.martin@example.org", "Bonjour", "Corps du message éà")
    messages = outbox(app)
    assert len(messages) == 1
    assert messages[0]["Subject"] == "Bonjour"
    assert messages[0].get_body().get_content().strip() == "Corps du message éà"
    assert Path(app.instance_path, "outbox").is_dir()


@pytest.mark.parametrize(("to", "subject"), [("a@example.org\nBcc: x@example.org", "s"),
                                             ("a@example.org", "s\r\nBcc: x@example.org")])
def test_header_injection_is_refused(app, to, subject) -> None:  # noqa: ANN001
    with pytest.raises(MailError):
        send_mail(app, to, subject, "body")
    assert outbox(app) == []
