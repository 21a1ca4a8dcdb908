"""The report's files: CSV tables, an XLSX workbook, the PDF of the report and of its résumé.

Everything written here comes from `dataset.Table.text`, so no file can hold a small count or
anything else than aggregates. The files are in French (the language of the report to ANSM).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from portal.export_purposes import ExportPurpose
from portal.reports.dataset import CUMULATIVE, HIDDEN_TEXT, Table

#: file names inside the output directory
PDF_REPORT, PDF_RESUME, XLSX_NAME, CSV_DIR, INFO_CSV = (
    "rapport.pdf",
    "resume.pdf",
    "tableaux.xlsx",
    "csv",
    "rapport.csv",
)


#: the purposes as the (French) report files name them
_PURPOSES_FR = {
    ExportPurpose.SUMMARY_REPORT.value: "rapport de synthèse",
    ExportPurpose.AUTHORITY_REQUEST.value: "demande d'une autorité",
}


@dataclass(frozen=True)
class Meta:
    """What every output states about the report."""

    protocol_key: str
    protocol_title: str
    product: str
    number: int
    period_start: str
    data_lock: str
    definition: str
    fingerprint: str
    generated_at: str
    threshold: int
    #: a summary report is that purpose by nature; generations stored before purposes existed
    #: were summary reports too
    purpose: str = ExportPurpose.SUMMARY_REPORT.value

    def lines(self) -> list[tuple[str, str]]:
        return [
            ("Protocole", f"{self.protocol_title} ({self.protocol_key})"),
            ("Médicament", self.product),
            ("Rapport", f"n° {self.number}"),
            ("Période", f"du {self.period_start} au {self.data_lock}"),
            ("Date de gel des données", self.data_lock),
            ("Version de la définition", self.definition),
            ("Empreinte de génération", self.fingerprint),
            ("Généré le", self.generated_at),
            ("Finalité", _PURPOSES_FR.get(self.purpose, self.purpose) + f" ({self.purpose})"),
            (
                "Secret statistique",
                f"effectifs de 1 à {self.threshold - 1} affichés « <{self.threshold} » ; "
                f"« {HIDDEN_TEXT} » : valeur masquée pour qu'aucun petit effectif ne puisse "
                "être recalculé",
            ),
        ]


def table_rows(table: Table) -> list[list[str]]:
    """The table as text rows, header first."""
    rows = [[table.row_header, *table.column_labels]]
    for label, cells in zip(table.row_labels, table.rows_text(), strict=True):
        rows.append([label, *cells])
    return rows


def csv_text(rows: Sequence[Sequence[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        # A cell starting with = + - @ would be a formula in a spreadsheet.
        writer.writerow([f"'{v}" if v[:1] in ("=", "+", "-", "@") else v for v in row])
    return buffer.getvalue()


def table_file_name(table: Table) -> str:
    return f"{table.key}_{'cumul' if table.scope == CUMULATIVE else 'periode'}"


def write_csv(directory: Path, meta: Meta, tables: Sequence[Table]) -> list[Path]:
    folder = directory / CSV_DIR
    folder.mkdir(parents=True, exist_ok=True)
    written = [directory / INFO_CSV]
    written[0].write_text(
        csv_text([["Rubrique", "Valeur"], *map(list, meta.lines())]), encoding="utf-8"
    )
    for table in tables:
        path = folder / f"{table_file_name(table)}.csv"
        path.write_text(csv_text([[table.full_title], *table_rows(table)]), encoding="utf-8")
        written.append(path)
    return written


def xlsx_bytes(meta: Meta, tables: Sequence[Table]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    info = book.active
    info.title = "Rapport"
    info.append(["Rubrique", "Valeur"])
    for name, value in meta.lines():
        info.append([name, value])
    info.column_dimensions["A"].width = 28
    info.column_dimensions["B"].width = 90
    for table in tables:
        sheet = book.create_sheet(table_file_name(table)[:31])
        sheet.append([table.full_title])
        sheet["A1"].font = Font(bold=True)
        for i, row in enumerate(table_rows(table)):
            # Shown counts stay numbers so that the workbook can be summed; masks are text.
            sheet.append([row[0], *[int(v) if i and v.isdigit() else v for v in row[1:]]])
        if table.note:
            sheet.append([])
            sheet.append([table.note])
        sheet.column_dimensions["A"].width = 45
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def pdf_bytes(meta: Meta, tables: Sequence[Table], *, resume: bool) -> bytes:
    from xml.sax.saxutils import escape

    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.platypus import (
        KeepTogether,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        TableStyle,
    )
    from reportlab.platypus import Table as PdfTable

    styles = getSampleStyleSheet()
    title = (
        "Résumé du rapport périodique de synthèse" if resume else "Rapport périodique de synthèse"
    )
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        title=f"{title} n° {meta.number}",
        author="AAC Portal",
        leftMargin=1.8 * cm,
        rightMargin=1.8 * cm,
        topMargin=1.6 * cm,
        bottomMargin=1.6 * cm,
        invariant=1,
    )
    story = [Paragraph(escape(f"{title} n° {meta.number}"), styles["Title"])]
    info = PdfTable(
        [
            [Paragraph(escape(k), styles["BodyText"]), Paragraph(escape(v), styles["BodyText"])]
            for k, v in meta.lines()
        ],
        colWidths=[5 * cm, 12.4 * cm],
    )
    info.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.grey),
            ]
        )
    )
    story += [info, Spacer(1, 0.5 * cm)]
    chosen = [t for t in tables if t.scope == CUMULATIVE] if resume else list(tables)
    for table in chosen:
        rows = [
            [Paragraph(escape(cell), styles["BodyText"]) for cell in row]
            for row in table_rows(table)
        ]
        width = 17.4 * cm
        first = min(7 * cm, width / 2)
        others = (width - first) / max(1, len(rows[0]) - 1)
        grid = PdfTable(rows, colWidths=[first] + [others] * (len(rows[0]) - 1), repeatRows=1)
        grid.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef4")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        block = [Paragraph(escape(table.full_title), styles["Heading3"]), grid]
        if table.note:
            block.append(Paragraph(escape(table.note), styles["Italic"]))
        story += [KeepTogether(block), Spacer(1, 0.4 * cm)]
    doc.build(story)
    return out.getvalue()


def write_all(directory: Path, meta: Meta, tables: Sequence[Table]) -> list[Path]:
    """Write the PDFs, the workbook and the CSV tables into `directory` (created)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in (
        (PDF_REPORT, pdf_bytes(meta, tables, resume=False)),
        (PDF_RESUME, pdf_bytes(meta, tables, resume=True)),
        (XLSX_NAME, xlsx_bytes(meta, tables)),
    ):
        path = directory / name
        path.write_bytes(data)
        written.append(path)
    return written + write_csv(directory, meta, tables)
