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
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
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
    LogicTranslator,
    TargetField,
    Untranslatable,
    default_window,
    finalize,
    guess_kind,
    placeholder_protocol,
    plain_text,
    scope_of,
    slug,
    stable_code,
    timepoint_offset,
    translate,
    unique,
)
from portal.protocols.importers.xlsform import tokenize as tokenize_xlsform

_DEFAULT_REPEAT_MAX = 10
_DEFAULT_BOUND = 999999
_EXTERNAL_PATTERNS = {
    "MEDDRA": (r"^[0-9]{8}$", 8, "MedDRA"),
    "ATC": (r"^[A-Z]([0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?)?$", 7, "ATC"),
}
_BOOLEAN_CODES = {"1": "yes", "0": "no", "true": "yes", "false": "no", "Yes": "yes", "No": "no",
                  "Y": "yes", "N": "no"}
_FUNCTIONS = {"round": "round", "abs": "abs", "min": "min", "max": "max"}
#: ODM range-check comparators the portal can state, and how.
_COMPARATORS = {"GE": ">=", "GT": ">", "LE": "<=", "LT": "<", "EQ": "==", "NE": "!=",
                "IN": "in", "NOTIN": "not in"}
_SYMBOLS = {"GE": "≥", "GT": ">", "LE": "≤", "LT": "<", "EQ": "=", "NE": "≠"}


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
            report.one_language = True  # summed up in the report, not a conversion
        else:
            report.convert(f"no {what}; the item's name is used")
    value = fr or en or other or fallback
    return {"fr": value, "en": value}


