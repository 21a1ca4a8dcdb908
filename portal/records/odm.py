"""CDISC ODM 1.3.2 export: the study's metadata first, then its ClinicalData, streamed subject
after subject.

The metadata is a `Study` with one `MetaDataVersion` per protocol version the exported rows were
filled with (the version in force first): the visit schedule as study events, forms, sections as
item groups (repeated ones `Repeating="Yes"`), fields as items with their French and English
labels, types, static bounds and units, and the code lists with their labels. It defines every
OID the ClinicalData refers to. Item values are the stored codes (several codes of a multiple
choice are joined by commas); identification fields (letters, birth data) are left out of the
metadata and the data, like in every export.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from flask_babel import force_locale
from sqlalchemy.orm import Session, defer

from portal import clock
from portal.errors import NotFound
from portal.meddra.services import TermNames
from portal.meddra.services import level_of as meddra_level
from portal.protocols.models import ProtocolVersion
from portal.protocols.schema import Choice, FieldDef, Form, Protocol, Schedule, Section, Text
from portal.records.display import choice_labels
from portal.records.export_rows import ExportJob, Opener, exported_versions, rows
from portal.records.policy import HIDDEN_IDENTIFIERS
from portal.records.versions import protocol_of

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
#: the languages of every label, in the order written
LANGUAGES = ("fr", "en")
#: the event of a submission whose form has no timepoint and no visit field answered
UNSCHEDULED = "UNSCHEDULED"
_DATA_TYPES = {
    "integer": "integer", "decimal": "float", "date": "date", "partial_date": "partialDate",
    "year": "integer", "yes_no": "text", "single_choice": "text", "multiple_choice": "text",
    "coded": "text", "calculated": "float",
}


def _oid(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text)


def _mdv_oid(version_label: str, content_hash: str) -> str:
    return f"MDV.{_oid(version_label)}.{content_hash[:12]}"


@dataclass(frozen=True)
class _FormLayout:
    """How a form's answers become ODM item groups."""

    groups: list[tuple[str, bool, list[str]]]  # (section key, repeated, field keys)
    event_field: str | None
    first_timepoint: str | None
    repeatable: bool
    #: MedDRA-coded field key -> level (LLT, PT), when a release names the codes: each gets a
    #: companion item `<key>_term` with the term, as the CSV has a `_label` column
    meddra: dict[str, str]


def _layout(protocol: Protocol, form: Form, *, with_terms: bool = False,
            scope: frozenset[str] | None = None) -> _FormLayout:
    """`scope`: under a research formality, the only field keys exported (none else, not even
    the visit field that would name the event)."""
    codes = {tp.code for tp in protocol.schedule.timepoints}
    event_field = None
    for _si, _fi, _section, fld in form.iter_fields():
        if (fld.type == "single_choice" and {c.code for c in fld.choices} & codes
                and (scope is None or fld.key in scope)):
            event_field = fld.key
            break
    groups = [(s.key, s.repeat is not None,
               [f.key for f in s.fields if f.identifies not in HIDDEN_IDENTIFIERS
                and (scope is None or f.key in scope)])
              for s in form.sections]
    meddra = {fld.key: level for _si, _fi, _section, fld in form.iter_fields()
              if with_terms and (level := meddra_level(fld)) is not None}
    return _FormLayout(groups, event_field, form.timepoints[0] if form.timepoints else None,
                       form.repeatable, meddra)


# --- metadata --------------------------------------------------------------------------------


def _translated(tag: str, text: Text) -> str:
    """`<tag>` holding a text in each language of the portal."""
    return (f"<{tag}>" + "".join(
        f'<TranslatedText xml:lang="{lang}">{escape(getattr(text, lang))}</TranslatedText>'
        for lang in LANGUAGES) + f"</{tag}>")


def _yes(flag: bool) -> str:
    return "Yes" if flag else "No"


def _mandatory(fld: FieldDef) -> bool:
    """Whether an item is in every copy of its group: required and shown whatever the answers
    (a required field hidden by its condition is absent from the data)."""
    return fld.required and fld.visible_if is None


