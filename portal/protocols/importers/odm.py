"""Import CDISC ODM 1.3.x metadata (StudyEventDef, FormDef, ItemGroupDef, ItemDef, CodeList,
RangeCheck, ConditionDef, MethodDef, TranslatedText) into a protocol definition.

The XML is read with expat directly: no DTD and no entity declaration is accepted (no entity
expansion attacks, no external fetches), and every element keeps its line for error messages.
Vendor extensions (OpenClinica, REDCap) are read by local name and otherwise ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from xml.parsers import expat

from portal.protocols.importers.common import (
    PLACEHOLDER_NOTE,
    Draft,
    FieldReport,
    ImportFormatError,
    ImportReport,
    LogicToken,
    TargetField,
    Untranslatable,
    default_window,
    finalize,
    guess_kind,
    placeholder_protocol,
    plain_text,
    scope_of,
    slug,
    timepoint_offset,
    translate,
    unique,
    valid_code,
)

_DEFAULT_REPEAT_MAX = 10
_DEFAULT_BOUND = 999999
_EXTERNAL_PATTERNS = {
    "MEDDRA": (r"^[0-9]{8}$", 8, "MedDRA"),
    "ATC": (r"^[A-Z]([0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?)?$", 7, "ATC"),
}
_BOOLEAN_CODES = {"1": "yes", "0": "no", "true": "yes", "false": "no", "Yes": "yes", "No": "no",
                  "Y": "yes", "N": "no"}
_FUNCTIONS = {"round": "round", "abs": "abs", "min": "min", "max": "max"}


@dataclass
class Node:
    """An XML element by local name, with its attributes (local names), children and line."""

    tag: str
    attrs: dict[str, str]
    line: int
    children: list[Node] = field(default_factory=list)
    text: str = ""

    def find(self, tag: str) -> Node | None:
        """First child with this local name."""
        return next((c for c in self.children if c.tag == tag), None)

    def findall(self, tag: str) -> list[Node]:
        """Children with this local name."""
        return [c for c in self.children if c.tag == tag]

    def iter(self, tag: str) -> Iterator[Node]:
        """Descendants with this local name."""
        for child in self.children:
            if child.tag == tag:
                yield child
            yield from child.iter(tag)


def parse_xml(text: str | bytes, source: str) -> Node:
    """Parse XML into Nodes, refusing DTDs and entity declarations.

    :raises ImportFormatError: with the line of the problem.
    """
    parser = expat.ParserCreate(namespace_separator=" ")
    stack: list[Node] = []
    root: list[Node] = []

    def refuse(*_args: Any) -> None:
        raise ImportFormatError(source, parser.CurrentLineNumber,
                                "DTDs and entity declarations are not accepted")

    def start(name: str, attrs: dict[str, str]) -> None:
        node = Node(name.rsplit(" ", 1)[-1],
                    {k.rsplit(" ", 1)[-1]: v for k, v in attrs.items()},
                    parser.CurrentLineNumber)
        (stack[-1].children if stack else root).append(node)
        stack.append(node)

    def end(_name: str) -> None:
        node = stack.pop()
        node.text = node.text.strip()

    def data(chunk: str) -> None:
        if stack:
            stack[-1].text += chunk

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    try:
        parser.Parse(text, True)
    except expat.ExpatError as exc:
        raise ImportFormatError(source, exc.lineno,
                                f"XML is not well-formed: {expat.ErrorString(exc.code)}") from None
    if not root:
        raise ImportFormatError(source, 1, "no XML element")
    return root[0]


def _texts(node: Node | None) -> dict[str, str]:
    """TranslatedText children by language ('' when xml:lang is absent)."""
    if node is None:
        return {}
    return {t.attrs.get("lang", "")[:2].lower(): plain_text(t.text)
            for t in node.findall("TranslatedText") if t.text.strip()}


def _bilingual(texts: dict[str, str], fallback: str, report: FieldReport | None,
               what: str) -> dict[str, str]:
    fr = texts.get("fr")
    en = texts.get("en")
    other = next(iter(texts.values()), None)
    if fr and en:
        return {"fr": fr, "en": en}
    if report is not None:
        if other:
            report.convert(f"{what} in one language only; copied to the other")
        else:
            report.convert(f"no {what}; the item's name is used")
    value = fr or en or other or fallback
    return {"fr": value, "en": value}


_TOKEN_RE = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<xpath>(?:\.\./|//|/)?(?:[A-Za-z]+(?:\[@[A-Za-z]+=['"][^'"]*['"]\])?/)*
        ItemData\[@ItemOID=['"](?P<xoid>[^'"]+)['"]\]/@Value)
  | (?P<dollar>\$(?P<doid>[A-Za-z0-9_.-]+))
  | (?P<num>\d+(?:\.\d+)?)
  | (?P<str>'[^']*'|"[^"]*")
  | (?P<cmp>==|!=|<>|<=|>=|=|<|>)
  | (?P<arith>[-+*/^])
  | (?P<word>[A-Za-z_][A-Za-z0-9_.-]*)(?P<call>\s*\()?
  | (?P<paren>[(),])
    """,
    re.VERBOSE,
)
_TOKEN_KINDS = ("space", "xpath", "dollar", "num", "str", "cmp", "arith", "word", "paren")


