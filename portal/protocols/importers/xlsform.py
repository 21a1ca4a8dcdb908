"""Import an XLSForm (ODK, KoboToolbox, OpenClinica 4): an .xlsx workbook or the legacy CSV
layout, with `label::fr` / `label::en` as the bilingual labels, `relevant` as conditions and
`constraint` as bounds or checks.

The workbook is read with openpyxl (values only: formulas are not evaluated, macros never run).
Whatever would break the referential (free text, media, location, device metadata) is left out
and the report gives every row's fate.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

from portal.protocols.importers.common import (
    PLACEHOLDER_NOTE,
    Draft,
    FieldReport,
    ImportFormatError,
    ImportReport,
    LogicToken,
    TargetField,
    Untranslatable,
    as_sex,
    finalize,
    guess_kind,
    missing_code,
    placeholder_protocol,
    plain_text,
    scope_of,
    slug,
    stable_code,
    translate,
    unique,
    valid_code,
)

_DEFAULT_BOUND = 999999
_DEFAULT_REPEAT_MAX = 10
_FUNCTIONS = {"round": "round", "abs": "abs", "min": "min", "max": "max", "if": "if"}
_REJECTED_TYPES = {
    "text": "free text is forbidden (referential 7.3)",
    "note": "a note holds no data (add it as help text if needed)",
    "geopoint": "a location is not collected", "geotrace": "a location is not collected",
    "geoshape": "a location is not collected", "image": "attachments are not collected",
    "audio": "attachments are not collected", "video": "attachments are not collected",
    "file": "attachments are not collected", "background-audio": "recordings are not collected",
    "barcode": "a scanned code has no bounded pattern", "rank": "a ranking is not collected",
"hidden": "a hidden value is not entered on the form",
    "xml-external": "external data is not collected", "csv-external": "external data is not "
    "collected", "audit": "device audit logs are not collected",
    "start-geopoint": "a location is not collected",
}
_METADATA_TYPES = {"start", "end", "today", "deviceid", "subscriberid", "simserial",
                   "phonenumber", "username", "email", "imei", "uri:deviceid", "uri:email",
                   "uri:phonenumber", "uri:subscriberid", "uri:simserial", "uri:username"}
_TRUE = {"yes", "true", "true()", "1", "y"}


@dataclass
class _Sheet:
    """One sheet: its rows as {column: text}, each with its row number."""

    name: str
    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


#: Older column names (pyxform's aliases) → the XLSForm names.
_COLUMN_ALIASES = {
    "bind:constraint": "constraint", "bind:jr:constraintmsg": "constraint_message",
    "bind:relevant": "relevant", "bind:required": "required", "bind:calculate": "calculation",
    "bind:readonly": "read_only", "control:appearance": "appearance", "list name": "list_name",
    "jr:constraintmsg": "constraint_message", "constraint message": "constraint_message",
    "required_message": "required_message", "bind:jr:requiredmsg": "required_message",
}


def _column(name: str) -> str:
    """A column name as XLSForm writes it today: `label:english` → `label::english`."""
    name = re.sub(r"\s+", " ", name.strip().lower())
    if name in _COLUMN_ALIASES:
        return _COLUMN_ALIASES[name]
    base, sep, lang = name.partition("::")
    if not sep:
        base, sep, lang = name.partition(":")
        if sep and base in ("label", "hint", "constraint_message", "bind:jr:constraintmsg",
                            "jr:constraintmsg", "media:image", "image", "audio", "video"):
            sep = "::"
    base = _COLUMN_ALIASES.get(base, base)
    return f"{base}::{lang.strip()}" if sep else base


#: Older question types (pyxform's aliases) → the XLSForm names.
_TYPE_ALIASES = (
    (re.compile(r"^(add )?(int|integer)( prompt)?$", re.I), "integer"),
    (re.compile(r"^(add )?(string|text)( prompt)?$", re.I), "text"),
    (re.compile(r"^(add )?(decimal|double|float)( prompt)?$", re.I), "decimal"),
    (re.compile(r"^(add )?date( prompt)?$", re.I), "date"),
    (re.compile(r"^(add )?(datetime|date ?time)( prompt)?$", re.I), "datetime"),
    (re.compile(r"^(add )?time( prompt)?$", re.I), "time"),
    (re.compile(r"^(add )?(note|q note)( prompt)?$", re.I), "note"),
    (re.compile(r"^begin loop over \S+$", re.I), "loop"),
)
_SELECT_ALIAS = re.compile(r"^select (all that apply|one) from (\S+)( or specify other)?$", re.I)


def _question_type(raw: str) -> str:
    """A question type as XLSForm writes it today (`select one from yn` → `select_one yn`)."""
    text = re.sub(r"\s+", " ", raw).strip()
    select = _SELECT_ALIAS.match(text)
    if select:
        kind = "select_multiple" if select.group(1).lower() != "one" else "select_one"
        return f"{kind} {select.group(2)}{' or_other' if select.group(3) else ''}"
    for pattern, replacement in _TYPE_ALIASES:
        if pattern.match(text):
            return replacement
    return text


def _table(source: str, sheet: str, raw: list[tuple[int, list[Any]]]) -> _Sheet:
    """Rows under the first non-blank row (the header), keyed by lower-case column name."""
    result = _Sheet(sheet)
    header: list[str] | None = None
    for number, cells in raw:
        texts = [_cell(c) for c in cells]
        if not any(texts):
            continue
        if header is None:
            header = [_column(t) for t in texts]
            continue
        row = {name: text for name, text in zip(header, texts, strict=False) if name}
        result.rows.append((number, row))
    if header is None and sheet == "survey":
        raise ImportFormatError(source, None, "the survey sheet is empty")
    return result


def read_xlsx(data: bytes, source: str) -> dict[str, _Sheet]:
    """The survey, choices and settings sheets of a workbook."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ImportFormatError(source, None, f"not an .xlsx workbook ({exc})") from None
    try:
        sheets = {}
        for ws in book.worksheets:
            name = ws.title.strip().lower()
            if name in ("survey", "choices", "settings"):
                raw = [(n, list(r)) for n, r in enumerate(ws.iter_rows(values_only=True), 1)]
                sheets[name] = _table(source, name, raw)
    finally:
        book.close()
    return sheets


