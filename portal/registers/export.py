"""Each register as a table, written as CSV or PDF (`portal register export`, the DPO's pages).

A register is exported as it stands (the newest version of each item) with the generation time;
the PDF is a plain document for the CNIL or an auditor, the CSV the same rows for archiving.
"""

from __future__ import annotations

import csv
import enum
import io
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal import clock
from portal.registers import services
from portal.registers.models import RegisterKind


class Register(enum.StrEnum):
    """The registers that can be exported."""

    PROCESSING = "processing"
    BREACHES = "breaches"
    TRANSFERS = "transfers"
    PROCESSORS = "processors"
    DPIA = "dpia"
    RESEARCH = "research"


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]]


def _processor_row(p: object) -> list[str]:
    data = p.data  # type: ignore[attr-defined]
    return [p.reference, str(p.number), data.get("name", ""), data.get("role", ""),  # type: ignore[attr-defined]
            data.get("country", ""), data.get("location", ""), data.get("contract_start", ""),
            data.get("contract_end", ""), data.get("guarantees", ""),
            data.get("hds_certificate", ""), data.get("mechanism", ""),
            data.get("mechanism_document", ""), p.status]  # type: ignore[attr-defined]


def table(session: Session, register: Register) -> Table:
    """Return a register's rows."""
    stamp = clock.now().strftime("%Y-%m-%d %H:%M UTC")
    if register == Register.PROCESSING:
        found = services.processing_record(session)
        status = _("conforming to the referential") if found.conforming else _(
            "NOT CONFORMING to the referential")
        rows = [["status", status]]
        rows += [["deviation", d.text] for d in found.deviations]
        for section in found.sections:
            rows += [[section.key, line] for line in section.lines]
        version = found.current.number if found.current else 0
        return Table(_("Record of processing (article 30), version %(n)d, %(at)s", n=version,
                       at=stamp), ["item", "value"], rows)
    if register == Register.DPIA:
        state = services.dpia_state(session)
        data = state.current.data if state.current else {}
        rows = [["status", state.status.value]] + [["review_reason", r] for r in state.reasons]
        rows += [[key, str(data.get(key, ""))] for key in services.DPIA_FIELDS]
        rows.append(["approved_at", str(data.get("approved_at", ""))])
        return Table(_("Data protection impact assessment, %(at)s", at=stamp),
                     ["field", "value"], rows)
    if register in (Register.PROCESSORS, Register.TRANSFERS):
        chosen = (services.items(session, RegisterKind.PROCESSOR)
                  if register == Register.PROCESSORS else services.transfers(session))
        title = (_("Processors, %(at)s", at=stamp) if register == Register.PROCESSORS
                 else _("Transfers outside the EU, %(at)s", at=stamp))
        return Table(title, ["ref", "version", "name", "role", "country", "location",
                             "contract_start", "contract_end", "guarantees", "hds_certificate",
                             "mechanism", "mechanism_document", "status"],
                     [_processor_row(p) for p in chosen])
    if register == Register.RESEARCH:
        header = ["ref", "version", "status", "in_force", "title", "formality_kind",
                  "reference", "formality_date", "valid_until", "protocol_key", "fields",
                  "notice"]
        rows = []
        for formality in services.research_states(session):
            data = formality.entry.data
            rows.append([formality.entry.reference, str(formality.entry.number),
                         formality.entry.status,
                         "yes" if formality.in_force else "no: " + " ".join(formality.reasons),
                         *(str(data.get(key) or "") for key in header[4:10]),
                         " ".join(data.get("fields") or []), str(data.get("notice") or "")])
        return Table(_("Research formalities (referential 5.4), %(at)s", at=stamp), header,
                     rows)
    header = ["ref", "version", "status", "title", "detected_at", "aware_at",
              "processor_notified_at", "nature", "person_categories", "persons_approx",
              "record_categories", "records_approx", "consequences", "measures", "contact",
              "risk", "risk_justification", "cnil_notified", "cnil_notified_at",
              "cnil_reference", "cnil_phase", "delay_reason", "communication",
              "exception_invoked", "cases", "source"]
    rows = []
    for breach in services.items(session, RegisterKind.BREACH):
        data = breach.data
        row = [breach.reference, str(breach.number), breach.status]
        for key in header[3:]:
            value = data.get(key)
            if isinstance(value, list):
                value = " ".join(str(v) for v in value)
            elif isinstance(value, bool):
                value = "yes" if value else "no"
            row.append("" if value is None else str(value))
        rows.append(row)
    return Table(_("Breach register (article 33(5)), %(at)s", at=stamp), header, rows)


def _safe_cell(value: str) -> str:
    # A spreadsheet runs a cell starting with = + - @ as a formula: keep it text.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def to_csv(found: Table) -> bytes:
    """Return the table as UTF-8 CSV (with a BOM, for spreadsheets), title first."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([found.title])
    writer.writerow(found.header)
    for row in found.rows:
        writer.writerow([_safe_cell(cell) for cell in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_pdf(found: Table) -> bytes:
    """Return the table as a PDF document: the title, then one paragraph block per row."""
    from xml.sax.saxutils import escape

    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    buffer = io.BytesIO()
    document = SimpleDocTemplate(buffer, pagesize=A4, title=found.title)
    styles = getSampleStyleSheet()
    story = [Paragraph(escape(found.title), styles["Title"])]
    two_columns = len(found.header) == 2
    for row in found.rows:
        if two_columns:
            story.append(Paragraph(f"<b>{escape(row[0])}</b>: {escape(row[1])}",
                                   styles["BodyText"]))
            continue
        story.append(Spacer(1, 8))
        story.append(Paragraph(escape(f"{row[0]} (v{row[1]})"), styles["Heading3"]))
        for name, value in zip(found.header[2:], row[2:], strict=True):
            if value:
                story.append(Paragraph(f"<b>{escape(name)}</b>: {escape(value)}",
                                       styles["BodyText"]))
    if not found.rows:
        story.append(Paragraph(escape(_("No entry.")), styles["BodyText"]))
    document.build(story)
    return buffer.getvalue()


def render(session: Session, register: Register, fmt: str) -> bytes:
    """Return a register exported as "csv" or "pdf"."""
    found = table(session, register)
    if fmt == "pdf":
        return to_pdf(found)
    if fmt == "csv":
        return to_csv(found)
    raise ValueError(f"unknown export format {fmt!r}")