def tokenize_expression(text: str, oids: dict[str, str]) -> list[LogicToken]:
    """Tokenize an ODM FormalExpression; item references become field keys.

    :raises Untranslatable: for constructs the portal cannot represent.
    """
    tokens: list[LogicToken] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            raise Untranslatable(f"unexpected character {text[pos]!r}")
        kind = next(k for k in _TOKEN_KINDS if match.group(k) is not None)
        pos = match.end()
        if kind == "space":
            continue
        if kind in ("xpath", "dollar"):
            oid = match.group("xoid") or match.group("doid")
            tokens.append(_item_token(oid, oids))
        elif kind == "str":
            tokens.append(LogicToken("str", match.group()[1:-1]))
        elif kind in ("num", "cmp", "arith"):
            tokens.append(LogicToken(kind, match.group()))
        elif kind == "paren":
            tokens.append(LogicToken(match.group(), match.group()))
        else:
            word = match.group("word")
            lower = word.lower()
            if lower in ("and", "or", "not"):
                tokens.append(LogicToken(lower, word))
            elif lower in ("eq", "ne", "lt", "le", "gt", "ge"):
                tokens.append(LogicToken("cmp", lower))
            elif match.group("call"):
                tokens.append(LogicToken("func", word))
            else:
                tokens.append(_item_token(word, oids))
                continue
            if match.group("call"):
                tokens.append(LogicToken("(", "("))
    return tokens


def _item_token(oid: str, oids: dict[str, str]) -> LogicToken:
    if oid not in oids:
        raise Untranslatable(f"refers to item {oid!r}, which is not in this form")
    return LogicToken("field", oids[oid])


@dataclass
class _Pending:
    """A condition or method to translate once the whole form is known."""

    form: dict[str, Any]
    section: dict[str, Any]
    target: dict[str, Any]
    expression: str
    kind: str  # "exception" (field), "section", "method"
    report: FieldReport | None
    oids: dict[str, str]


