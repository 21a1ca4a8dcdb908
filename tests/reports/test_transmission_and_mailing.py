"""A report leaves the portal encrypted for its recipient only; an approved résumé is mailed to
exactly the prescribers and pharmacists linked to the protocol's cases."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from portal import clock
from portal.audit.models import AuditEvent
from portal.permissions import Role
from tests.helpers_auth import outbox
from tests.records import helpers
from tests.reports.conftest import LOCK


def _certificate(name: str) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = clock.now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert, key


def test_the_transmitted_file_opens_with_the_recipients_key_only(
    app, cohort, runner, tmp_path: Path
) -> None:
    recipients = tmp_path / "recipients"
    recipients.mkdir()
    cert, key = _certificate("ANSM")
    (recipients / "ansm.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    app.config["REPORT_RECIPIENTS_DIR"] = str(recipients)
    out = tmp_path / "out"
    unknown = runner.invoke(
        args=[
            "report",
            "transmit",
            helpers.PROTOCOL_KEY,
            "--data-lock",
            LOCK.isoformat(),
            "--recipient",
            "ansm",
            "--output",
            str(out),
        ]
    )
    assert "generate the report first" in unknown.output
    generated = runner.invoke(
        args=[
            "report",
            "generate",
            helpers.PROTOCOL_KEY,
            "--data-lock",
            LOCK.isoformat(),
            "--output",
            str(tmp_path / "files"),
        ]
    )
    assert generated.exit_code == 0, generated.output
    missing = runner.invoke(
        args=[
            "report",
            "transmit",
            helpers.PROTOCOL_KEY,
            "--data-lock",
            LOCK.isoformat(),
            "--recipient",
            "crpv",
            "--output",
            str(out),
        ]
    )
    assert "no certificate for recipient 'crpv'" in missing.output
    result = runner.invoke(
        args=[
            "report",
            "transmit",
            helpers.PROTOCOL_KEY,
            "--data-lock",
            LOCK.isoformat(),
            "--recipient",
            "ansm",
            "--output",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.output
    (sealed,) = out.iterdir()
    data = sealed.read_bytes()
    assert b"%PDF" not in data and b"Rapport" not in data
    opened = pkcs7.pkcs7_decrypt_der(data, cert, key, [])
    names = zipfile.ZipFile(io.BytesIO(opened)).namelist()
    assert {"rapport.pdf", "resume.pdf", "tableaux.xlsx", "csv/sex_cumul.csv"} <= set(names)
    other_cert, other_key = _certificate("Someone else")
    try:
        pkcs7.pkcs7_decrypt_der(data, other_cert, other_key, [])
    except ValueError:
        pass
    else:
        raise AssertionError("another key opened the report")


def test_the_approved_resume_reaches_exactly_the_linked_professionals(
    app, db, cohort, runner
) -> None:
    site_a = helpers.site(db)
    site_b = helpers.site(db, helpers.FINESS_B, "Clinique Beta")
    helpers.professional(db, "h.pui", site_a, role=Role.HOSPITAL_PHARMACIST)
    helpers.professional(db, "b.roux", site_b)  # a prescriber without any case
    helpers.professional(db, "p.autre", site_b, role=Role.HOSPITAL_PHARMACIST)
    helpers.lab_person(db, "m.agreg", Role.MEDICAL_AFFAIRS)
    runner.invoke(
        args=[
            "report",
            "generate",
            helpers.PROTOCOL_KEY,
            "--data-lock",
            LOCK.isoformat(),
            "--output",
            str(app.instance_path + "/r1"),
        ]
    )
    after = (LOCK + timedelta(days=1)).isoformat()
    runner.invoke(
        args=[
            "report",
            "submitted",
            helpers.PROTOCOL_KEY,
            "--data-lock",
            LOCK.isoformat(),
            "--on",
            after,
            "--reference",
            "S-1",
        ]
    )
    before = len(outbox(app))
    result = runner.invoke(
        args=[
            "report",
            "approved",
            helpers.PROTOCOL_KEY,
            "--data-lock",
            LOCK.isoformat(),
            "--on",
            after,
            "--reference",
            "A-1",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "résumé mailed to 2 professional(s)" in result.output
    sent = outbox(app)[before:]
    logins = {"c.martin", "h.pui"}
    emails = {
        u.email for u in db.scalars(select(helpers.User).where(helpers.User.login.in_(logins)))
    }
    assert {m["To"] for m in sent} == emails
    body = sent[0].get_body(preferencelist=("plain",)).get_content()
    assert "Demandes d'accès par sexe (en cumulé)" in body
    for number in cohort.case_numbers:
        assert number not in body
    # The tables' rows ("  label | cell | ..."): no count from 1 to 4 among the cells.
    rows = [line.strip().split(" | ") for line in body.splitlines() if line.startswith("  ")]
    assert len(rows) > 20
    assert all(cell not in {"1", "2", "3", "4"} for row in rows for cell in row[1:]), rows
    assert "<5" in body
    entry = db.scalars(select(AuditEvent).where(AuditEvent.action == "reports:resume:mail")).one()
    assert entry.details["recipients"] == 2