def _group_mandatory(section: Section, fields: list[FieldDef]) -> bool:
    """Whether a group is in every copy of its form: a shown section with an always present
    item (a hidden section, or a repeated one without entries, leaves no group)."""
    return section.visible_if is None and (section.repeat is None or section.repeat.min > 0) \
        and any(_mandatory(fld) for fld in fields)


def _bounds(fld: FieldDef) -> list[tuple[str, str]]:
    """Static bounds as (comparator, value); a bound written as an expression (`today`, another
    field) has no ODM form and is checked by the portal only."""
    if fld.type not in ("integer", "decimal", "year", "date"):
        return []
    found = []
    for comparator, value in (("GE", fld.min), ("LE", fld.max)):
        if isinstance(value, date):
            found.append((comparator, value.isoformat()))
        elif isinstance(value, Decimal):
            found.append((comparator, format(value, "f")))
        elif isinstance(value, int):
            found.append((comparator, str(value)))
    return found


def _comment(fld: FieldDef) -> str | None:
    """What the type alone does not say about a value."""
    if fld.type == "multiple_choice":
        return "Codes of the list; several are joined by commas."
    if fld.type == "calculated":
        return f"Calculated by the portal: {fld.expression}"
    if fld.type == "coded" and fld.pattern and not fld.code_list:
        return f"A code matching {fld.pattern}"
    return None


def _code_list(oid: str, name: str, label: Text | None, choices: list[Choice]) -> str:
    items = "".join(f'<CodeListItem CodedValue={quoteattr(c.code)} OrderNumber="{n}">' +
                    _translated("Decode", c.label) + "</CodeListItem>"
                    for n, c in enumerate(choices, start=1))
    description = _translated("Description", label) if label is not None else ""
    return (f'<CodeList OID="{oid}" Name={quoteattr(name)} DataType="text">' + description +
            items + "</CodeList>")


def _recurring(schedule: Schedule, code: str) -> bool:
    """Whether `code` names a visit of the schedule's recurring part, as the portal names them
    (M12, M18... after M6; see `portal.records.schedule`)."""
    then = schedule.then
    if then is None or re.fullmatch(r"M[0-9]+", code) is None:
        return False
    base = next((tp for tp in schedule.timepoints if tp.code == then.after), None)
    start = base.month if base is not None and base.month is not None else 0
    month = int(code[1:])
    return month > start and (month - start) % then.every_months == 0


def _form_events(form: Form, layout: _FormLayout) -> list[tuple[str, Text | None]]:
    """The events a form's submissions may be filed under (see `stream_odm`), with the label
    of those that are answers of its visit field."""
    choices: list[Choice] = []
    for _si, _fi, _section, fld in form.iter_fields():
        if fld.key == layout.event_field and fld.type == "single_choice":
            choices = fld.choices
    labels = {c.code: c.label for c in choices}
    codes = [*form.timepoints, *labels, layout.first_timepoint or UNSCHEDULED]
    return [(code, labels.get(code)) for code in dict.fromkeys(codes)]