# An XPath location path that ends at one ItemData (`../ItemData[@ItemOID='X']`,
# `/ODM/ClinicalData/.../ItemData[@ItemOID="X"][@Value='1']`), optionally at its `@Value`.
_STEP = r"(?:\.\.|\.|[A-Za-z][\w:.-]*(?:\s*\[[^\[\]]*\])*)"
_PATH_RE = re.compile(
    rf"(?P<path>(?:\.\./|\./|//|/)?(?:{_STEP}/+)*ItemData(?P<preds>(?:\s*\[[^\[\]]*\])*)"
    r")(?P<value>/@Value)?"
)
_COUNT_RE = re.compile(
    r"count\(\s*(?P<inner>[^()]*?)\s*\)\s*(?P<op>!=|<=|>=|=|<|>)\s*(?P<n>\d+)"
)
_TOKEN_RE = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<dollar>\$(?P<doid>[A-Za-z0-9_.-]+))
  | (?P<template>\$\{(?P<tname>[A-Za-z_][\w.-]*)\})
  | (?P<num>\d+(?:\.\d+)?)
  | (?P<str>'[^']*'|"[^"]*")
  | (?P<cmp>==|!=|<>|<=|>=|=|<|>)
  | (?P<arith>[-+*/^])
  | (?P<word>[A-Za-z_][A-Za-z0-9_.-]*)(?P<call>\s*\()?
  | (?P<paren>[(),])
    """,
    re.VERBOSE,
)
_TOKEN_KINDS = ("space", "dollar", "template", "num", "str", "cmp", "arith", "word", "paren")
_XPATH_CMP = {"=": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def tokenize_expression(text: str, oids: dict[str, str],
                        targets: dict[str, TargetField] | None = None) -> list[LogicToken]:
    """Tokenize an ODM FormalExpression (XPath, `$OID`, OpenClinica rule syntax).

    Item references become field keys. An XPath `ItemData[...]/@Value` is a value that is
    absent when the item is blank (a comparison with it is then false); an `ItemData` path with
    value predicates, or `count(path) op n`, is a condition already written in the portal's
    syntax.

    :raises Untranslatable: for constructs the portal cannot represent.
    """
    targets = targets or {}
    if not text.strip():
        raise Untranslatable("no FormalExpression (only a description, or an unknown OID)")
    tokens: list[LogicToken] = []
    pos = 0
    while pos < len(text):
        counted = _COUNT_RE.match(text, pos)
        if counted:
            path = _PATH_RE.fullmatch(counted.group("inner"))
            if path is None or not path.group("preds"):
                raise Untranslatable("count() of anything but one named ItemData")
            key, exists = _item_path(path.group("preds"), oids, targets)
            tokens.append(LogicToken("cond", _counted(exists, counted.group("op"),
                                                      int(counted.group("n")))))
            pos = counted.end()
            continue
        path = _PATH_RE.match(text, pos)
        if path and path.group("preds"):
            key, exists = _item_path(path.group("preds"), oids, targets)
            if path.group("value"):
                if exists != f"{key} != null":
                    raise Untranslatable("a value predicate on an ItemData whose @Value is "
                                         "compared")
                tokens.append(LogicToken("field", key, guard=True))
            else:
                tokens.append(LogicToken("cond", exists))
            pos = path.end()
            continue
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            raise Untranslatable(f"unexpected character {text[pos]!r}")
        kind = next(k for k in _TOKEN_KINDS if match.group(k) is not None)
        pos = match.end()
        if kind == "space":
            continue
        if kind in ("dollar", "template"):
            oid = match.group("doid") or match.group("tname")
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
            elif lower in ("div",):
                tokens.append(LogicToken("arith", "/"))
            elif lower in ("ct", "nct", "mod"):
                raise Untranslatable(f"operator {word!r} has no equivalent")
            elif match.group("call"):
                tokens.append(LogicToken("func", word))
            else:
                tokens.append(_item_token(word, oids))
                continue
            if match.group("call"):
                tokens.append(LogicToken("(", "("))
    return tokens


def _item_token(oid: str, oids: dict[str, str]) -> LogicToken:
    """A field token for an item OID, an OpenClinica path `SE.F.IG.I_OID` or an item name."""
    for candidate in (oid, oid.rsplit(".", 1)[-1]):
        if candidate in oids:
            return LogicToken("field", oids[candidate])
    raise Untranslatable(f"refers to item {oid!r}, which is not in this form")


_PRED_TOKEN = re.compile(
    r"\s*(?:(?P<attr>@[A-Za-z]+)|(?P<str>'[^']*'|\"[^\"]*\")|(?P<num>-?\d+(?:\.\d+)?)"
    r"|(?P<cmp>!=|<=|>=|=|<|>)|(?P<word>and|or|not)\b|(?P<paren>[()]))"
)


def _item_path(preds: str, oids: dict[str, str], targets: dict[str, TargetField]
               ) -> tuple[str, str]:
    """The field an ItemData path names and the condition its predicates put on it.

    `[@ItemOID='X'][@Value='1' or @Value='2']` gives (x, "x != null and (x == '1' or ...)").
    """
    conjuncts: list[Any] = []
    for pred in re.findall(r"\[([^\[\]]*)\]", preds):
        tree = _PredicateParser(pred).parse()
        conjuncts += tree[1] if tree[0] == "and" else [tree]
    named = [c for c in conjuncts if c[0] == "cmp" and c[1] == "@ItemOID" and c[2] == "="]
    if len(named) != 1:
        raise Untranslatable("an ItemData path must name exactly one @ItemOID")
    oid = named[0][3]
    if oid not in oids:
        raise Untranslatable(f"refers to item {oid!r}, which is not in this form")
    key = oids[oid]
    target = targets.get(key, TargetField("single_choice"))
    rest = [_predicate_text(c, key, target) for c in conjuncts if c is not named[0]]
    return key, " and ".join([f"{key} != null", *rest])


class _PredicateParser:
    """`@Value = '1' or (@Value != '2' and not(@Value = '3'))` into a small tree."""

    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text.rstrip()):
            match = _PRED_TOKEN.match(text, pos)
            if match is None or match.end() == pos:
                raise Untranslatable(f"predicate [{text}] is not a test of @ItemOID or @Value")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            pos = match.end()
        self.tokens.append(("end", ""))
        self.index = 0
        self.text = text

    def take(self) -> tuple[str, str]:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def parse(self) -> Any:
        tree = self.either()
        if self.tokens[self.index][0] != "end":
            raise Untranslatable(f"predicate [{self.text}] is not understood")
        return tree

    def either(self) -> Any:
        parts = [self.both()]
        while self.tokens[self.index] == ("word", "or"):
            self.index += 1
            parts.append(self.both())
        return parts[0] if len(parts) == 1 else ("or", parts)

    def both(self) -> Any:
        parts = [self.term()]
        while self.tokens[self.index] == ("word", "and"):
            self.index += 1
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else ("and", parts)

    def term(self) -> Any:
        kind, text = self.take()
        if (kind, text) == ("word", "not"):
            if self.take() != ("paren", "("):
                raise Untranslatable(f"predicate [{self.text}]: not() needs parentheses")
            inner = self.either()
            if self.take() != ("paren", ")"):
                raise Untranslatable(f"predicate [{self.text}]: unbalanced parentheses")
            return ("not", inner)
        if (kind, text) == ("paren", "("):
            inner = self.either()
            if self.take() != ("paren", ")"):
                raise Untranslatable(f"predicate [{self.text}]: unbalanced parentheses")
            return inner
        if kind != "attr":
            raise Untranslatable(f"predicate [{self.text}] is not a test of @ItemOID or @Value")
        op_kind, op = self.take()
        value_kind, value = self.take()
        if op_kind != "cmp" or value_kind not in ("str", "num"):
            raise Untranslatable(f"predicate [{self.text}] compares {text} with no value")
        return ("cmp", text, op, value[1:-1] if value_kind == "str" else value)


def _predicate_text(node: Any, key: str, target: TargetField) -> str:
    if node[0] in ("and", "or"):
        return "(" + f" {node[0]} ".join(_predicate_text(n, key, target) for n in node[1]) + ")"
    if node[0] == "not":
        return f"not ({_predicate_text(node[1], key, target)})"
    _cmp, attr, op, value = node
    if attr != "@Value":
        raise Untranslatable(f"a predicate on {attr} (only @ItemOID and @Value are understood)")
    literal = LogicTranslator([], {key: target}).literal(target, value, key)
    return f"{key} {_XPATH_CMP[op]} {literal}"


def _counted(exists: str, op: str, n: int) -> str:
    """`count(path) op n` for a path naming one item (so a count of 0 or 1)."""
    outcomes = tuple(_XPATH_COUNT[op](count, n) for count in (0, 1))
    if outcomes == (False, True):
        return exists
    if outcomes == (True, False):
        return f"not ({exists})"
    raise Untranslatable(f"count(...) {op} {n} is always {str(outcomes[0]).lower()} for one item")


_XPATH_COUNT: dict[str, Any] = {
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


@dataclass
class _Pending:
    """A condition or method to translate once the whole form is known."""

    form: dict[str, Any]
    section: dict[str, Any]
    target: dict[str, Any]
    expression: str
    kind: str  # "exception" (field), "section", "method", "show" (OpenClinica display)
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
        self.form_oid = ""
        self.code_maps: dict[int, dict[str, str]] = {}  # by id(field): source → stored codes
        self.seen_items: set[str] = set()
        self.pending_checks: list[dict[str, Any]] = []  # of the item being read

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
        chosen = self.versions(form_order)
        for oid in form_order:
            kept = chosen.get(oid, oid)
            if kept != oid:
                for code in form_events.get(oid, []):
                    if code not in form_events.setdefault(kept, []):
                        form_events[kept].append(code)
        for oid in form_order:
            kept = chosen.get(oid, oid)
            if kept == oid:
                self.form(self.defs["FormDef"][oid], form_events.get(oid, []), used_forms)
        for oid in form_order:
            kept = chosen.get(oid, oid)
            if kept != oid:
                self.other_version(self.defs["FormDef"][oid], self.defs["FormDef"][kept])
        for oid, item in self.defs["ItemDef"].items():
            if oid not in self.seen_items:  # named in the report all the same
                name = item.attrs.get("Name") or oid
                self.report.add(f"ItemDef {oid} (line {item.line})", "-", slug(name, "item")
                                ).reject("not used by any item group of a form")
        self.translate_pending()

    def versions(self, form_order: list[str]) -> dict[str, str]:
        """Versions of one CRF (OpenClinica's ParentFormOID, or OIDs ending in `_V1_0`,
        `_VERSION_2`): each FormDef OID → the version imported (the default one, else the
        last)."""
        families: dict[str, list[str]] = {}
        default: dict[str, str] = {}
        for oid in form_order:
            node = self.defs["FormDef"][oid]
            details = next(node.iter("FormDetails"), None)
            parent = details.attrs.get("ParentFormOID") if details is not None else None
            parent = parent or re.sub(r"_(?:V|VERSION_?)\d+(?:_\d+)*$", "", oid,
                                      flags=re.IGNORECASE)
            families.setdefault(parent, []).append(oid)
            if any(p.attrs.get("IsDefaultVersion") == "Yes"
                   for p in node.iter("PresentInEventDefinition")):
                default.setdefault(parent, oid)
        chosen: dict[str, str] = {}
        for parent, members in families.items():
            kept = default.get(parent, members[-1])
            for oid in members:
                chosen[oid] = kept
            if len(members) > 1:
                self.report.notes.append(
                    f"{len(members)} versions of CRF {parent!r} ({', '.join(members)}): {kept!r} "
                    "is imported as the form; the portal versions the whole protocol")
        return chosen

    def other_version(self, node: Node, kept: Node) -> None:
        """Name in the report the items of a CRF version that is not imported (unless the
        imported version has them too)."""
        for group_ref in node.findall("ItemGroupRef"):
            group = self.defs["ItemGroupDef"].get(group_ref.attrs.get("ItemGroupOID") or "")
            for item_ref in group.findall("ItemRef") if group is not None else []:
                oid = item_ref.attrs.get("ItemOID") or ""
                item = self.defs["ItemDef"].get(oid)
                if item is None or oid in self.seen_items:
                    continue
                self.seen_items.add(oid)
                self.report.add(f"ItemDef {oid} (line {item.line})", "-",
                                slug(item.attrs.get("Name") or oid, "item")).reject(
                    f"only in version {node.attrs['OID']!r} of the CRF, whose version "
                    f"{kept.attrs['OID']!r} is imported")

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
        self.form_oid = node.attrs["OID"]
        self.report.notes.append(f"form {form['key']!r}: kind {form['kind']!r} guessed from its "
                                 "name; change `kind:` if it is wrong")
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
        titles = self.section_titles()
        current = None
        for item_ref in items:
            label = None if section.get("repeat") else self.section_label(item_ref)
            if label is not None and label != current:
                if current is not None or section["fields"]:
                    # OpenClinica's section of the CRF: a new section of the form.
                    section = {"key": unique(slug(label, "section"), section_keys),
                               "title": _bilingual({"": titles.get(label, label)}, label, None,
                                                   "title"), "fields": []}
                    if condition:
                        self.pending.append(_Pending(form, section, section,
                                                     self.condition_text(condition, ref),
                                                     "section", None, oids))
                    form["sections"].append(section)
                else:
                    section["title"] = _bilingual({"": titles.get(label, label)}, label, None,
                                                  "title")
                current = label
            self.item(form, section, item_ref, keys, oids)

    def section_label(self, item_ref: Node) -> str | None:
        """OpenClinica's SectionLabel of an item in the current form, if any."""
        item = self.defs["ItemDef"].get(item_ref.attrs.get("ItemOID") or "")
        for present in item.iter("ItemPresentInForm") if item is not None else []:
            if present.attrs.get("FormOID", self.form_oid) == self.form_oid:
                label = next((n.text for n in present.iter("SectionLabel") if n.text), None)
                return label or present.attrs.get("SectionLabel") or None
        return None

    def section_titles(self) -> dict[str, str]:
        """SectionLabel → SectionTitle of the current form (OpenClinica's FormDetails)."""
        node = self.defs["FormDef"].get(self.form_oid)
        return {s.attrs.get("SectionLabel", ""): plain_text(s.attrs.get("SectionTitle") or
                                                            s.attrs.get("SectionLabel", ""))
                for s in (node.iter("Section") if node is not None else [])}

    def condition_text(self, oid: str, ref: Node) -> str:
        condition = self.defs["ConditionDef"].get(oid)
        if condition is None:
            self.report.notes.append(f"line {ref.line}: {ref.tag} refers to unknown ConditionDef "
                                     f"{oid!r}")
            return ""
        expression = condition.find("FormalExpression")
        return expression.text if expression is not None else ""

    # -- items --------------------------------------------------------------------------------

    def item(self, form: dict, section: dict, ref: Node, keys: set[str],
             oids: dict[str, str]) -> None:
        item = self.lookup("ItemDef", ref.attrs.get("ItemOID"), ref)
        self.pending_checks = []
        oid = item.attrs["OID"]
        self.seen_items.add(oid)
        name = item.attrs.get("Name") or oid
        key = unique(slug(name, "item"), keys)
        oids[oid] = key
        oids.setdefault(name, key)  # OpenClinica refers to items by name too
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
        # Checks go with the field: a repeated section's own, else the form's.
        holder = section if section.get("repeat") else form
        used = {c["key"] for c in holder.get("checks", [])}
        for check in self.pending_checks:
            check["key"] = unique(check["key"], used)
            holder.setdefault("checks", []).append(check)
        condition = ref.attrs.get("CollectionExceptionConditionOID")
        if condition:
            text = self.condition_text(condition, ref)
            self.pending.append(_Pending(form, section, fld, text, "exception", entry, oids))
        shown_if = self.openclinica_display(item)
        if shown_if:
            self.pending.append(_Pending(form, section, fld, shown_if, "show", entry, oids))
        method = ref.attrs.get("MethodOID")
        if method and fld["type"] == "calculated":
            found = self.defs["MethodDef"].get(method)
            node = found.find("FormalExpression") if found is not None else None
            self.pending.append(_Pending(form, section, fld,
                                         node.text if node is not None else "",
                                         "method", entry, oids))

    def openclinica_display(self, item: Node) -> str:
        """OpenClinica 3's simple conditional display (shown when an item has a value), as a
        condition on item names; '' when the item has none (for this form)."""
        for present in item.iter("ItemPresentInForm"):
            if present.attrs.get("FormOID", self.form_oid) != self.form_oid:
                continue
            for display in present.iter("SimpleConditionalDisplay"):
                control = display.find("ControlItemName")
                option = display.find("OptionValue")
                if control is None or option is None or not control.text:
                    continue
                values = [v.strip() for v in option.text.split(",") if v.strip()] or [""]
                quoted = [f"'{v}'" for v in values if "'" not in v]
                return " or ".join(f"${{{control.text}}} = {v}" for v in quoted)
        return ""

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
            oid = code_list_ref.attrs.get("CodeListOID") or ""
            code_list = self.defs["CodeList"].get(oid)
            if code_list is None:
                entry.reject(f"its code list {oid!r} (line {code_list_ref.line}) is not defined "
                             "in the file")
                return False
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
        used: set[str] = set()
        mapped: dict[str, str] = {}
        for item in items:
            source = item.attrs.get("CodedValue", "")
            code = stable_code(source, used)
            if code != source:
                entry.convert(f"code {source!r} stored as {code!r} (a code holds no space nor "
                              "sign)")
                mapped[source] = code
            texts = _texts(item.find("Decode"))
            choices.append({"code": code, "label": _bilingual(texts, source, None, "label")})
            if item.tag == "EnumeratedItem" or not texts:
                entry.convert(f"code {code!r} has no decode: the code is its label")
        if not choices:
            entry.reject(f"code list {code_list.attrs['OID']!r} is empty")
            return False
        fld.update(type="single_choice", choices=choices)
        if mapped:
            self.code_maps[id(fld)] = mapped
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
        low, high = self.range_checks(fld, item, entry, decimals)
        for bound, value, sign in (("min", low, "-"), ("max", high, "")):
            if value is None:
                # The other side of a one-sided check is not invented: a placeholder that
                # `protocol check` flags and `protocol install` refuses until it is set.
                entry.convert(f"no {'lower' if bound == 'min' else 'upper'} bound in the "
                              f"source: {bound} set to the placeholder {sign}{_DEFAULT_BOUND}, "
                              "to complete before installing")
            fld[bound] = value if value is not None else int(f"{sign}{_DEFAULT_BOUND}")
        length = item.attrs.get("Length")
        if length and (low is None or high is None):
            entry.convert(f"Length {length} is a number of digits, not a clinical bound: not "
                          "used as one")
        return True

    def range_checks(self, fld: dict, item: Node, entry: FieldReport,
                     decimals: int) -> tuple[Any, Any]:
        """Hard GE/GT/LE/LT checks in the item's unit give the bounds; the others become form
        checks (soft ones warnings to confirm, hard ones refusals), with their ErrorMessage."""
        low = high = None
        step = Decimal(1).scaleb(-decimals)
        units = [u.attrs.get("MeasurementUnitOID", "") for u in item.findall("MeasurementUnitRef")]
        if len(units) > 1:
            others = ", ".join(self.units.get(u, u) for u in units[1:])
            entry.convert(f"also measured in {others}: only {self.units.get(units[0], units[0])}"
                          " is kept")
        unit = units[0] if units else None
        if unit in self.units:
            fld["unit"] = self.units[unit or ""][:20]
        for check in item.findall("RangeCheck"):
            comparator = check.attrs.get("Comparator", "")
            soft = check.attrs.get("SoftHard") == "Soft"
            values = [v.text for v in check.findall("CheckValue")]
            check_unit = next((u.attrs.get("MeasurementUnitOID", "") for u in
                               check.findall("MeasurementUnitRef")), None)
            if check_unit and unit is None:
                unit = check_unit  # the item names no unit: its checks give it
                if check_unit in self.units:
                    fld["unit"] = self.units[check_unit][:20]
            if check_unit and check_unit != unit:
                entry.convert(f"range check {comparator} {' '.join(values)} in "
                              f"{self.units.get(check_unit, check_unit)!r} not carried over: the "
                              f"field is in {self.units.get(unit or '', unit)!r}")
                continue
            try:
                numbers = [Decimal(v) for v in values]
            except InvalidOperation:
                entry.convert(f"range check value {' '.join(values)!r} is not a number; ignored")
                continue
            if comparator not in _COMPARATORS or not numbers or (
                    comparator not in ("IN", "NOTIN") and len(numbers) != 1):
                entry.convert(f"range check {comparator or 'with an expression'} not carried "
                              "over")
                continue
            message = _texts(check.find("ErrorMessage"))
            if not soft and comparator in ("GE", "GT", "LE", "LT"):
                # The nearest value the field can hold (it has `decimals` places).
                up = numbers[0].quantize(step, rounding=ROUND_CEILING)
                down = numbers[0].quantize(step, rounding=ROUND_FLOOR)
                value = {"GE": up, "GT": down + step, "LE": down, "LT": up - step}[comparator]
                number = int(value) if decimals == 0 else float(value)
                if comparator in ("GE", "GT"):
                    low = number if low is None else max(low, number)
                else:
                    high = number if high is None else min(high, number)
                if message:
                    text = _bilingual(message, "", entry, "error message")
                    old = fld.get("help")
                    fld["help"] = {lang: f"{old[lang]} — {text[lang]}" if old else text[lang]
                                   for lang in ("fr", "en")}
                    entry.convert("the range check's error message is shown as help")
                continue
            self.pending_checks.append(self.check(fld, comparator, numbers, soft, message,
                                                  entry))
            entry.convert(f"{'soft' if soft else 'hard'} range check {comparator} "
                          f"{' '.join(values)} imported as a "
                          f"{'warning to confirm' if soft else 'check refusing the value'}")
        return low, high

    def check(self, fld: dict, comparator: str, numbers: list[Decimal], soft: bool,
              message: dict[str, str], entry: FieldReport) -> dict[str, Any]:
        """A form check (severity warning for a soft range check) on one numeric field."""
        key = fld["key"]
        texts = [format(n, "f") for n in numbers]
        if comparator in ("IN", "NOTIN"):
            joined = " or ".join(f"{key} == {t}" for t in texts)
            expression = f"({joined})" if comparator == "IN" else f"not ({joined})"
            shown = ", ".join(texts)
        else:
            expression = f"{key} {_COMPARATORS[comparator]} {texts[0]}"
            shown = f"{_SYMBOLS[comparator]} {texts[0]}"
        unit = f" {fld['unit']}" if fld.get("unit") else ""
        if message:
            text = _bilingual(message, "", entry, "error message")
        elif soft:
            text = {"fr": f"Valeur inhabituelle (habituellement {shown}{unit}) : vérifiez-la.",
                    "en": f"Unusual value (usually {shown}{unit}): check it."}
        else:
            text = {"fr": f"Valeur refusée : elle doit être {shown}{unit}.",
                    "en": f"Value refused: it must be {shown}{unit}."}
        return {"key": f"{key[:36]}_{'usual' if soft else 'range'}", "expression": expression,
                "message": text, "fields": [key], "severity": "warning" if soft else "error"}

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
                                             if f["type"] == "yes_no" else
                                             self.code_maps.get(id(f), {}))
                       for s in form["sections"] for f in s["fields"]}
            scope = scope_of(form, section if pending.kind != "section" else None)
            xlsform = re.search(r"\$\{|selected\s*\(", pending.expression) is not None
            # XLSForm's blanks: a comparison with one is false (`!=` true), not unknown.
            try:
                if xlsform:
                    # OpenClinica 4 writes its conditions in XLSForm's syntax.
                    current = target.get("key") if pending.kind != "section" else None
                    tokens = tokenize_xlsform(pending.expression, pending.oids, current,
                                              targets)
                else:
                    tokens = tokenize_expression(pending.expression, pending.oids, targets)
                if pending.kind == "method":
                    target["expression"] = translate(tokens, targets, scope, expect="number",
                                                     functions=_FUNCTIONS,
                                                     blank_is_value=xlsform, two_valued=xlsform)
                    assert pending.report is not None
                    pending.report.convert("method translated to a calculation")
                else:
                    condition = translate(tokens, targets, scope, blank_is_value=xlsform,
                                          two_valued=xlsform)
                    if pending.kind == "show":
                        _also_visible_if(target, condition)
                        assert pending.report is not None
                        pending.report.convert(f"OpenClinica display condition translated to "
                                               f"{condition!r}")
                    else:
                        # A collection exception says when the item is *not* collected.
                        _also_visible_if(target, _negated(condition))
            except Untranslatable as exc:
                self.untranslatable(pending, str(exc))

    def untranslatable(self, pending: _Pending, reason: str) -> None:
        if pending.kind == "method":
            pending.section["fields"].remove(pending.target)
            assert pending.report is not None
            pending.report.reject(f"method cannot be translated: {reason}")
        elif pending.kind in ("exception", "show"):
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


def _negated(condition: str) -> str:
    """`not (c)`, without doubling the parentheses of a condition that is one group."""
    depth = 0
    for index, char in enumerate(condition):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and index < len(condition) - 1:
            return f"not ({condition})"
    return f"not {condition}" if condition.startswith("(") else f"not ({condition})"


def _also_visible_if(target: dict[str, Any], condition: str) -> None:
    """Add a condition to a field's or section's (both must hold)."""
    existing = target.get("visible_if")
    target["visible_if"] = f"({existing}) and {condition}" if existing else condition


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
