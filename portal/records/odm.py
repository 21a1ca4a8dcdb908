"""CDISC ODM 1.3.2 ClinicalData export, streamed subject after subject.

Item values are the stored codes (the labels belong to the ODM metadata, not exported here);
identification fields (letters, birth data) are left out like in every export.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import quoteattr

from sqlalchemy.orm import Session

from portal import clock
from portal.errors import NotFound
from portal.protocols.models import ProtocolVersion
from portal.protocols.schema import Form, Protocol
from portal.records.export import ExportJob, Opener, rows
from portal.records.policy import HIDDEN_IDENTIFIERS
from portal.records.versions import protocol_of

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"


def _oid(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text)


@dataclass(frozen=True)
class _FormLayout:
    """How a form's answers become ODM item groups."""

    groups: list[tuple[str, bool, list[str]]]  # (section key, repeated, field keys)
    event_field: str | None
    first_timepoint: str | None


def _layout(protocol: Protocol, form: Form) -> _FormLayout:
    codes = {tp.code for tp in protocol.schedule.timepoints}
    event_field = None
    for _si, _fi, _section, fld in form.iter_fields():
        if fld.type == "single_choice" and {c.code for c in fld.choices} & codes:
            event_field = fld.key
            break
    groups = [(s.key, s.repeat is not None,
               [f.key for f in s.fields if f.identifies not in HIDDEN_IDENTIFIERS])
              for s in form.sections]
    return _FormLayout(groups, event_field, form.timepoints[0] if form.timepoints else None)


def _item(form_key: str, key: str, value: Any) -> str:
    text = ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return (f'<ItemData ItemOID="I.{_oid(form_key)}.{_oid(key)}" '
            f"Value={quoteattr(text)}/>")


def _form_xml(layout: _FormLayout, form_key: str, repeat_key: str,
              answers: dict[str, Any]) -> str:
    parts = [f'<FormData FormOID="F.{_oid(form_key)}" FormRepeatKey="{repeat_key}">']
    for section, repeated, keys in layout.groups:
        group_oid = f"IG.{_oid(form_key)}.{_oid(section)}"
        if repeated:
            for index, entry in enumerate(answers.get(section) or [], start=1):
                items = [_item(form_key, k, entry[k]) for k in keys if entry.get(k) is not None]
                if items:
                    parts.append(f'<ItemGroupData ItemGroupOID="{group_oid}" '
                                 f'ItemGroupRepeatKey="{index}">' + "".join(items) +
                                 "</ItemGroupData>")
        else:
            items = [_item(form_key, k, answers[k]) for k in keys if answers.get(k) is not None]
            if items:
                parts.append(f'<ItemGroupData ItemGroupOID="{group_oid}">' + "".join(items) +
                             "</ItemGroupData>")
    parts.append("</FormData>")
    return "".join(parts)


def stream_odm(session: Session, job: ExportJob) -> Iterator[str]:
    """Yield an ODM 1.3.2 Snapshot with ClinicalData, one subject after the other."""
    created = clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    yield ('<?xml version="1.0" encoding="UTF-8"?>\n'
           f'<ODM xmlns="{ODM_NS}" ODMVersion="1.3.2" FileType="Snapshot" '
           f'FileOID="AAC.{_oid(job.protocol_key)}.{secrets.token_hex(8)}" '
           f'CreationDateTime="{created}" Granularity="AllClinicalData" '
           'SourceSystem="AAC Portal">\n')
    opener = Opener(session, job)
    layouts: dict[tuple[int, str], _FormLayout] = {}
    current_version_id = current_subject = None
    out: list[str] = []
    for row in rows(session, job, by_subject=True):
        answers = opener.answers(row)
        if answers is None:
            continue
        if row.version_id != current_version_id:
            if current_subject is not None:
                out.append("</SubjectData>")
            if current_version_id is not None:
                out.append("</ClinicalData>\n")
            current_version_id, current_subject = row.version_id, None
            out.append(f'<ClinicalData StudyOID="{_oid(row.protocol_key)}" '
                       f'MetaDataVersionOID="MDV.{_oid(row.version_label)}.'
                       f'{row.content_hash[:12]}">')
        if row.case_number != current_subject:
            if current_subject is not None:
                out.append("</SubjectData>\n")
            current_subject = row.case_number
            out.append(f"<SubjectData SubjectKey={quoteattr(row.case_number)}>")
        layout = layouts.get((row.version_id, row.form_key))
        if layout is None:
            definition = _definition(session, row.version_id)
            layout = layouts[(row.version_id, row.form_key)] = _layout(
                definition, definition.form(row.form_key))
        event = (answers.get(layout.event_field) if layout.event_field else None) or \
            layout.first_timepoint or "UNSCHEDULED"
        out.append(f'<StudyEventData StudyEventOID="SE.{_oid(str(event))}">' +
                   _form_xml(layout, row.form_key, f"S{row.id}", answers) +
                   "</StudyEventData>")
        if len(out) >= 200:
            yield "".join(out)
            out.clear()
    if current_subject is not None:
        out.append("</SubjectData>")
    if current_version_id is not None:
        out.append("</ClinicalData>\n")
    out.append("</ODM>\n")
    yield "".join(out)


def _definition(session: Session, version_id: int) -> Protocol:
    version = session.get(ProtocolVersion, version_id)
    if version is None:
        raise NotFound()
    return protocol_of(version).definition