class _MetaDataVersion:
    """The metadata of one protocol version, limited to the exported forms."""

    def __init__(self, protocol: Protocol, units: dict[str, str],
                 yes_no: dict[str, Text]) -> None:
        self.protocol = protocol
        self.units = units
        #: the labels of yes/no/unknown, shared by every version of the export
        self.yes_no = yes_no
        #: event OID -> (name, label, scheduled), the schedule's timepoints first
        self.events: dict[str, tuple[str, Text | None, bool]] = {
            f"SE.{_oid(tp.code)}": (tp.code, tp.label, True)
            for tp in protocol.schedule.timepoints}
        self.event_forms: dict[str, list[str]] = {}
        self.form_defs: list[str] = []
        self.group_defs: list[str] = []
        self.item_defs: dict[str, str] = {}
        self.code_lists: dict[str, str] = {}

    def add_form(self, form: Form, layout: _FormLayout) -> None:
        """Define a form, its events, item groups, items and code lists."""
        form_oid = f"F.{_oid(form.key)}"
        for code, label in _form_events(form, layout):
            event_oid = f"SE.{_oid(code)}"
            self.events.setdefault(event_oid, (
                code, label, _recurring(self.protocol.schedule, code)))
            refs = self.event_forms.setdefault(event_oid, [])
            if form_oid not in refs:
                refs.append(form_oid)
        group_refs: list[str] = []
        for section, (section_key, repeated, keys) in zip(form.sections, layout.groups,
                                                           strict=True):
            if not keys:
                continue  # only identification fields: never in the data
            fields = {f.key: f for f in section.fields}
            group_oid = f"IG.{_oid(form.key)}.{_oid(section_key)}"
            item_refs: list[str] = []
            for key in keys:
                fld = fields[key]
                item_oid = f"I.{_oid(form.key)}.{_oid(key)}"
                item_refs.append(f'<ItemRef ItemOID="{item_oid}" '
                                 f'OrderNumber="{len(item_refs) + 1}" '
                                 f'Mandatory="{_yes(_mandatory(fld))}"/>')
                if item_oid not in self.item_defs:
                    self.item_defs[item_oid] = self.item_def(item_oid, form.key, fld)
                if key in layout.meddra:
                    term_oid = f"{item_oid}_term"
                    item_refs.append(f'<ItemRef ItemOID="{term_oid}" '
                                     f'OrderNumber="{len(item_refs) + 1}" Mandatory="No"/>')
                    self.item_defs.setdefault(term_oid, _term_item_def(term_oid, fld))
            always = _group_mandatory(section, [fields[key] for key in keys])
            group_refs.append(f'<ItemGroupRef ItemGroupOID="{group_oid}" '
                              f'OrderNumber="{len(group_refs) + 1}" Mandatory="{_yes(always)}"/>')
            self.group_defs.append(
                f'<ItemGroupDef OID="{group_oid}" Name={quoteattr(section_key)} '
                f'Repeating="{_yes(repeated)}">' + _translated("Description", section.title) +
                "".join(item_refs) + "</ItemGroupDef>")
        self.form_defs.append(
            f'<FormDef OID="{form_oid}" Name={quoteattr(form.key)} '
            f'Repeating="{_yes(form.repeatable)}">' + _translated("Description", form.title) +
            "".join(group_refs) + "</FormDef>")

    def item_def(self, oid: str, form_key: str, fld: FieldDef) -> str:
        attrs = f'OID="{oid}" Name={quoteattr(fld.key)} DataType="{_DATA_TYPES[fld.type]}"'
        if fld.type == "coded" and fld.max_length:
            attrs += f' Length="{fld.max_length}"'
        if fld.type in ("decimal", "calculated"):
            attrs += f' SignificantDigits="{fld.decimals}"'
        comment = _comment(fld)
        if comment:
            attrs += f" Comment={quoteattr(comment)}"
        # The children's order is the schema's: Description, Question, units, checks, list.
        parts = [f"<ItemDef {attrs}>"]
        if fld.help is not None:
            parts.append(_translated("Description", fld.help))
        parts.append(_translated("Question", fld.label))
        unit = getattr(fld, "unit", None)
        if unit:
            parts.append(f'<MeasurementUnitRef MeasurementUnitOID="{self.units[unit]}"/>')
        parts.extend(f'<RangeCheck Comparator="{comparator}" SoftHard="Hard">'
                     f"<CheckValue>{escape(value)}</CheckValue></RangeCheck>"
                     for comparator, value in _bounds(fld))
        list_oid = self.code_list(form_key, fld)
        if list_oid is not None:
            parts.append(f'<CodeListRef CodeListOID="{list_oid}"/>')
        parts.append("</ItemDef>")
        return "".join(parts)

    def code_list(self, form_key: str, fld: FieldDef) -> str | None:
        """Define the list of a closed field (once) and return its OID; None for open ones."""
        own = f"CL.{_oid(form_key)}.{_oid(fld.key)}"
        if fld.type == "yes_no":
            # Upper case: never the key of a protocol list.
            oid, codes = ("CL.YNU", ("yes", "no", "unknown")) if fld.unknown else \
                ("CL.YN", ("yes", "no"))
            if oid not in self.code_lists:
                if not self.yes_no:
                    self.yes_no.update(_yes_no_labels(fld, self.protocol))
                self.code_lists[oid] = _code_list(
                    oid, "yes_no_unknown" if fld.unknown else "yes_no", None,
                    [Choice(code=c, label=self.yes_no[c]) for c in codes])
            return oid
        if fld.type in ("single_choice", "multiple_choice"):
            self.code_lists[own] = _code_list(own, f"{form_key}.{fld.key}", None, fld.choices)
            return own
        if fld.type != "coded":
            return None
        listed = self.protocol.code_lists.get(fld.code_list) if fld.code_list else None
        if listed is not None and fld.code_list is not None:
            oid = f"CL.{_oid(fld.code_list)}"
            if oid not in self.code_lists:
                self.code_lists[oid] = _code_list(oid, fld.code_list, listed.label, listed.codes)
            return oid
        if fld.dictionary:
            self.code_lists[own] = (
                f'<CodeList OID="{own}" Name={quoteattr(f"{form_key}.{fld.key}")} '
                f'DataType="text"><ExternalCodeList Dictionary={quoteattr(fld.dictionary)}/>'
                "</CodeList>")
            return own
        return None

    def xml(self, oid: str, name: str) -> str:
        """The `MetaDataVersion` element, in the order of the schema."""
        # The schedule in its order, then the visits answered in forms, unscheduled last.
        events = sorted(self.events, key=lambda event_oid: event_oid == f"SE.{UNSCHEDULED}")
        parts = [f'<MetaDataVersion OID="{oid}" Name={quoteattr(name)}>', "<Protocol>" + "".join(
            f'<StudyEventRef StudyEventOID="{event_oid}" OrderNumber="{n}" Mandatory="No"/>'
            for n, event_oid in enumerate(events, start=1)) + "</Protocol>"]
        for event_oid in events:
            event_name, label, scheduled = self.events[event_oid]
            # Repeating: the data holds one StudyEventData per submission, so an event comes
            # back for every form filed under it, and for every copy of a repeatable form.
            parts.append(
                f'<StudyEventDef OID="{event_oid}" Name={quoteattr(event_name)} Repeating="Yes" '
                f'Type="{"Scheduled" if scheduled else "Unscheduled"}">' +
                (_translated("Description", label) if label is not None else "") +
                "".join(f'<FormRef FormOID="{form_oid}" OrderNumber="{n}" Mandatory="No"/>'
                        for n, form_oid in enumerate(self.event_forms.get(event_oid, []),
                                                     start=1)) +
                "</StudyEventDef>")
        parts += self.form_defs + self.group_defs + list(self.item_defs.values()) + \
            list(self.code_lists.values())
        parts.append("</MetaDataVersion>")
        return "\n".join(parts) + "\n"