def read_csv(text: str, source: str) -> dict[str, _Sheet]:
    """The legacy CSV layout: a row naming a sheet in its first cell, then that sheet's header
    and rows with the first cell blank."""
    raw: dict[str, list[tuple[int, list[Any]]]] = {}
    current: str | None = None
    try:
        for number, cells in enumerate(csv.reader(io.StringIO(text), strict=True), 1):
            if not any(c.strip() for c in cells):
                continue
            first = cells[0].strip().lower()
            if first:
                if first not in ("survey", "choices", "settings"):
                    raise ImportFormatError(source, number, f"unknown sheet {cells[0]!r} "
                                            "(expected survey, choices or settings)")
                current = first
                raw.setdefault(current, [])
                continue
            if current is None:
                raise ImportFormatError(source, number, "a row before any sheet name "
                                        "(the first cell of a sheet's first row names it)")
            raw[current].append((number, cells[1:]))
    except csv.Error as exc:
        raise ImportFormatError(source, None, f"malformed CSV: {exc}") from None
    return {name: _table(source, name, rows) for name, rows in raw.items()}


# ---------------------------------------------------------------------------------------------
# Languages


def _language(column: str, base: str) -> str | None:
    """'fr' / 'en' / '' (no language) for `label`, `label::fr`, `label::French (fr)`...; None
    for another column or another language."""
    if column == base:
        return ""
    if not column.startswith(base + "::"):
        return None
    tag = column.split("::", 1)[1].strip().lower()
    code = re.search(r"\(([a-z]{2})[-_a-z]*\)", tag)
    word = code.group(1) if code else tag[:2]
    if tag.startswith(("french", "français", "francais")) or word == "fr":
        return "fr"
    if tag.startswith(("english", "anglais")) or word == "en":
        return "en"
    return "other"