class _Converter:
    """Walks the MetaDataVersion and builds the draft."""

    def __init__(self, root: Node, source: str, report: ImportReport) -> None:
        self.source = source
        self.report = report
        if root.tag != "ODM":
            raise ImportFormatError(source, root.line,
                                    f"not an ODM document: the root element is <{root.tag}>")
        study = root.find("Study")
        if study is None:
            raise ImportFormatError(source, root.line, "no <Study> element")
        versions = study.findall("MetaDataVersion")
        if not versions:
            raise ImportFormatError(source, study.line, "no <MetaDataVersion> element")
        if len(versions) > 1:
            report.notes.append("several MetaDataVersion elements: the first one is imported")
        self.mdv = versions[0]
        self.study = study
        self.defs: dict[str, dict[str, Node]] = {}
        for tag in ("StudyEventDef", "FormDef", "ItemGroupDef", "ItemDef", "CodeList",
                    "ConditionDef", "MethodDef"):
            table: dict[str, Node] = {}
            for node in self.mdv.findall(tag):
                oid = node.attrs.get("OID")
                if not oid:
                    raise ImportFormatError(source, node.line, f"<{tag}> without an OID")
                if oid in table:
                    raise ImportFormatError(source, node.line, f"OID {oid!r} is defined twice")
                table[oid] = node
            self.defs[tag] = table
        self.units = {
            unit.attrs.get("OID", ""): next(iter(_texts(unit.find("Symbol")).values()),
                                            unit.attrs.get("Name", ""))
            for unit in study.iter("MeasurementUnit")
        }
        name = _global(study, "StudyName") or Path(source).stem
        self.draft = Draft(placeholder_protocol(slug(name, "protocol"), name))
        self.draft.protocol["forms"] = []
        self.pending: list[_Pending] = []

    def lookup(self, tag: str, oid: str | None, ref: Node) -> Node:
        node = self.defs[tag].get(oid or "")
        if node is None:
            raise ImportFormatError(self.source, ref.line,
                                    f"{ref.tag} refers to unknown {tag} {oid!r}")
        return node

    # -- schedule and forms -------------------------------------------------------------------

    def events(self) -> list[tuple[Node, str | None]]:
        """Study events in protocol order, each with its timepoint code (None: not scheduled)."""
        protocol = self.mdv.find("Protocol")
        refs = protocol.findall("StudyEventRef") if protocol is not None else []
        ordered = sorted(refs, key=lambda r: int(r.attrs.get("OrderNumber") or 0))
        events = [self.lookup("StudyEventDef", r.attrs.get("StudyEventOID"), r) for r in ordered]
        events += [e for e in self.defs["StudyEventDef"].values() if e not in events]
        timepoints: list[dict] = []
        codes: set[str] = set()
        result: list[tuple[Node, str | None]] = []
        for event in events:
            name, oid = event.attrs.get("Name", ""), event.attrs["OID"]
            code = None
            if event.attrs.get("Type", "Scheduled") == "Scheduled":
                guessed = timepoint_offset(name, oid.split(".")[-1])
                if guessed is None:
                    self.report.notes.append(f"event {oid!r} (line {event.line}) is not a "
                                             "timepoint: no offset can be read from its name")
                else:
                    unit, amount = guessed
                    window = default_window(unit, amount)
                    code = unique(re.sub(r"[^A-Za-z0-9_.+-]", "_", oid.split(".")[-1])[:40]
                                  or "EVENT", codes)
                    timepoints.append({"code": code, "label": _bilingual(
                        _texts(event.find("Description")), name or oid, None, "label"),
                        unit: amount, "window_before_days": window, "window_after_days": window})
                    self.report.notes.append(
                        f"event {oid!r}: offset read from its name ({unit} {amount}); ODM 1.3 "
                        f"has no visit windows, set to ±{window} days")
            else:
                self.report.notes.append(f"event {oid!r} ({event.attrs.get('Type')}) is filled "
                                         "on occurrence, not at a timepoint")
            result.append((event, code))
        if timepoints:
            self.draft.protocol["schedule"] = {"timepoints": timepoints}
        return result

    def convert(self) -> None:
        form_events: dict[str, list[str]] = {}
        form_order: list[str] = []
        for event, code in self.events():
            refs = sorted(event.findall("FormRef"),
                          key=lambda r: int(r.attrs.get("OrderNumber") or 0))
            for ref in refs:
                oid = self.lookup("FormDef", ref.attrs.get("FormOID"), ref).attrs["OID"]
                if oid not in form_order:
                    form_order.append(oid)
                if code:
                    form_events.setdefault(oid, []).append(code)
        for oid in self.defs["FormDef"]:
            if oid not in form_order:
                form_order.append(oid)
                self.report.notes.append(f"form {oid!r} is not used by any study event")
        used_forms: set[str] = set()
        for oid in form_order:
            self.form(self.defs["FormDef"][oid], form_events.get(oid, []), used_forms)
        self.translate_pending()

    def form(self, node: Node, timepoints: list[str], used: set[str]) -> None:
        name = node.attrs.get("Name") or node.attrs["OID"]
        form: dict[str, object] = {
            "key": unique(slug(name, "form"), used),
            "title": _bilingual(_texts(node.find("Description")), name, None, "title"),
            "kind": guess_kind(f"{name} {node.attrs['OID']}"),
            "put_ref": f"ODM FormDef {node.attrs['OID']}",
            "sections": [],
        }
        if node.attrs.get("Repeating") == "Yes":
            form["repeatable"] = True
        if timepoints:
            form["timepoints"] = timepoints
        self.draft.protocol["forms"].append(form)
        keys: set[str] = set()
        oids: dict[str, str] = {}
        refs = sorted(node.findall("ItemGroupRef"),
                      key=lambda r: int(r.attrs.get("OrderNumber") or 0))
        section_keys: set[str] = set()
        for ref in refs:
            group = self.lookup("ItemGroupDef", ref.attrs.get("ItemGroupOID"), ref)
            self.section(form, group, ref, keys, oids, section_keys)

    def section(self, form: dict, group: Node, ref: Node, keys: set[str], oids: dict[str, str],
                section_keys: set[str]) -> None:
        name = group.attrs.get("Name") or group.attrs["OID"]
        section: dict[str, Any] = {
            "key": unique(slug(name, "section"), section_keys),
            "title": _bilingual(_texts(group.find("Description")), name, None, "title"),
            "fields": [],
        }
        if group.attrs.get("Repeating") == "Yes":
            maximum = _repeat_max(group)
            if maximum is None:
                maximum = _DEFAULT_REPEAT_MAX
                self.report.notes.append(f"item group {group.attrs['OID']!r} repeats without a "
                                         f"maximum: set to {maximum}")
            section["repeat"] = {"max": maximum}
            keys.add(section["key"])  # repeated sections share the fields' namespace
        form["sections"].append(section)
        condition = ref.attrs.get("CollectionExceptionConditionOID")
        if condition:
            text = self.condition_text(condition, ref)
            self.pending.append(_Pending(form, section, section, text, "section", None, oids))
        items = sorted(group.findall("ItemRef"),
                       key=lambda r: int(r.attrs.get("OrderNumber") or 0))
        for item_ref in items:
            self.item(form, section, item_ref, keys, oids)

    def condition_text(self, oid: str, ref: Node) -> str:
        condition = self.lookup("ConditionDef", oid, ref)
        expression = condition.find("FormalExpression")
        return expression.text if expression is not None else ""

    # -- items --------------------------------------------------------------------------------

    def item(self, form: dict, section: dict, ref: Node, keys: set[str],
             oids: dict[str, str]) -> None:
        item = self.lookup("ItemDef", ref.attrs.get("ItemOID"), ref)
        oid = item.attrs["OID"]
        name = item.attrs.get("Name") or oid
        key = unique(slug(name, "item"), keys)
        oids[oid] = key
        entry = self.report.add(f"ItemDef {oid} (line {item.line})", form["key"], key)
        label = _bilingual(_texts(item.find("Question")) or _texts(item.find("Description")),
                           name, entry, "question text")
        fld: dict[str, Any] = {"key": key, "label": label, "category": "health",
                               "put_ref": f"ODM ItemDef {oid}"}
        description = _texts(item.find("Description"))
        if description and item.find("Question") is not None:
            fld["help"] = _bilingual(description, name, None, "help")
        if not self.typed(fld, item, ref, entry):
            return
        unit_ref = item.find("MeasurementUnitRef")
        if unit_ref is not None:
            unit = self.units.get(unit_ref.attrs.get("MeasurementUnitOID", ""))
            if unit and fld["type"] in ("integer", "decimal", "calculated"):
                fld["unit"] = unit[:20]
        if ref.attrs.get("Mandatory") == "Yes" and fld["type"] != "calculated":
            fld["required"] = True
        section["fields"].append(fld)
        self.draft.reports[(form["key"], key)] = entry
        condition = ref.attrs.get("CollectionExceptionConditionOID")
        if condition:
            text = self.condition_text(condition, ref)
            self.pending.append(_Pending(form, section, fld, text, "exception", entry, oids))
        method = ref.attrs.get("MethodOID")
        if method and fld["type"] == "calculated":
            node = self.lookup("MethodDef", method, ref).find("FormalExpression")
            self.pending.append(_Pending(form, section, fld,
                                         node.text if node is not None else "",
                                         "method", entry, oids))

    def typed(self, fld: dict, item: Node, ref: Node, entry: FieldReport) -> bool:
        """Fill the type and constraints; False (reported) when the item is rejected."""
        data_type = item.attrs.get("DataType", "")
        code_list_ref = item.find("CodeListRef")
        if ref.attrs.get("MethodOID"):
            # The formula is translated once the form is complete (translate_pending).
            fld.update(type="calculated", expression="0",
                       decimals=min(int(item.attrs.get("SignificantDigits") or 1), 6))
            return True
        if code_list_ref is not None:
            code_list = self.lookup("CodeList", code_list_ref.attrs.get("CodeListOID"),
                                    code_list_ref)
            return self.choices(fld, code_list, data_type, entry)
        if data_type == "integer":
            return self.number(fld, item, entry, "integer")
        if data_type in ("float", "double"):
            return self.number(fld, item, entry, "decimal")
        if data_type == "date":
            fld["type"] = "date"
            self.date_checks(fld, item, entry)
            return True
        if data_type in ("datetime", "partialDatetime"):
            fld["type"] = "date"
            entry.convert("date and time imported as a date (time of day dropped)")
            return True
        if data_type in ("partialDate", "incompleteDate"):
            fld["type"] = "partial_date"
            entry.convert("partial date imported as month and year")
            return True
        if data_type == "boolean":
            fld["type"] = "yes_no"
            entry.convert("boolean stored as yes/no codes")
            return True
        if data_type == "time":
            fld.update(type="coded", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", max_length=5)
            entry.convert("time imported as a coded value HH:MM")
            return True
        if data_type in ("text", "string"):
            entry.reject("text item without a code list: free text is forbidden "
                         "(referential 7.3)")
        else:
            entry.reject(f"data type {data_type!r} is not collected by the portal")
        return False

    def choices(self, fld: dict, code_list: Node, data_type: str, entry: FieldReport) -> bool:
        external = code_list.find("ExternalCodeList")
        if external is not None:
            dictionary = external.attrs.get("Dictionary", "").strip()
            compact = dictionary.upper().replace(" ", "")
            # The name may say more than the dictionary: "MedDRA LLT", "WHO ATC".
            known = _EXTERNAL_PATTERNS.get(compact) or next(
                (_EXTERNAL_PATTERNS[word] for word in re.findall(r"[A-Z]+", dictionary.upper())
                 if word in _EXTERNAL_PATTERNS), None)
            if known is None:
                entry.reject(f"external dictionary {dictionary!r} has no strict code pattern")
                return False
            pattern, length, label = known
            name = label if compact in _EXTERNAL_PATTERNS else dictionary
            fld.update(type="coded", pattern=pattern, max_length=length,
                       dictionary=f"{name} {external.attrs.get('Version', '')}".strip()[:100])
            entry.convert(f"external {label} code list imported as a coded value")
            return True
        items = code_list.findall("CodeListItem") + code_list.findall("EnumeratedItem")
        items.sort(key=lambda i: int(i.attrs.get("OrderNumber") or 0))
        choices = []
        for item in items:
            code = item.attrs.get("CodedValue", "")
            if not valid_code(code):
                entry.reject(f"code {code!r} cannot be stored as a stable code")
                return False
            texts = _texts(item.find("Decode"))
            choices.append({"code": code, "label": _bilingual(texts, code, None, "label")})
            if item.tag == "EnumeratedItem" or not texts:
                entry.convert(f"code {code!r} has no decode: the code is its label")
        if not choices:
            entry.reject(f"code list {code_list.attrs['OID']!r} is empty")
            return False
        fld.update(type="single_choice", choices=choices)
        if len(choices) > 6:
            fld["widget"] = "select"
        if data_type not in ("text", "string"):
            entry.convert(f"{data_type} code list stored as codes")
        return True

    def number(self, fld: dict, item: Node, entry: FieldReport, kind: str) -> bool:
        fld["type"] = kind
        decimals = 0
        if kind == "decimal":
            decimals = min(int(item.attrs.get("SignificantDigits") or 2), 6)
            fld["decimals"] = decimals
            if not item.attrs.get("SignificantDigits"):
                entry.convert("decimal places not given; set to 2")
        low, high = self.range_checks(item, entry, decimals)
        length = item.attrs.get("Length")
        limit = 10 ** min(int(length), 12) - 1 if length and length.isdigit() else _DEFAULT_BOUND
        if low is None or high is None:
            entry.convert(f"no complete range check; bounds set to ±{limit}")
        fld["min"] = low if low is not None else -limit
        fld["max"] = high if high is not None else limit
        return True

    def range_checks(self, item: Node, entry: FieldReport,
                     decimals: int) -> tuple[Any, Any]:
        low = high = None
        step = Decimal(1).scaleb(-decimals)
        for check in item.findall("RangeCheck"):
            comparator = check.attrs.get("Comparator", "")
            values = [v.text for v in check.findall("CheckValue")]
            if check.attrs.get("SoftHard") == "Soft":
                entry.convert(f"soft range check {comparator} made hard")
            if comparator not in ("GE", "GT", "LE", "LT") or len(values) != 1:
                entry.convert(f"range check {comparator or 'with an expression'} not carried "
                              "over")
                continue
            try:
                value = Decimal(values[0])
            except InvalidOperation:
                entry.convert(f"range check value {values[0]!r} is not a number; ignored")
                continue
            if comparator == "GT":
                value += step
            if comparator == "LT":
                value -= step
            number = int(value) if decimals == 0 else float(value)
            if comparator in ("GE", "GT"):
                low = number
            else:
                high = number
        return low, high

    def date_checks(self, fld: dict, item: Node, entry: FieldReport) -> None:
        for check in item.findall("RangeCheck"):
            comparator = check.attrs.get("Comparator", "")
            values = [v.text for v in check.findall("CheckValue")]
            if comparator in ("GE", "LE") and len(values) == 1 and re.fullmatch(
                r"\d{4}-\d{2}-\d{2}", values[0]
            ):
                fld["min" if comparator == "GE" else "max"] = values[0]
            else:
                entry.convert(f"date range check {comparator} not carried over")

    # -- conditions and methods ---------------------------------------------------------------

    def translate_pending(self) -> None:
        for pending in self.pending:
            form, section, target = pending.form, pending.section, pending.target
            if pending.kind != "section" and target not in section["fields"]:
                continue
            targets = {f["key"]: TargetField(f["type"], _BOOLEAN_CODES
                                             if f["type"] == "yes_no" else {})
                       for s in form["sections"] for f in s["fields"]}
            scope = scope_of(form, section if pending.kind != "section" else None)
            try:
                tokens = tokenize_expression(pending.expression, pending.oids)
                if pending.kind == "method":
                    target["expression"] = translate(tokens, targets, scope, expect="number",
                                                     functions=_FUNCTIONS)
                    assert pending.report is not None
                    pending.report.convert("method translated to a calculation")
                else:
                    condition = translate(tokens, targets, scope)
                    # A collection exception says when the item is *not* collected.
                    target["visible_if"] = f"not ({condition})"
            except Untranslatable as exc:
                self.untranslatable(pending, str(exc))

    def untranslatable(self, pending: _Pending, reason: str) -> None:
        if pending.kind == "method":
            pending.section["fields"].remove(pending.target)
            assert pending.report is not None
            pending.report.reject(f"method cannot be translated: {reason}")
        elif pending.kind == "exception":
            pending.target["required"] = False
            assert pending.report is not None
            pending.report.convert(f"condition {pending.expression!r} dropped ({reason}); "
                                   "shown always and no longer required")
        else:
            for fld in pending.section["fields"]:
                fld["required"] = False
            self.report.notes.append(
                f"section {pending.section['key']!r}: condition {pending.expression!r} dropped "
                f"({reason}); its fields are no longer required")


def _global(study: Node, tag: str) -> str:
    variables = study.find("GlobalVariables")
    node = variables.find(tag) if variables is not None else None
    return node.text if node is not None else ""


def _repeat_max(group: Node) -> int | None:
    """A repeat maximum from vendor extensions (OpenClinica ItemGroupRepeat) or ODM 2 style."""
    candidates = [group.attrs.get("RepeatingLimit")] + [
        node.attrs.get("RepeatMax") for node in group.iter("ItemGroupRepeat")
    ] + [node.attrs.get("RepeatMax") for node in group.iter("PresentInForm")]
    for value in candidates:
        if value and value.isdigit() and 1 <= int(value) <= 50:
            return int(value)
    return None


def import_odm(text: str | bytes, source: str) -> tuple[dict[str, Any], ImportReport]:
    """Convert ODM metadata into a definition and a field-by-field report.

    :raises ImportFormatError: on input that cannot be read, naming the line.
    """
    report = ImportReport(source)
    converter = _Converter(parse_xml(text, source), source, report)
    converter.convert()
    report.notes.append(PLACEHOLDER_NOTE)
    return finalize(converter.draft, report, source), report


def import_odm_file(path: str | Path) -> tuple[dict[str, Any], ImportReport]:
    """Read an ODM file and import it."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImportFormatError(str(path), None, f"cannot read the file: {exc.strerror}") from None
    return import_odm(data, str(path))