def _yes_no_labels(fld: FieldDef, protocol: Protocol) -> dict[str, Text]:
    """yes, no and unknown with the portal's own labels (its message catalogue), bilingual."""
    labels: dict[str, dict[str, str]] = {}
    for lang in LANGUAGES:
        with force_locale(lang):
            labels[lang] = choice_labels(fld, protocol, lang) or {}
    return {code: Text(fr=labels["fr"][code], en=labels["en"][code]) for code in labels["fr"]}


def _exported_forms(protocol: Protocol, job: ExportJob) -> list[Form]:
    if job.form_key is None:
        forms = list(protocol.forms)
    else:
        try:
            forms = [protocol.form(job.form_key)]
        except KeyError:  # a version without this form: none of its rows are exported
            return []
    # Under a research formality, only the forms it covers a field of.
    return [form for form in forms if job.scope(form.key) != frozenset()]


def _exported_keys(layout: _FormLayout) -> set[str]:
    return {key for _section, _repeated, keys in layout.groups for key in keys}


def _study(session: Session, job: ExportJob, layouts: dict[tuple[int, str], _FormLayout], *,
           with_terms: bool = False) -> Iterator[str]:
    """Yield the `Study` element: one MetaDataVersion per version the rows were filled with.

    Fills `layouts`, so that the data is written with the very layouts the metadata describes.
    """
    # The version in force first, even without rows: an importer reading one version takes
    # the first, and an empty export still describes the study.
    versions = [job.version] + [_version(session, i) for i in exported_versions(session, job)
                                if i != job.version.id]
    described: list[tuple[ProtocolVersion, Protocol, list[Form]]] = []
    for version in versions:
        definition = protocol_of(version).definition
        forms = _exported_forms(definition, job)
        for form in forms:
            layouts[(version.id, form.key)] = _layout(definition, form, with_terms=with_terms,
                                                      scope=job.scope(form.key))
        described.append((version, definition, forms))
    units = sorted({unit for version, _definition, forms in described for form in forms
                    for _si, _fi, _section, fld in form.iter_fields()
                    if (unit := getattr(fld, "unit", None)) and
                    fld.key in _exported_keys(layouts[(version.id, form.key)])})
    unit_oids = {unit: f"MU.{n}" for n, unit in enumerate(units, start=1)}
    current = described[0][1]
    product = current.product
    description = f"{product.name} ({product.inn or product.code}): " + "; ".join(
        indication.label.get(job.locale) for indication in current.indications)
    head = [f'<Study OID="{_oid(job.protocol_key)}">',
            "<GlobalVariables>"
            f"<StudyName>{escape(current.title.get(job.locale))}</StudyName>"
            f"<StudyDescription>{escape(description)}</StudyDescription>"
            f"<ProtocolName>{escape(current.ansm.put_sp_reference)}</ProtocolName>"
            "</GlobalVariables>"]
    if unit_oids:
        head.append("<BasicDefinitions>" + "".join(
            f'<MeasurementUnit OID="{oid}" Name={quoteattr(unit)}><Symbol>'
            f"<TranslatedText>{escape(unit)}</TranslatedText></Symbol></MeasurementUnit>"
            for unit, oid in unit_oids.items()) + "</BasicDefinitions>")
    yield "\n".join(head) + "\n"
    yes_no: dict[str, Text] = {}
    for version, definition, forms in described:
        metadata = _MetaDataVersion(definition, unit_oids, yes_no)
        for form in forms:
            metadata.add_form(form, layouts[(version.id, form.key)])
        yield metadata.xml(_mdv_oid(version.version_label, version.content_hash),
                           f"{definition.key} v{version.version_label}")
    yield "</Study>\n"


