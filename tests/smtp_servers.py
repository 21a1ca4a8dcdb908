"""Real SMTP servers for tests: aiosmtpd on 127.0.0.1, in clear text or TLS (self-signed)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from email import message_from_bytes, policy
from pathlib import Path


class Inbox:
    """An aiosmtpd handler keeping what arrived, and whether it came over TLS."""

    def __init__(self) -> None:
        self.messages: list = []
        self.encrypted: list[bool] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001, N802
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        # STARTTLS sets session.ssl; implicit TLS shows on the connection itself.
        self.encrypted.append(session.ssl is not None or bool(
            server.transport.get_extra_info("ssl_object")))
        return "250 Message accepted"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, written in `directory`."""
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
