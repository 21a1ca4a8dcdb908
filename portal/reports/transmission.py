"""Sending a report out: its files, zipped, encrypted for one recipient (CMS / S/MIME).

Each recipient (ANSM's reports desk, for instance) is an X.509 certificate in the directory
REPORT_RECIPIENTS_DIR, named `<recipient>.pem`. Only the holder of the matching private key
can open the `.p7m` file; the transmission is audited with the certificate's fingerprint.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import pkcs7
from sqlalchemy.orm import Session

from portal import clock
from portal.audit.services import record
from portal.db import app_of
from portal.reports.models import ReportGeneration, SummaryReport
from portal.reports.outputs import (
    PDF_REPORT,
    PDF_RESUME,
    XLSX_NAME,
    csv_text,
    pdf_bytes,
    table_file_name,
    table_rows,
    xlsx_bytes,
)
from portal.reports.services import ReportAction, stored

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class TransmissionError(ValueError):
    """The report cannot be sent to that recipient; the message says why."""


@dataclass(frozen=True)
class Sent:
    path: Path
    recipient: str
    certificate_sha256: str


def recipient_certificate(session: Session, name: str) -> x509.Certificate:
    """The certificate configured for `name`.

    :raises TransmissionError: no directory configured, unknown recipient, unreadable or
        expired certificate.
    """
    folder = str(app_of(session).config.get("REPORT_RECIPIENTS_DIR") or "")
    if not folder:
        raise TransmissionError("no recipient is configured (PORTAL_REPORT_RECIPIENTS_DIR)")
    if not _NAME.fullmatch(name):
        raise TransmissionError(
            f"{name!r} is not a recipient name (lower-case letters, digits, dots, hyphens)"
        )
    path = Path(folder) / f"{name}.pem"
    if not path.is_file():
        raise TransmissionError(f"no certificate for recipient {name!r} ({path})")
    try:
        certificate = x509.load_pem_x509_certificate(path.read_bytes())
    except ValueError:
        raise TransmissionError(f"{path} is not a PEM certificate") from None
    if certificate.not_valid_after_utc < clock.now():
        raise TransmissionError(
            f"the certificate of {name!r} expired on "
            f"{certificate.not_valid_after_utc.date().isoformat()}"
        )
    return certificate


def bundle(generation: ReportGeneration) -> bytes:
    """The generation's files in one zip: PDFs, workbook, CSV tables (fixed timestamps)."""
    meta, tables = stored(generation)
    out = io.BytesIO()
    stamp = (1980, 1, 1, 0, 0, 0)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        files = [
            (PDF_REPORT, pdf_bytes(meta, tables, resume=False)),
            (PDF_RESUME, pdf_bytes(meta, tables, resume=True)),
            (XLSX_NAME, xlsx_bytes(meta, tables)),
        ]
        files += [
            (
                f"csv/{table_file_name(t)}.csv",
                csv_text([[t.full_title], *table_rows(t)]).encode("utf-8"),
            )
            for t in tables
        ]
        for name, data in files:
            archive.writestr(zipfile.ZipInfo(name, stamp), data)
    return out.getvalue()


def transmit(
    session: Session,
    actor: Any,
    report: SummaryReport,
    generation: ReportGeneration,
    recipient: str,
    directory: Path,
) -> Sent:
    """Write the generation's files, encrypted for `recipient`, into `directory` (audited).

    :raises TransmissionError: see `recipient_certificate`.
    """
    certificate = recipient_certificate(session, recipient)
    envelope = (
        pkcs7.PKCS7EnvelopeBuilder()
        .set_data(bundle(generation))
        .set_content_encryption_algorithm(algorithms.AES256)
        .add_recipient(certificate)
        .encrypt(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{report.protocol_key}-rapport-{report.number}-{recipient}.zip.p7m"
    path.write_bytes(envelope)
    thumbprint = certificate.fingerprint(hashes.SHA256()).hex()
    record(
        session,
        actor,
        ReportAction.TRANSMIT,
        report,
        recipient=recipient,
        certificate=thumbprint[:16],
        generation=generation.audit_ref,
    )
    return Sent(path, recipient, thumbprint)