def _term_item_def(oid: str, fld: FieldDef) -> str:
    """The companion item that carries the MedDRA term of a coded field's value."""
    return (f'<ItemDef OID="{oid}" Name={quoteattr(fld.key + "_term")} DataType="text">'
            '<Description>'
            f'<TranslatedText xml:lang="fr">Terme MedDRA de {escape(fld.key)}, selon la '
            "version chargée par le laboratoire</TranslatedText>"
            f'<TranslatedText xml:lang="en">MedDRA term of {escape(fld.key)}, from the '
            "laboratory's loaded release</TranslatedText></Description>"
            + _translated("Question", fld.label) + "</ItemDef>")


# --- clinical data ---------------------------------------------------------------------------


def _item(form_key: str, key: str, value: Any) -> str:
    text = ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return (f'<ItemData ItemOID="I.{_oid(form_key)}.{_oid(key)}" '
            f"Value={quoteattr(text)}/>")


def _items(layout: _FormLayout, form_key: str, keys: list[str], values: dict[str, Any],
           terms: TermNames) -> list[str]:
    items = []
    for key in keys:
        value = values.get(key)
        if value is None:
            continue
        items.append(_item(form_key, key, value))
        if key in layout.meddra:
            name = terms.name(value, layout.meddra[key])
            if name is not None:
                items.append(_item(form_key, f"{key}_term", name))
    return items