def _texts(row: dict[str, str], base: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for column, value in row.items():
        lang = _language(column, base)
        if lang is not None and value and lang not in found:
            found[lang] = plain_text(value)
    return found


def _bilingual(texts: dict[str, str], default: str, fallback: str, entry: FieldReport | None,
               what: str) -> dict[str, str]:
    """French and English texts; a plain `label` is in the form's default language."""
    fr, en, plain = texts.get("fr"), texts.get("en"), texts.get("")
    if plain and default == "fr" and not fr:
        fr = plain
    elif plain and default == "en" and not en:
        en = plain
    if fr and en:
        return {"fr": fr, "en": en}
    one = fr or en or plain or texts.get("other")
    if entry is not None and one:
        entry.one_language = True  # summed up in the report, not a conversion
    elif entry is not None:
        entry.convert(f"no {what}; the name is used")
    value = one or fallback
    return {"fr": value, "en": value}


# ---------------------------------------------------------------------------------------------
# Expressions

_TOKEN_RE = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<selected>selected\s*\(\s*(?:\$\{(?P<sname>[A-Za-z_][\w.-]*)\}|(?P<sdot>\.))\s*,\s*
        (?P<squote>['"])(?P<scode>[^'"]*)(?P=squote)\s*\))
  | (?P<today>today\(\s*\))
  | (?P<ref>\$\{(?P<name>[A-Za-z_][\w.-]*)\})
  | (?P<num>\d+(?:\.\d+)?)
  | (?P<str>'[^']*'|"[^"]*")
  | (?P<cmp>!=|<=|>=|=|<|>)
  | (?P<arith>[-+*])
  | (?P<dot>\.(?![\d.]))
  | (?P<word>[A-Za-z_][\w:-]*)(?P<call>\s*\()?
  | (?P<paren>[(),])
    """,
    re.VERBOSE,
)
_KINDS = ("space", "selected", "today", "ref", "num", "str", "cmp", "arith", "dot", "word",
          "paren")


def tokenize(text: str, names: dict[str, str], current: str | None,
             targets: dict[str, TargetField]) -> list[LogicToken]:
    """Tokenize an XLSForm expression; `${name}` and `.` (the field itself) become field keys.

    :raises Untranslatable: for what the portal cannot represent.
    """
    tokens: list[LogicToken] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            raise Untranslatable(f"unexpected character {text[pos]!r}")
        kind = next(k for k in _KINDS if match.group(k) is not None)
        pos = match.end()
        if kind == "space":
            continue
        if kind == "selected":
            key = _key(match.group("sname"), names) if match.group("sname") else current
            if key is None:
                raise Untranslatable("'.' outside a constraint")
            tokens.append(LogicToken("cond", _selected(key, match.group("scode"), targets)))
        elif kind == "today":
            tokens.append(LogicToken("str", "today"))
        elif kind == "ref":
            tokens.append(LogicToken("field", _key(match.group("name"), names)))
        elif kind == "dot":
            if current is None:
                raise Untranslatable("'.' outside a constraint")
            tokens.append(LogicToken("field", current))
        elif kind == "str":
            tokens.append(LogicToken("str", match.group()[1:-1]))
        elif kind in ("num", "cmp", "arith"):
            tokens.append(LogicToken(kind, match.group()))
        elif kind == "paren":
            tokens.append(LogicToken(match.group(), match.group()))
        else:
            word = match.group("word")
            # An operator followed by a parenthesis is not a call: keep the parenthesis.
            paren = [LogicToken("(", "(")] if match.group("call") else []
            if word in ("and", "or"):
                tokens += [LogicToken(word, word), *paren]
            elif word == "not" and match.group("call"):
                tokens += [LogicToken("not", word), LogicToken("(", "(")]
            elif word == "div":
                tokens += [LogicToken("arith", "/"), *paren]
            elif match.group("call"):
                if word not in _FUNCTIONS:
                    raise Untranslatable(f"function {word}() has no equivalent")
                tokens += [LogicToken("func", word), LogicToken("(", "(")]
            else:
                raise Untranslatable(f"{word!r} is not understood")
    return tokens


def _key(name: str, names: dict[str, str]) -> str:
    if name not in names:
        raise Untranslatable(f"refers to ${{{name}}}, which is not in this form")
    return names[name]


def _selected(key: str, code: str, targets: dict[str, TargetField]) -> str:
    target = targets.get(key)
    if target is None:
        raise Untranslatable(f"refers to {key!r}, which is not imported")
    stored = target.code_map.get(code, code)
    if target.codes and code not in target.codes:
        raise Untranslatable(f"{code!r} is not a choice of {key!r}")
    if target.type == "multiple_choice":
        return f"{key} != null and '{stored}' in {key}"  # false for a blank, as in ODK
    if target.type in ("single_choice", "yes_no"):
        return f"{key} != null and {key} == '{stored}'"
    raise Untranslatable(f"selected() on {key!r}, which is not a choice")


_BOUND_RE = re.compile(r"^\s*\.\s*(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")
_DATE_BOUND_RE = re.compile(
    r"^\s*\.\s*(>=|<=)\s*(today\(\s*\)|\$\{([A-Za-z_][\w.-]*)\}|date\(\s*'(\d{4}-\d{2}-\d{2})'"
    r"\s*\)|'(\d{4}-\d{2}-\d{2})')\s*$")


# ---------------------------------------------------------------------------------------------
# Conversion


@dataclass
class _Pending:
    form: dict[str, Any]
    section: dict[str, Any]
    fld: dict[str, Any] | None
    text: str
    what: str  # relevant | constraint | calculation | section
    entry: FieldReport | None
    row: dict[str, str]


class _Converter:
    def __init__(self, sheets: dict[str, _Sheet], source: str, report: ImportReport) -> None:
        self.source = source
        self.report = report
        if "survey" not in sheets:
            raise ImportFormatError(source, None, "no survey sheet: not an XLSForm")
        self.sheets = sheets
        settings = dict(sheets["settings"].rows[0][1]) if "settings" in sheets and \
            sheets["settings"].rows else {}
        self.default = _language(f"label::{settings.get('default_language', '')}", "label") \
            if settings.get("default_language") else ""
        title = settings.get("form_title") or Path(source).stem
        form_id = settings.get("form_id") or Path(source).stem
        self.draft = Draft(placeholder_protocol(slug(form_id, "protocol"), title))
        self.form: dict[str, Any] = {
            "key": slug(form_id, "form"), "title": {"fr": title, "en": title},
            "kind": guess_kind(f"{form_id} {title}"),
            "put_ref": f"XLSForm {form_id}", "sections": []}
        self.report.notes.append(f"form {self.form['key']!r}: kind {self.form['kind']!r} "
                                 "guessed from its name; change `kind:` if it is wrong")
        self.draft.protocol["forms"] = [self.form]
        self.choices = self._choices()
        self.names: dict[str, str] = {}
        self.keys: set[str] = set()
        self.section_keys: set[str] = set()
        self.targets: dict[str, TargetField] = {}
        self.pending: list[_Pending] = []
        #: the `relevant` of groups flattened into a repeat, which its fields inherit
        self.inherited: list[str] = []

    def _choices(self) -> dict[str, list[tuple[str, dict[str, str], int]]]:
        lists: dict[str, list[tuple[str, dict[str, str], int]]] = {}
        for number, row in self.sheets.get("choices", _Sheet("choices")).rows:
            list_name = row.get("list_name") or row.get("list name") or ""
            name = row.get("name", "")
            if not list_name or not name:
                continue
            lists.setdefault(list_name, []).append((name, _texts(row, "label"), number))
        return lists

    def section(self, title: dict[str, str], name: str) -> dict[str, Any]:
        section: dict[str, Any] = {"key": unique(slug(name, "section"), self.section_keys),
                                   "title": title, "fields": []}
        self.form["sections"].append(section)
        return section

    def convert(self) -> None:
        stack: list[dict[str, Any]] = [self.section(dict(self.form["title"]), "main")]
        # the `relevant` each open level puts on its rows (its groups' relevant, joined)
        relevant: list[str] = [""]
        # what each open group or repeat did: "section", "flat" (merged into a repeat)
        opened: list[str] = []
        loops = 0
        for number, row in self.sheets["survey"].rows:
            raw_type = _question_type(row.get("type", ""))
            if raw_type.lower() == "loop" or (loops and raw_type.lower() != "end loop"):
                # A loop repeats its questions once per choice of a list: not collected.
                loops += raw_type.lower() == "loop"
                if row.get("name") and raw_type.lower() != "loop":
                    self.report.add(f"line {number}", self.form["key"],
                                    slug(row["name"], "item")).reject(
                        "inside a 'begin loop' (one copy per choice): not imported")
                continue
            if raw_type.lower() == "end loop":
                loops = max(0, loops - 1)
                continue
            lowered = raw_type.lower().replace("_", " ")
            kind, _sep, argument = raw_type.partition(" ")
            kind = kind.lower()
            name = row.get("name", "")
            if not kind:
                continue
            if lowered in ("begin group", "begin repeat"):
                repeated = lowered == "begin repeat"
                in_repeat = bool(stack[-1].get("repeat"))
                if in_repeat:
                    # A group (or repeat) inside a repeat is part of the same entries.
                    if repeated:
                        self.report.notes.append(f"line {number}: repeat {name!r} inside a "
                                                 "repeat is flattened into the outer one")
                    self.inherited.append(row.get("relevant", ""))
                    opened.append("flat")
                    continue
                title = _bilingual(_texts(row, "label"), self.default or "", name or "group",
                                   None, "title")
                section = self.section(title, name or "group")
                if repeated:
                    section["repeat"] = self._repeat(row, number)
                stack.append(section)
                opened.append("section")
                own = row.get("relevant", "")
                combined = " and ".join(f"({r})" for r in (relevant[-1], own) if r) \
                    if relevant[-1] and own else relevant[-1] or own
                relevant.append(combined)
                if combined:
                    self.pending.append(_Pending(self.form, section, None, combined,
                                                 "section", None, row))
                continue
            if lowered in ("end group", "end repeat"):
                if not opened:
                    raise ImportFormatError(self.source, number, f"{raw_type!r} without a "
                                            "group or repeat to close")
                if opened.pop() == "flat":
                    self.inherited.pop()
                    continue
                stack.pop()
                relevant.pop()
                # Rows after the group follow it: a new section with the enclosing title and
                # the enclosing groups' condition.
                outer = stack[-1]
                follow = self.section(dict(outer["title"]), outer["key"])
                if outer.get("repeat"):
                    follow["repeat"] = outer["repeat"]
                if relevant[-1]:
                    self.pending.append(_Pending(self.form, follow, None, relevant[-1],
                                                 "section", None, row))
                stack[-1] = follow
                continue
            inherited = [r for r in self.inherited if r]
            if inherited:
                own = row.get("relevant", "")
                row = dict(row, relevant=" and ".join(f"({r})" for r in
                                                      inherited + ([own] if own else [])))
            self.row(stack[-1], number, kind, argument.strip(), name, row)
        if opened:
            raise ImportFormatError(self.source, None, f"{len(opened)} group(s) or repeat(s) "
                                    "not closed by an end group / end repeat row")
        self.translate_pending()

    def _repeat(self, row: dict[str, str], number: int) -> dict[str, int]:
        count = row.get("repeat_count", "")
        if count.isdigit() and 1 <= int(count) <= 50:
            return {"max": int(count)}
        self.report.notes.append(f"line {number}: repeat {row.get('name', '')!r} has no fixed "
                                 f"repeat_count (up to 50): at most {_DEFAULT_REPEAT_MAX} entries")
        return {"max": _DEFAULT_REPEAT_MAX}

    def row(self, section: dict, number: int, kind: str, argument: str, name: str,
            row: dict[str, str]) -> None:
        if not name:
            raise ImportFormatError(self.source, number, f"a {kind!r} row without a name")
        key = unique(slug(name, "item"), self.keys)
        entry = self.report.add(f"line {number}", self.form["key"], key)
        if key != name:
            entry.convert(f"name {name!r} stored as the key {key!r}")
        self.names[name] = key
        label = _bilingual(_texts(row, "label"), self.default or "", name, entry,
                           "label")
        fld: dict[str, Any] = {"key": key, "label": label, "category": "health",
                               "put_ref": f"XLSForm {name}"}
        hint = _texts(row, "hint")
        if hint:
            fld["help"] = _bilingual(hint, self.default or "", name, None, "hint")
        if kind in _METADATA_TYPES:
            return entry.reject(f"device metadata ({kind}) is not collected")
        if kind in _REJECTED_TYPES:
            return entry.reject(f"{kind}: {_REJECTED_TYPES[kind]}")
        if not self.typed(fld, kind, argument, row, entry):
            return
        if row.get("required", "").strip().lower() in _TRUE and fld["type"] != "calculated":
            fld["required"] = True
        elif row.get("required", "").strip().lower() not in ("", "no", "false", "false()", "0"):
            entry.convert(f"required {row['required']!r} (a condition) read as not required")
        for column in ("default", "read_only", "choice_filter", "trigger"):
            if row.get(column):
                entry.convert(f"{column} {row[column]!r} ignored")
        section["fields"].append(fld)
        self.draft.reports[(self.form["key"], key)] = entry
        for what in ("relevant", "constraint"):
            if row.get(what):
                self.pending.append(_Pending(self.form, section, fld, row[what], what, entry,
                                             row))
        if fld["type"] == "calculated":
            self.pending.append(_Pending(self.form, section, fld, row.get("calculation", ""),
                                         "calculation", entry, row))
        elif fld["type"] in ("integer", "decimal") and kind != "range" and not re.search(
                r"\.\s*[<>]", row.get("constraint", "")):
            entry.convert(f"no bound in the form: min and max set to the placeholders "
                          f"±{_DEFAULT_BOUND}, to complete before installing")

    def typed(self, fld: dict, kind: str, argument: str, row: dict[str, str],
              entry: FieldReport) -> bool:
        key = fld["key"]
        if kind in ("select_one", "select_multiple"):
            return self.choice(fld, kind, argument, entry)
        if kind in ("select_one_from_file", "select_multiple_from_file"):
            entry.reject(f"choices from the file {argument!r} are not imported")
            return False
        if kind == "integer":
            fld.update(type="integer", min=-_DEFAULT_BOUND, max=_DEFAULT_BOUND)
            self.targets[key] = TargetField("integer")
            return True
        if kind == "decimal":
            fld.update(type="decimal", decimals=2, min=-_DEFAULT_BOUND, max=_DEFAULT_BOUND)
            entry.convert("decimal places not given in XLSForm; set to 2")
            self.targets[key] = TargetField("decimal")
            return True
        if kind == "range":
            params = dict(re.findall(r"(\w+)\s*=\s*(-?[\d.]+)", row.get("parameters", "")))
            low, high = params.get("start", "0"), params.get("end", "10")
            if not all(re.fullmatch(r"-?\d+", v) for v in (low, high)):
                entry.reject("a range with decimal bounds is not imported")
                return False
            fld.update(type="integer", min=int(low), max=int(high))
            entry.convert("range imported as a whole number between its start and end")
            self.targets[key] = TargetField("integer")
            return True
        if kind in ("date", "datetime"):
            fld["type"] = "date"
            if kind == "datetime":
                entry.convert("date and time imported as a date (time of day dropped)")
            self.targets[key] = TargetField("date")
            return True
        if kind == "time":
            fld.update(type="coded", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", max_length=5)
            entry.convert("time imported as a coded value HH:MM")
            self.targets[key] = TargetField("coded")
            return True
        if kind in ("acknowledge", "trigger"):
            fld["type"] = "yes_no"
            entry.convert("acknowledgement imported as a yes/no question")
            self.targets[key] = TargetField("yes_no", {"OK": "yes"}, ("OK",))
            return True
        if kind == "calculate":
            fld.update(type="calculated", expression="0", decimals=2)
            self.targets[key] = TargetField("calculated")
            return True
        entry.reject(f"question type {kind!r} is not collected by the portal")
        return False

    def choice(self, fld: dict, kind: str, list_name: str, entry: FieldReport) -> bool:
        if "or_other" in list_name.split()[1:]:
            entry.convert("or_other: the typed 'other' text is not collected (free text)")
        items = self.choices.get(list_name.split()[0] if list_name else "")
        if not items:
            entry.reject(f"choice list {list_name!r} is not in the choices sheet")
            return False
        choices: list[dict[str, Any]] = []
        codes: list[tuple[str, str]] = []
        for code, texts, _number in items:
            label = _bilingual(texts, self.default or "", code, None, "label")
            stored = missing_code(code, label["en"], self.draft.protocol) or code
            if stored != code:
                entry.convert(f"missing code {code!r} ({label['en']}) mapped to {stored!r}")
            elif not valid_code(stored) or stored in {c for _s, c in codes}:
                stored = stable_code(code, {c for _s, c in codes})
                entry.convert(f"choice {code!r} stored as {stored!r}")
            codes.append((code, stored))
            choices.append({"code": stored, "label": label})
        if len({c["code"] for c in choices}) != len(choices):
            entry.reject("two choices share one code")
            return False
        fld["type"] = "multiple_choice" if kind == "select_multiple" else "single_choice"
        fld["choices"] = choices
        if fld["type"] == "single_choice" and len(choices) > 6:
            fld["widget"] = "select"
        missing = {m["code"] for m in self.draft.protocol.get("missing_values", [])}
        if as_sex(fld, missing, fld["label"]["en"], fld["label"]["fr"], fld["key"]):
            entry.convert("sex question imported as the identification item `sex`")
        self.targets[fld["key"]] = TargetField(fld["type"], {s: d for s, d in codes if s != d},
                                               tuple(s for s, _d in codes))
        return True

    # -- expressions --------------------------------------------------------------------------

    def translate_pending(self) -> None:
        for pending in self.pending:
            fld = pending.fld
            if fld is not None and not any(fld is f for f in pending.section["fields"]):
                continue
            scope = scope_of(self.form, pending.section if pending.what != "section" else None)
            current = fld["key"] if fld is not None else None
            try:
                if pending.what == "constraint":
                    assert fld is not None and pending.entry is not None
                    self.constraint(pending, fld, pending.entry, scope)
                    continue
                tokens = tokenize(pending.text, self.names, current, self.targets)
                if pending.what == "calculation":
                    assert fld is not None and pending.entry is not None
                    fld["expression"] = translate(tokens, self.targets, scope, expect="number",
                                                  functions=_FUNCTIONS, blank_is_value=True,
                                                  two_valued=True)
                    pending.entry.convert("calculation translated to the portal's syntax")
                else:
                    target = fld if fld is not None else pending.section
                    target["visible_if"] = translate(tokens, self.targets, scope,
                                                     functions=_FUNCTIONS, blank_is_value=True,
                                                     two_valued=True)
            except Untranslatable as exc:
                self.untranslatable(pending, str(exc))

    def constraint(self, pending: _Pending, fld: dict, entry: FieldReport, scope: dict) -> None:
        """Bounds when the constraint is `. >= a and . <= b` (or a date bound); else a check."""
        parts = re.split(r"\s+and\s+", pending.text.strip())
        bounds: dict[str, Any] = {}
        for part in parts:
            number = _BOUND_RE.match(part)
            when = _DATE_BOUND_RE.match(part)
            if number and fld["type"] in ("integer", "decimal"):
                op, value = number.groups()
                step = Decimal(1).scaleb(-fld.get("decimals", 0))
                up = Decimal(value).quantize(step, rounding=ROUND_CEILING)
                down = Decimal(value).quantize(step, rounding=ROUND_FLOOR)
                nearest = {">=": up, ">": down + step, "<=": down, "<": up - step}[op]
                bounds["min" if op.startswith(">") else "max"] = (
                    int(nearest) if fld["type"] == "integer" else float(nearest))
            elif when and fld["type"] == "date":
                op, _whole, ref, literal, quoted = when.groups()
                value = "today" if ref is None and not (literal or quoted) else (
                    self.names.get(ref, "") if ref else (literal or quoted))
                if not value:
                    raise Untranslatable(f"refers to ${{{ref}}}, which is not in this form")
                bounds["min" if op == ">=" else "max"] = value
            else:
                bounds = {}
                break
        if bounds:
            fld.update(bounds)
            entry.convert(f"constraint {pending.text!r} imported as bounds")
            if fld["type"] in ("integer", "decimal"):
                for side in ("min", "max"):
                    if side not in bounds:
                        entry.convert(f"no {side} in the constraint: the placeholder "
                                      f"{fld[side]} is to complete before installing")
            return
        tokens = tokenize(pending.text, self.names, fld["key"], self.targets)
        expression = translate(tokens, self.targets, scope, blank_is_value=True,
                               two_valued=True)
        message = _texts(pending.row, "constraint_message")
        text = _bilingual(message, self.default or "", "", None, "message") if message else {
            "fr": "Valeur refusée par une contrainte du formulaire.",
            "en": "Value refused by a constraint of the form."}
        holder = pending.section if pending.section.get("repeat") else self.form
        used = {c["key"] for c in holder.get("checks", [])}
        holder.setdefault("checks", []).append({
            "key": unique(f"{fld['key'][:40]}_check", used), "expression": expression,
            "message": text, "fields": [fld["key"]]})
        entry.convert(f"constraint {pending.text!r} imported as a check")

    def untranslatable(self, pending: _Pending, reason: str) -> None:
        entry, fld = pending.entry, pending.fld
        if pending.what == "section":
            for other in pending.section["fields"]:
                other["required"] = False
            self.report.notes.append(f"section {pending.section['key']!r}: relevant "
                                     f"{pending.text!r} dropped ({reason}); its fields are no "
                                     "longer required")
            return
        assert entry is not None and fld is not None
        if pending.what == "calculation":
            pending.section["fields"] = [f for f in pending.section["fields"] if f is not fld]
            entry.reject(f"calculation {pending.text!r} cannot be translated: {reason}")
        elif pending.what == "relevant":
            fld["required"] = False
            entry.convert(f"relevant {pending.text!r} dropped ({reason}); the field is shown "
                          "always and no longer required")
        else:
            entry.convert(f"constraint {pending.text!r} dropped ({reason})")


def import_xlsform_sheets(sheets: dict[str, _Sheet], source: str
                          ) -> tuple[dict[str, Any], ImportReport]:
    """Convert read sheets into a definition and a row-by-row report."""
    report = ImportReport(source)
    converter = _Converter(sheets, source, report)
    converter.convert()
    report.notes.append(PLACEHOLDER_NOTE)
    return finalize(converter.draft, report, source), report


def import_xlsform_file(path: str | Path) -> tuple[dict[str, Any], ImportReport]:
    """Read an XLSForm (.xlsx, or the legacy .csv layout) and import it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportFormatError(str(path), None, f"cannot read the file: {exc.strerror}") from None
    if path.suffix.lower() == ".csv":
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ImportFormatError(str(path), None, f"not UTF-8 text ({exc.reason})") from None
        sheets = read_csv(text, str(path))
    elif data[:2] == b"PK":
        sheets = read_xlsx(data, str(path))
    else:
        raise ImportFormatError(str(path), None, "not an .xlsx workbook nor an XLSForm CSV "
                                "(the legacy .xls format: save it as .xlsx)")
    return import_xlsform_sheets(sheets, str(path))
