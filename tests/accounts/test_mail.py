"""The mail service against a real SMTP server (aiosmtpd), and the development outbox."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import ssl
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from portal.mail import MailError, send_mail
from portal.permissions import Role
from tests.helpers_auth import login, make_user, outbox
from tests.servers import free_port


class Inbox:
    """An aiosmtpd handler keeping what arrived, and whether it came over TLS."""

    def __init__(self) -> None:
        self.messages: list = []
        self.encrypted: list[bool] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001, N802
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.encrypted.append(session.ssl is not None)
        return "250 Message accepted"


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp.crt", directory / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


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
    cert, key = _self_signed(tmp_path)
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


def test_an_account_created_on_the_page_gets_its_link_by_smtp(app, db, smtp_server) -> None:  # noqa: ANN001
    inbox, url = smtp_server
    app.config["MAIL_URL"] = url
    admin = make_user(db, "h.petit", role=Role.ADMINISTRATOR)
    client = app.test_client()
    login(client, admin)
    client.post("/admin/users/new", data={
        "login": "j.lefebvre", "first_name": "Julien", "last_name": "Lefebvre",
        "email": "j.lefebvre@example.org"})
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert message["To"] == "j.lefebvre@example.org"
    assert message["From"] == app.config["MAIL_FROM"]
    body = message.get_body().get_content()
    assert re.search(r"/activate/[A-Za-z0-9_-]{43,}", body)
    assert "j.lefebvre" in body
    assert not inbox.encrypted[0]  # this server offers no STARTTLS


def test_starttls_is_used_when_the_server_offers_it(app, tls_smtp_server) -> None:  # noqa: ANN001
    inbox, url, cert = tls_smtp_server
    app.config.update(MAIL_URL=url, MAIL_CA_FILE=str(cert))
    with app.app_context():
        send_mail(app, "c.martin@example.org", "Subject", "Body")
    assert inbox.encrypted == [True]
    # A certificate nobody vouches for is refused rather than sent in clear.
    app.config["MAIL_CA_FILE"] = None
    with app.app_context(), pytest.raises(MailError):
        send_mail(app, "c.martin@example.org", "Subject", "Body")
    assert len(inbox.messages) == 1


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
    assert "could not be sent" in response.get_data(as_text=True)


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