def _form_xml(layout: _FormLayout, form_key: str, repeat_key: str,
              answers: dict[str, Any], terms: TermNames) -> str:
    # A repeat key only where the metadata says the form repeats (the event already names
    # the submission).
    repeat = f' FormRepeatKey="{repeat_key}"' if layout.repeatable else ""
    parts = [f'<FormData FormOID="F.{_oid(form_key)}"{repeat}>']
    for section, repeated, keys in layout.groups:
        group_oid = f"IG.{_oid(form_key)}.{_oid(section)}"
        if repeated:
            for index, entry in enumerate(answers.get(section) or [], start=1):
                items = _items(layout, form_key, keys, entry, terms)
                if items:
                    parts.append(f'<ItemGroupData ItemGroupOID="{group_oid}" '
                                 f'ItemGroupRepeatKey="{index}">' + "".join(items) +
                                 "</ItemGroupData>")
        else:
            items = _items(layout, form_key, keys, answers, terms)
            if items:
                parts.append(f'<ItemGroupData ItemGroupOID="{group_oid}">' + "".join(items) +
                             "</ItemGroupData>")
    parts.append("</FormData>")
    return "".join(parts)


def stream_odm(session: Session, job: ExportJob) -> Iterator[str]:
    """Yield an ODM 1.3.2 Snapshot: the Study metadata, then the ClinicalData, one subject
    after the other."""
    created = clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    # No Granularity: none of its values says "the metadata and part of the clinical data".
    yield ('<?xml version="1.0" encoding="UTF-8"?>\n'
           f'<ODM xmlns="{ODM_NS}" ODMVersion="1.3.2" FileType="Snapshot" '
           f'FileOID="AAC.{_oid(job.protocol_key)}.{secrets.token_hex(8)}" '
           f'CreationDateTime="{created}" SourceSystem="AAC Portal" '
           f'Description={quoteattr(_description(job))}>\n')
    layouts: dict[tuple[int, str], _FormLayout] = {}
    terms = TermNames(session, job.locale)
    yield from _study(session, job, layouts, with_terms=terms.loaded)
    opener = Opener(session, job)
    current_version_id = current_subject = None
    out: list[str] = []
    for row in rows(session, job, by_subject=True):
        if job.scope(row.form_key) == frozenset():
            continue  # a form the research formality covers nothing of
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
                       f'MetaDataVersionOID="{_mdv_oid(row.version_label, row.content_hash)}">')
        if row.case_number != current_subject:
            if current_subject is not None:
                out.append("</SubjectData>\n")
            current_subject = row.case_number
            out.append(f"<SubjectData SubjectKey={quoteattr(row.case_number)}>")
        layout = layouts.get((row.version_id, row.form_key))
        if layout is None:
            definition = _definition(session, row.version_id)
            layout = layouts[(row.version_id, row.form_key)] = _layout(
                definition, definition.form(row.form_key), with_terms=terms.loaded,
                scope=job.scope(row.form_key))
        event = (answers.get(layout.event_field) if layout.event_field else None) or \
            layout.first_timepoint or UNSCHEDULED
        # One occurrence per submission: events are Repeating in the metadata.
        out.append(f'<StudyEventData StudyEventOID="SE.{_oid(str(event))}" '
                   f'StudyEventRepeatKey="S{row.id}">' +
                   _form_xml(layout, row.form_key, f"S{row.id}", answers, terms) +
                   "</StudyEventData>")
        if len(out) >= 200:
            yield "".join(out)
            out.clear()
    if current_subject is not None:
        out.append("</SubjectData>")
    if current_version_id is not None:
        out.append("</ClinicalData>\n")
    if job.refused:
        # ODM has no element for a record left out; a comment lists them for the reader.
        listed = ", ".join(f"{ref} (case {case})" for ref, case in job.refused)
        out.append(f"<!-- Refused by the integrity check, not exported: {listed} -->\n")
    out.append("</ODM>\n")
    yield "".join(out)


def _description(job: ExportJob) -> str:
    """The root's Description: the purpose and, for research, the formality covering it."""
    if job.research is None:
        return f"purpose: {job.purpose}"
    return (f"purpose: {job.purpose}; formality: {job.research.reference} "
            f"({job.research.formality}); notice: {job.research.notice}")


def _version(session: Session, version_id: int) -> ProtocolVersion:
    # The text is read by `protocol_of` only if the version was not parsed yet.
    version = session.get(ProtocolVersion, version_id,
                          options=[defer(ProtocolVersion.source_text)])
    if version is None:
        raise NotFound()
    return version


def _definition(session: Session, version_id: int) -> Protocol:
    return protocol_of(_version(session, version_id)).definition
