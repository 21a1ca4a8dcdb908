"""Pseudonymised exports, streamed: CSV per form, and CDISC ODM 1.3.2 XML (metadata and data).

Rows come from the database in batches (server-side cursor on PostgreSQL) and are decrypted
and written one at a time, so memory stays flat whatever the number of submissions. Exports
carry the case number, never the identification letters or birth data; limited patients are
left out. The rows come from `export_rows`, shared with the ODM writer (`odm.py`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy.orm import Session

from portal.meddra.services import TermNames
from portal.meddra.services import level_of as meddra_level
from portal.protocols.schema import FieldDef, Form, Protocol
from portal.records.display import choice_labels
from portal.records.export_rows import (  # noqa: F401 - the export's public names
    BATCH,
    FORMATS,
    ExportJob,
    Opener,
    ResearchNotCovered,
    exported_versions,
    finish,
    prepare_export,
    rows,
    submitted_text,
)
from portal.records.odm import stream_odm
from portal.records.policy import HIDDEN_IDENTIFIERS
from portal.records.versions import protocol_of

#: a cell starting with one of these could run as a formula in a spreadsheet
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# --- CSV -----------------------------------------------------------------------------------------


def _safe(text: str) -> str:
    """Defuse a typed value a spreadsheet would run as a formula."""
    if text.startswith(_FORMULA_START) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


#: what to do to a cell after the raw values are picked
_LABEL, _LABELS, _JOIN, _SAFE, _TERM = range(5)


class _Picker:
    """Picks a group of fields (the form's, or one repeated entry's) as CSV cells.

    The values come out of one C-level `itemgetter` call on the answers merged over blanks; a
    label column repeats its field's key and is then mapped through the label table. Only the
    cells that need it (labels, multiple choices, typed codes) are touched in Python.
    """

    def __init__(self, fields: list[FieldDef], protocol: Protocol, locale: str,
                 suffix: str = "", terms: TermNames | None = None) -> None:
        keys: list[str] = []
        self.headers: list[str] = []
        self.fixups: list[tuple[int, int, Any]] = []
        for fld in fields:
            labels = choice_labels(fld, protocol, locale)
            multiple = fld.type == "multiple_choice"
            keys.append(fld.key)
            self.headers.append(fld.key + suffix)
            if multiple:
                self.fixups.append((len(keys) - 1, _JOIN, None))
            elif fld.type == "coded" and not fld.code_list:
                self.fixups.append((len(keys) - 1, _SAFE, None))
            if labels is not None:
                keys.append(fld.key)
                self.headers.append(f"{fld.key}{suffix}_label")
                self.fixups.append((len(keys) - 1, _LABELS if multiple else _LABEL, labels))
            elif terms is not None and (level := meddra_level(fld)) is not None:
                # The MedDRA name beside the code, from the laboratory's release.
                keys.append(fld.key)
                self.headers.append(f"{fld.key}{suffix}_label")
                self.fixups.append((len(keys) - 1, _TERM, (terms, level)))
        self.width = len(keys)
        self.blank: dict[str, Any] = dict.fromkeys(keys)
        getter = itemgetter(*keys) if keys else (lambda _a: ())
        self.get = getter if len(keys) != 1 else (lambda a, g=getter: (g(a),))

    def cells(self, answers: dict[str, Any]) -> list[Any]:
        out = list(self.get({**self.blank, **answers}))
        for position, action, table in self.fixups:
            value = out[position]
            if value is None:
                continue
            if action == _LABEL:
                out[position] = table.get(value, value)
            elif action == _LABELS:
                out[position] = "|".join(table.get(v, v) for v in value)
            elif action == _JOIN:
                out[position] = "|".join(value)
            elif action == _TERM:
                names, level = table
                out[position] = _safe(names.name(value, level) or "")
            else:
                out[position] = _safe(str(value))
        return out


class CsvLayout:
    """The columns of a form's CSV: fields in order, repeated sections numbered, no identifier
    (letters, birth data), a label column after every coded one; under a research formality,
    only the fields in its scope (`scope`, field keys)."""

    def __init__(self, protocol: Protocol, form: Form, locale: str,
                 terms: TermNames | None = None, scope: frozenset[str] | None = None) -> None:
        top: list[FieldDef] = []
        #: (section key, maximum, a picker per entry, blank cells after n entries)
        self.repeats: list[tuple[str, int, list[_Picker], list[tuple[None, ...]]]] = []
        for section in form.sections:
            fields = [f for f in section.fields if f.identifies not in HIDDEN_IDENTIFIERS
                      and (scope is None or f.key in scope)]
            if section.repeat is None:
                top.extend(fields)
            elif fields:
                maximum = section.repeat.max
                pickers = [_Picker(fields, protocol, locale, f"_{i + 1}", terms)
                           for i in range(maximum)]
                width = pickers[0].width
                pads = [(None,) * (width * (maximum - n)) for n in range(maximum + 1)]
                self.repeats.append((section.key, maximum, pickers, pads))
        self.top = _Picker(top, protocol, locale, terms=terms)
        self.headers = list(self.top.headers)
        for _key, _maximum, pickers, _pads in self.repeats:
            for picker in pickers:
                self.headers.extend(picker.headers)

    def cells(self, answers: dict[str, Any]) -> list[Any]:
        """Return the answer cells of one submission."""
        out = self.top.cells(answers)
        for key, _maximum, pickers, pads in self.repeats:
            entries = answers.get(key) or ()
            for index, entry in enumerate(entries[:len(pickers)]):
                out.extend(pickers[index].cells(entry))
            out.extend(pads[min(len(entries), len(pickers))])
        return out


FIXED_HEADERS = ["case_number", "record_id", "protocol_version", "revision", "submitted_at",
                 "integrity_check", "export_purpose"]
#: `integrity_check` of a row: exported, or refused (its answers failed authentication)
CHECK_OK, CHECK_FAILED = "ok", "failed"


def stream_csv(session: Session, job: ExportJob) -> Iterator[str]:
    """Yield the CSV text of a one-form export, a batch of lines at a time."""
    assert job.form_key is not None
    definition = protocol_of(job.version).definition
    layout = CsvLayout(definition, definition.form(job.form_key), job.locale,
                       TermNames(session, job.locale), job.scope(job.form_key))
    cells = layout.cells
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writerow = writer.writerow
    writerow(FIXED_HEADERS + layout.headers)
    opener = Opener(session, job)
    answers_of = opener.answers
    # PostgreSQL and SQLite format submitted_at themselves (see `submitted_text`).
    formatted = session.get_bind().dialect.name in ("postgresql", "sqlite")
    pending = 0
    purpose = str(job.purpose)
    for row in rows(session, job, by_subject=False):
        answers = answers_of(row)
        submitted = row[8] if formatted else _iso(row[8])
        if answers is None:
            # Listed without its answers, so the reader knows a record is missing and which.
            writerow([row[9], f"S{row[5]}", row[13], row[3], submitted, CHECK_FAILED, purpose])
            continue
        writerow([row[9], f"S{row[5]}", row[13], row[3], submitted, CHECK_OK, purpose,
                  *cells(answers)])
        pending += 1
        if pending >= 500:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue()


def _iso(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else ""


def stream(session: Session, job: ExportJob) -> Iterator[str]:
    """Yield the export in its format."""
    if job.fmt == "csv":
        return stream_csv(session, job)
    return stream_odm(session, job)
