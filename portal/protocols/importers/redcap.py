"""Import a REDCap data dictionary (UI or API header dialect) and, optionally, its events.

Whatever would break the referential (free text, notes, files, identifiers, contact data) or
cannot be carried over exactly (smart variables, cross-event logic, unsupported functions) is
left out or simplified, and the report says so for every field.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
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
    both,
    default_window,
    finalize,
    guess_kind,
    missing_code,
    placeholder_protocol,
    plain_text,
    scope_of,
    slug,
    stable_code,
    timepoint_offset,
    translate,
    unique,
)

#: The API / instrument-zip header, which is also the canonical column names.
API_COLUMNS = (
    "field_name", "form_name", "section_header", "field_type", "field_label",
    "select_choices_or_calculations", "field_note", "text_validation_type_or_show_slider_number",
    "text_validation_min", "text_validation_max", "identifier", "branching_logic",
    "required_field", "custom_alignment", "question_number", "matrix_group_name",
    "matrix_ranking", "field_annotation",
)
#: The header the REDCap user interface exports, in the same order.
UI_COLUMNS = (
    "Variable / Field Name", "Form Name", "Section Header", "Field Type", "Field Label",
    "Choices, Calculations, OR Slider Labels", "Field Note",
    "Text Validation Type OR Show Slider Number", "Text Validation Min", "Text Validation Max",
    "Identifier?", "Branching Logic (Show field only if...)", "Required Field?",
    "Custom Alignment", "Question Number (surveys only)", "Matrix Group Name", "Matrix Ranking?",
    "Field Annotation",
)


def _norm(header: str) -> str:
    return re.sub(r"\s+", " ", header.strip().lower())


_HEADER_ALIASES = {_norm(ui): api for ui, api in zip(UI_COLUMNS, API_COLUMNS, strict=True)}
_HEADER_ALIASES.update({_norm(api): api for api in API_COLUMNS})
_HEADER_ALIASES.update({
    "choices or calculations": "select_choices_or_calculations",
    "choices, calculations or slider labels": "select_choices_or_calculations",
    "text validation": "text_validation_type_or_show_slider_number",
    "text validation type": "text_validation_type_or_show_slider_number",
    "branching logic": "branching_logic",
    "required field": "required_field",
    "identifier": "identifier",
})
_REQUIRED_COLUMNS = ("field_name", "form_name", "field_type", "field_label")
_FIELD_TYPES = {"text", "notes", "dropdown", "radio", "checkbox", "calc", "file", "descriptive",
                "slider", "yesno", "truefalse", "sql"}
_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,99}")
_DEFAULT_BOUND = 999999
_TIME_PATTERNS = {
    "time": (r"^([01][0-9]|2[0-3]):[0-5][0-9]$", 5),
    "time_hh_mm_ss": (r"^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$", 8),
    "time_mm_ss": (r"^[0-5][0-9]:[0-5][0-9]$", 5),
}
#: Validation types that mark identifiers or contact data: never imported (referential 7.2).
_IDENTIFYING_VALIDATIONS = {
    "email": "an e-mail address", "phone": "a phone number",
    "phone_australia": "a phone number", "zipcode": "a postcode",
    "postalcode_french": "a postcode", "postalcode_germany": "a postcode",
    "postalcode_canada": "a postcode", "postalcode_australia": "a postcode",
    "ssn": "a social security number", "mrn_10d": "a medical record number",
    "mrn_generic": "a medical record number", "vmrn": "a medical record number",
}
#: BioPortal ontologies whose codes have a strict shape.
_ONTOLOGY_PATTERNS = {
    "MEDDRA": (r"^[0-9]{8}$", 8, "MedDRA"),
    "ATC": (r"^[A-Z]([0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?)?$", 7, "ATC"),
}
_FUNCTIONS = {"round": "round", "rounddown": "rounddown", "roundup": "roundup", "abs": "abs",
              "min": "min", "max": "max", "sum": "sum", "if": "if", "datediff": "days_between"}
#: Action tags and what the import does with each (the report names every tag found).
_ACTION_TAGS = {
    "@FORCE-MINMAX": "kept: the portal always refuses a value outside the bounds",
    "@HIDDEN-SURVEY": "ignored: the portal has no survey mode",
    "@HIDDEN-APP": "ignored: the portal has no mobile app mode",
    "@HIDDEN-PDF": "ignored: the portal prints no blank PDF",
    "@READONLY-SURVEY": "ignored: the portal has no survey mode",
    "@NOMISSING": "ignored: missing-data codes are the definition's missing_values",
    "@DEFAULT": "ignored: the portal never pre-fills an answer",
    "@SETVALUE": "ignored: the portal never pre-fills an answer",
    "@NOW": "ignored: the date is typed, not pre-filled",
    "@TODAY": "ignored: the date is typed, not pre-filled",
    "@PLACEHOLDER": "ignored: no placeholder text",
    "@CHARLIMIT": "ignored: the field's type bounds its length",
    "@WORDLIMIT": "ignored: the field's type bounds its length",
    "@RANDOMORDER": "ignored: choices keep their order",
    "@NONEOFTHEABOVE": "ignored: 'none of the above' is not enforced as exclusive",
    "@MAXCHOICE": "ignored: choices are not counted down",
    "@MAXCHECKED": "ignored: use max_selected in the definition if needed",
    "@PREFILL": "ignored: the portal never pre-fills an answer",
    "@LATITUDE": "ignored", "@LONGITUDE": "ignored",
}
_YES_NO_CODES = {"1": "yes", "0": "no"}


@dataclass
class _Row:
    line: int
    cells: dict[str, str]

    def get(self, column: str) -> str:
        return (self.cells.get(column) or "").strip()


def read_rows(text: str, source: str) -> list[_Row]:
    """Read the dictionary's rows, mapping either header dialect to the API column names."""
    reader = csv.reader(io.StringIO(text), strict=True)
    try:
        header = next(reader, None)
        if not header or not any(cell.strip() for cell in header):
            raise ImportFormatError(source, 1, "the file is empty")
        columns = [_HEADER_ALIASES.get(_norm(cell)) for cell in header]
        missing = [c for c in _REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise ImportFormatError(
                source, 1, f"not a REDCap data dictionary: no column {missing[0]!r} "
                "(expected the 'Variable / Field Name, Form Name, ...' or the "
                "'field_name, form_name, ...' header)",
            )
        rows = []
        line = reader.line_num + 1
        for record in reader:
            if any(cell.strip() for cell in record):
                if len(record) != len(header):
                    raise ImportFormatError(
                        source, line, f"the row has {len(record)} cells, the header has "
                        f"{len(header)} (a missing quote or comma?)",
                    )
                rows.append(_Row(line, {c: v for c, v in zip(columns, record, strict=True) if c}))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise ImportFormatError(source, reader.line_num or 1, f"malformed CSV: {exc}") from None
    if not rows:
        raise ImportFormatError(source, 2, "the dictionary has a header but no field")
    return rows


def parse_choices(text: str, source: str, line: int) -> list[tuple[str, str]]:
    """Parse `1, Yes | 0, No` (spaces after `|` optional)."""
    choices = []
    for item in text.split("|"):
        if not item.strip():
            continue
        code, comma, label = item.partition(",")
        if not comma or not code.strip():
            raise ImportFormatError(source, line, f"choice {item.strip()!r} is not 'code, label'")
        choices.append((code.strip(), plain_text(label) or code.strip()))
    if not choices:
        raise ImportFormatError(source, line, "a choice field without choices")
    return choices


_TOKEN_RE = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<event>\[[A-Za-z0-9_-]+\](?=\s*\[))
  | (?P<checkbox>\[(?P<cb_name>[a-z][a-z0-9_]*)\((?P<cb_code>[^()\]]+)\)\])
  | (?P<field>\[(?P<name>[a-z][a-z0-9_]*)\])
  | (?P<smart>\[[^\]]*\])
  | (?P<num>\d+(?:\.\d+)?)
  | (?P<str>'[^']*'|"[^"]*")
  | (?P<cmp><>|!=|>=|<=|==|=|>|<)
  | (?P<arith>[-+*/^])
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)(?P<call>\s*\()?
  | (?P<paren>[(),])
    """,
    re.VERBOSE,
)


_TOKEN_KINDS = ("space", "event", "checkbox", "field", "smart", "num", "str", "cmp", "arith",
                "word", "paren")


def tokenize_logic(text: str) -> list[LogicToken]:
    """Tokenize REDCap branching logic or a calculation.

    :raises Untranslatable: for smart variables, cross-event references and stray characters.
    """
    tokens: list[LogicToken] = []
    text = strip_comments(text)
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            raise Untranslatable(f"unexpected character {text[pos]!r}")
        # `lastgroup` would name the inner `call` group of a word: look the kind up instead.
        kind = next(k for k in _TOKEN_KINDS if match.group(k) is not None)
        if kind == "event":
            raise Untranslatable("cross-event reference ([event][field])")
        if kind == "smart":
            raise Untranslatable(f"smart variable {match.group()}")
        if kind == "checkbox":
            tokens.append(LogicToken("field", match.group("cb_name"), match.group("cb_code")))
        elif kind == "field":
            tokens.append(LogicToken("field", match.group("name")))
        elif kind == "str":
            tokens.append(LogicToken("str", match.group()[1:-1]))
        elif kind in ("num", "cmp", "arith"):
            tokens.append(LogicToken(kind, match.group()))
        elif kind == "word":
            word = match.group("word")
            if word.lower() in ("true", "false") and not match.group("call"):
                tokens.append(LogicToken("str", word.lower()))
            elif word.lower() in ("and", "or", "not"):
                tokens.append(LogicToken(word.lower(), word))
                if match.group("call"):  # `and (` is a keyword and a parenthesis, not a call
                    tokens.append(LogicToken("(", "("))
            elif match.group("call"):
                tokens += [LogicToken("func", word), LogicToken("(", "(")]
            else:
                raise Untranslatable(f"unknown word {word!r}")
        elif kind == "paren":
            tokens.append(LogicToken(match.group(), match.group()))
        pos = match.end()
    return tokens


def strip_comments(text: str) -> str:
    """Remove REDCap's `# comment` lines (and comments after the logic on a line)."""
    lines = []
    for line in text.splitlines():
        quote = None
        for index, char in enumerate(line):
            if quote:
                quote = None if char == quote else quote
            elif char in "'\"":
                quote = char
            elif char == "#":
                line = line[:index]
                break
        lines.append(line)
    return "\n".join(lines)


class _Converter:
    """Turns rows into draft forms, reporting each field's fate."""

    def __init__(self, source: str, report: ImportReport) -> None:
        self.source = source
        self.report = report
        self.draft = Draft(placeholder_protocol(slug(Path(source).stem, "protocol"),
                                                Path(source).stem))
        self.draft.protocol["forms"] = []
        self.targets: dict[str, dict[str, TargetField]] = {}
        self.pending_logic: list[tuple[dict, dict, _Row, FieldReport]] = []
        self.field_forms: dict[str, str] = {}  # every source field → its instrument
        self.codes: list[tuple[str, str]] = []  # the last choice field's (source, stored) codes

    # -- forms and sections -------------------------------------------------------------------

    def form(self, name: str, line: int) -> dict[str, Any]:
        forms = self.draft.protocol["forms"]
        if forms and forms[-1]["key"] == name:
            return forms[-1]
        if any(f["key"] == name for f in forms):
            raise ImportFormatError(self.source, line,
                                    f"rows of form {name!r} are not contiguous")
        title = name.replace("_", " ").capitalize()
        form = {"key": name, "title": both(title), "kind": guess_kind(name),
                "put_ref": f"REDCap instrument {name}",
                "sections": [self._section(title, "main")], "_used": {"main"},
                "_matrix": None, "_last_title": title}
        forms.append(form)
        self.targets[name] = {}
        self.report.notes.append(f"form {name!r}: kind {form['kind']!r} guessed from its name; "
                                 "change `kind:` if it is wrong")
        return form

    @staticmethod
    def _section(title: str, key: str) -> dict[str, Any]:
        return {"key": key, "title": both(title), "fields": []}

    def section_for(self, form: dict, row: _Row) -> dict[str, Any]:
        header = plain_text(row.get("section_header"))
        matrix = row.get("matrix_group_name")
        sections = form["sections"]
        if matrix:
            if form["_matrix"] != matrix:
                title = header or matrix.replace("_", " ").capitalize()
                section = self._section(title, unique(slug(matrix), form["_used"]))
                section["layout"] = "grid"
                sections.append(section)
                form["_matrix"] = matrix
                if header:  # a header opens a section that outlives the matrix
                    form["_last_title"] = header
            return sections[-1]
        if header or form["_matrix"]:
            title = header or form["_last_title"]
            form["_matrix"] = None
            sections.append(self._section(title, unique(slug(title, "section"), form["_used"])))
            form["_last_title"] = title
        return sections[-1]

    # -- fields -------------------------------------------------------------------------------

    def row(self, row: _Row, first: bool) -> None:
        name, form_name = row.get("field_name"), row.get("form_name")
        if not _NAME_RE.fullmatch(name):
            raise ImportFormatError(self.source, row.line, f"invalid variable name {name!r}")
        if not _NAME_RE.fullmatch(form_name):
            raise ImportFormatError(self.source, row.line, f"invalid form name {form_name!r}")
        kind = row.get("field_type").lower()
        if kind not in _FIELD_TYPES:
            raise ImportFormatError(self.source, row.line, f"unknown field type {kind!r}")
        form = self.form(form_name, row.line)
        self.field_forms[name] = form_name
        section = self.section_for(form, row)
        entry = self.report.add(f"line {row.line}", form_name, name)
        key = name if len(name) <= 50 else name[:50]
        if key != name:
            entry.convert(f"key shortened to {key!r}")
        label = plain_text(row.get("field_label")) or name
        fld: dict[str, Any] = {"key": key, "label": both(label), "category": "health",
                               "put_ref": f"REDCap {form_name}.{name}"}
        note = plain_text(row.get("field_note"))
        if note:
            fld["help"] = both(note)
        if first:
            return entry.reject("record identifier: the portal numbers cases itself")
        if row.get("identifier").lower() in ("y", "yes", "1"):
            return entry.reject("flagged as an identifier in REDCap (referential 7.2: "
                                "identification is limited to initials, sex, weight, height, "
                                "age or month/year of birth)")
        self.codes = []
        if not self._typed(fld, kind, row, entry):
            return
        if not self._action_tags(fld, row, entry):
            return
        if row.get("required_field").lower() in ("y", "yes", "1") and fld["type"] != "calculated":
            fld["required"] = True
        section["fields"].append(fld)
        self.draft.reports[(form_name, key)] = entry
        if kind in ("yesno", "truefalse"):
            target = TargetField(fld["type"], _YES_NO_CODES, ("1", "0"))
        else:
            target = TargetField(fld["type"], {s: d for s, d in self.codes if s != d},
                                 tuple(s for s, _d in self.codes))
        self.targets[form_name][key] = target
        if row.get("branching_logic") or fld["type"] == "calculated":
            self.pending_logic.append((form, fld, row, entry))

    def _action_tags(self, fld: dict, row: _Row, entry: FieldReport) -> bool:
        """Map or report every action tag; False (reported) when the field is left out."""
        tags = list(dict.fromkeys(re.findall(r"@[A-Z][A-Z0-9-]*", row.get("field_annotation"))))
        hidden = [t for t in tags if t in ("@HIDDEN", "@HIDDEN-FORM")]
        if hidden and fld["type"] == "calculated":
            entry.convert(f"{hidden[0]}: a calculation, computed by the server and never typed")
        elif hidden:
            entry.reject(f"action tag {hidden[0]}: the field is never shown on the data entry "
                         "form, so nobody would enter it")
            return False
        for tag in tags:
            if tag in ("@CALCTEXT", "@CALCDATE"):
                entry.reject(f"action tag {tag}: a value computed as text or a date, which the "
                             "portal's calculations do not produce")
                return False
            if tag in ("@HIDDEN", "@HIDDEN-FORM"):
                continue
            if tag == "@READONLY":
                entry.convert("@READONLY: a calculation, never typed" if fld["type"] ==
                              "calculated" else "@READONLY ignored: the value is typed in the "
                              "portal")
                continue
            entry.convert(f"{tag} {_ACTION_TAGS.get(tag, 'ignored: not understood by the portal')}")
        return True

    def _typed(self, fld: dict, kind: str, row: _Row, entry: FieldReport) -> bool:
        """Fill the type and its constraints; False (and report) when the field is rejected."""
        validation = row.get("text_validation_type_or_show_slider_number").lower()
        choices_text = row.get("select_choices_or_calculations")
        if kind in ("dropdown", "radio", "checkbox"):
            choices = self._missing_codes(parse_choices(choices_text, self.source, row.line),
                                          entry)
            used: set[str] = set()
            stable = []
            for index, (code, label) in enumerate(choices):
                stored = stable_code(code, used)
                if stored != code:
                    entry.convert(f"choice code {code!r} stored as {stored!r}")
                    source, _mapped = self.codes[index]
                    self.codes[index] = (source, stored)
                stable.append((stored, label))
            choices = stable
            if len({code for code, _ in choices}) != len(choices):
                entry.reject("two answers share one code once missing codes are mapped")
                return False
            fld["type"] = "multiple_choice" if kind == "checkbox" else "single_choice"
            if kind == "dropdown":
                fld["widget"] = "select"
            fld["choices"] = [{"code": c, "label": both(label)} for c, label in choices]
            missing = {m["code"] for m in self.draft.protocol.get("missing_values", [])}
            if as_sex(fld, missing, row.get("field_label"), row.get("field_name")):
                entry.convert("sex question imported as the identification item `sex`")
            if validation == "autocomplete":
                entry.convert("autocomplete dropdown shown as a select")
            return True
        if kind in ("yesno", "truefalse"):
            fld["type"] = "yes_no"
            entry.convert(f"{kind} stored as yes/no codes ('yes'/'no' instead of 1/0)")
            return True
        if kind == "calc":
            fld["type"] = "calculated"
            fld["expression"] = choices_text  # translated with the other logic
            return True
        if kind == "slider":
            fld.update(type="integer", min=_int(row.get("text_validation_min"), 0),
                       max=_int(row.get("text_validation_max"), 100))
            entry.convert("slider imported as a whole number (slider labels dropped)")
            return True
        if kind == "notes":
            entry.reject("notes box: free text is forbidden (referential 7.3)")
        elif kind == "file":
            what = "signature" if validation == "signature" else "file upload"
            entry.reject(f"{what}: attachments are not collected (free content, identities)")
        elif kind == "descriptive":
            entry.reject("descriptive text holds no data (add it as help text if needed)")
        elif kind == "sql":
            entry.reject("SQL field: not supported")
        else:
            return self._text(fld, validation, row, entry)
        return False

    def _missing_codes(self, choices: list[tuple[str, str]], entry: FieldReport
                       ) -> list[tuple[str, str]]:
        """Replace sentinel codes (-99 unknown, -88 not applicable...) with missing codes."""
        mapped = []
        for code, label in choices:
            source = code
            target = missing_code(code, label, self.draft.protocol)
            if target is not None and target != code:
                entry.convert(f"missing code {code!r} ({label}) mapped to {target!r}")
                code = target
            mapped.append((code, label))
            self.codes.append((source, code))
        return mapped

    def _text(self, fld: dict, validation: str, row: _Row, entry: FieldReport) -> bool:
        low, high = row.get("text_validation_min"), row.get("text_validation_max")
        ontology = re.match(r"BIOPORTAL:(\w+)", row.get("select_choices_or_calculations"))
        if ontology:
            known = _ONTOLOGY_PATTERNS.get(ontology.group(1).upper())
            if known is None:
                entry.reject(f"ontology {ontology.group(1)} has no strict code pattern")
                return False
            pattern, length, dictionary = known
            fld.update(type="coded", pattern=pattern, max_length=length, dictionary=dictionary)
            entry.convert(f"BioPortal {dictionary} lookup imported as a coded value (code only)")
            return True
        if validation == "integer":
            fld.update(type="integer", min=_int(low, -_DEFAULT_BOUND),
                       max=_int(high, _DEFAULT_BOUND))
            if not (low and high):
                entry.convert(f"min/max missing in the dictionary; set to ±{_DEFAULT_BOUND}")
            return True
        number = re.fullmatch(r"number(?:_(\d)dp)?(_comma_decimal)?", validation)
        if number:
            fld.update(type="decimal", min=_num(low, -_DEFAULT_BOUND),
                       max=_num(high, _DEFAULT_BOUND),
                       decimals=int(number.group(1)) if number.group(1) else 2)
            if not number.group(1):
                entry.convert("decimal places not fixed in REDCap; set to 2")
            if not (low and high):
                entry.convert(f"min/max missing in the dictionary; set to ±{_DEFAULT_BOUND}")
            return True
        date_type = re.fullmatch(r"(date|datetime|datetime_seconds)_(ymd|mdy|dmy)", validation)
        if date_type:
            fld["type"] = "date"
            for bound, value in (("min", low), ("max", high)):
                if value:
                    fld[bound] = _date_bound(value)
            if date_type.group(1) != "date":
                entry.convert("date and time imported as a date (time of day dropped)")
            return True
        if validation in _TIME_PATTERNS:
            pattern, length = _TIME_PATTERNS[validation]
            fld.update(type="coded", pattern=pattern, max_length=length)
            entry.convert("time imported as a coded value HH:MM")
            return True
        if validation in _IDENTIFYING_VALIDATIONS:
            entry.reject(f"{_IDENTIFYING_VALIDATIONS[validation]} is not collected "
                         "(referential 7.2)")
        elif validation:
            entry.reject(f"validation {validation!r} gives no strict, bounded code: free text")
        else:
            entry.reject("text box without validation: free text is forbidden (referential 7.3)")
        return False

    # -- logic --------------------------------------------------------------------------------

    def translate_pending(self) -> None:
        """Translate branching logic and calculations once every field of the form exists."""
        for form, fld, row, entry in self.pending_logic:
            if not any(fld is f for s in form["sections"] for f in s["fields"]):
                continue
            section = next(s for s in form["sections"] if any(f is fld for f in s["fields"]))
            scope = scope_of(form, section)
            targets = self.targets[form["key"]]
            if fld["type"] == "calculated":
                try:
                    tokens = self.tokens(fld["expression"], form["key"], entry)
                    fld["expression"] = translate(tokens, targets, scope, expect="number",
                                                  functions=_FUNCTIONS, blank_is_value=True)
                    entry.convert("calculation translated to the portal's syntax")
                except Untranslatable as exc:
                    section["fields"].remove(fld)
                    entry.reject(f"calculation cannot be translated: {exc}")
                    continue
            logic = row.get("branching_logic")
            if not logic:
                continue
            try:
                fld["visible_if"] = translate(self.tokens(logic, form["key"], entry), targets,
                                              scope, functions=_FUNCTIONS, blank_is_value=True)
            except Untranslatable as exc:
                fld["required"] = False
                entry.convert(f"branching logic {logic!r} dropped ({exc}); the field is shown "
                              "always and no longer required")


    def tokens(self, logic: str, form: str, entry: FieldReport) -> list[LogicToken]:
        """The logic's tokens; a field of another instrument is named as such."""
        if strip_comments(logic) != logic:
            entry.convert("comments (# ...) in the logic left out")
        tokens = tokenize_logic(logic)
        for token in tokens:
            if token.kind != "field" or token.text in self.targets[form]:
                continue
            other = self.field_forms.get(token.text)
            if other is not None and other != form:
                raise Untranslatable(f"refers to {token.text!r} of instrument {other!r}: a "
                                     "condition sees the fields of its own form only")
            if other == form:
                raise Untranslatable(f"refers to {token.text!r}, which is left out of the "
                                     "import")
        return tokens


def _int(value: str, default: int) -> int:
    try:
        return int(value)
    except ValueError:
        return default


def _num(value: str, default: int) -> Any:
    try:
        return float(value) if "." in value else int(value)
    except ValueError:
        return default


def _date_bound(value: str) -> str:
    if value.lower() in ("today", "now"):
        return "today"
    field_ref = re.fullmatch(r"\[([a-z][a-z0-9_]*)\]", value)
    if field_ref:
        return field_ref.group(1)
    return value[:10]


@dataclass
class Events:
    """The schedule read from the events CSV, and which timepoint each event became."""

    timepoints: list[dict[str, Any]]
    codes: dict[str, str]  # unique event name → timepoint code (events that became one)
    names: set[str]  # every unique event name


def _csv_records(text: str, source: str, needed: tuple[str, ...], what: str
                 ) -> list[tuple[int, dict[str, str]]]:
    """The records of a REDCap CSV export with (normalised) column names, each with its line."""
    reader = csv.DictReader(io.StringIO(text), strict=True)
    records = []
    try:
        fields = [_norm(f) for f in reader.fieldnames or []]
        if any(column not in fields for column in needed):
            raise ImportFormatError(source, 1, f"not a REDCap {what}: expected the columns "
                                    f"{', '.join(needed)}")
        reader.fieldnames = fields
        for record in reader:
            cells = {k: (v or "").strip() for k, v in record.items() if isinstance(k, str)
                     and isinstance(v, str)}
            if any(cells.values()):
                records.append((reader.line_num, cells))
    except csv.Error as exc:
        raise ImportFormatError(source, reader.line_num, f"malformed CSV: {exc}") from None
    return records


def read_events(text: str, source: str, report: ImportReport) -> Events:
    """Turn a REDCap events CSV into schedule timepoints.

    Every arm is read: an event of another arm that is the same timepoint (same name without
    the arm suffix, same offset and window) is shared, another becomes its own timepoint. The
    first event of an arm without any offset ("Enrollment") is day 0.
    """
    records = _csv_records(text, source, ("event_name", "unique_event_name"), "events file")
    events = Events([], {}, set())
    by_code: dict[str, dict[str, Any]] = {}
    arms_started: set[str] = set()
    for line, record in records:
        arm = record.get("arm_num") or "1"
        name, unique_name = record.get("event_name", ""), record.get("unique_event_name", "")
        if not name or not unique_name:
            raise ImportFormatError(source, line, "an event without a name")
        events.names.add(unique_name)
        first = arm not in arms_started
        arms_started.add(arm)
        timepoint = _timepoint(record, name, unique_name, source, line, report, first)
        if timepoint is None:
            continue
        code = timepoint["code"]
        same = by_code.get(code)
        if same is not None and _when(same) == _when(timepoint):
            events.codes[unique_name] = code
            report.notes.append(f"event {unique_name!r} (arm {arm}) is the timepoint {code} "
                                "of an earlier arm")
            continue
        if same is not None:
            timepoint["code"] = code = unique(f"{code}_ARM_{arm}"[:40], set(by_code))
            report.notes.append(f"event {unique_name!r} of arm {arm} differs from the "
                                f"timepoint of the same name: it becomes {code}")
        by_code[code] = timepoint
        events.codes[unique_name] = code
        events.timepoints.append(timepoint)
    if len(arms_started) > 1:
        report.notes.append(f"{len(arms_started)} arms: their events share the one schedule "
                            "of a PUT-SP")
    return events


def _when(timepoint: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in timepoint.items() if k not in ("code", "label")}


def _timepoint(record: dict, name: str, unique_name: str, source: str, line: int,
               report: ImportReport, first: bool) -> dict[str, Any] | None:
    code = re.sub(r"_arm_\d+[a-z]?$", "", unique_name).upper()[:40] or "EVENT"
    label = (record.get("custom_event_label") or "").strip() or name
    timepoint: dict[str, Any] = {"code": code, "label": both(label)}
    offset = (record.get("day_offset") or "").strip()
    if offset:
        try:
            timepoint["day"] = int(float(offset))
            timepoint["window_before_days"] = int(float(record.get("offset_min") or 0))
            timepoint["window_after_days"] = int(float(record.get("offset_max") or 0))
        except ValueError:
            raise ImportFormatError(source, line,
                                    f"day_offset {offset!r} is not a number") from None
        return timepoint
    guessed = timepoint_offset(name, unique_name)
    if guessed is None and first:
        timepoint.update(day=0, window_before_days=0, window_after_days=0)
        report.notes.append(f"event {unique_name!r} (line {line}), the first of its arm, has no "
                            "day offset: it is day 0")
        return timepoint
    if guessed is None:
        report.notes.append(f"event {unique_name!r} (line {line}) left out: no day offset and "
                            "none can be read from its name")
        return None
    unit, amount = guessed
    window = default_window(unit, amount)
    timepoint[unit] = amount
    timepoint["window_before_days"] = timepoint["window_after_days"] = window
    report.notes.append(f"event {unique_name!r}: offset read from its name ({unit} {amount}), "
                        f"window not in the file, set to ±{window} days")
    return timepoint


def read_mapping(text: str, source: str, events: Events | None
                 ) -> dict[str, list[tuple[int, str]]]:
    """The instrument-event mapping CSV: each form's events (with the line naming each)."""
    records = _csv_records(text, source, ("unique_event_name", "form"),
                           "instrument-event mapping")
    forms: dict[str, list[tuple[int, str]]] = {}
    for line, record in records:
        event = record["unique_event_name"]
        if events is not None and event not in events.names:
            raise ImportFormatError(source, line, f"event {event!r} is not in the events file")
        forms.setdefault(record["form"], []).append((line, event))
    return forms


def read_repeating(text: str, source: str) -> list[tuple[int, str, str]]:
    """The repeating instruments and events CSV: (line, unique event name or '', form or '')."""
    records = _csv_records(text, source, ("form_name",), "repeating instruments file")
    return [(line, record.get("event_name", ""), record.get("form_name", ""))
            for line, record in records]


def _apply_schedule(protocol: dict[str, Any], report: ImportReport, events: Events | None,
                    mapping: dict[str, list[tuple[int, str]]] | None,
                    repeating: list[tuple[int, str, str]] | None, sources: dict[str, str]
                    ) -> None:
    forms = {form["key"]: form for form in protocol["forms"]}
    codes = events.codes if events is not None else {}
    order = [t["code"] for t in protocol["schedule"]["timepoints"]]
    for form_key, mapped in (mapping or {}).items():
        form = forms.get(form_key)
        if form is None:
            line = mapped[0][0]
            report.notes.append(f"{sources['mapping']}:{line}: form {form_key!r} is not in the "
                                "dictionary (or has no importable field)")
            continue
        timepoints = {codes[event] for _line, event in mapped if event in codes}
        if timepoints:
            form["timepoints"] = [code for code in order if code in timepoints]
        others = sorted({event for _line, event in mapped if event not in codes})
        if others:
            report.notes.append(f"form {form_key!r} is also filled at events that are not "
                                f"timepoints: {', '.join(others)}")
    for line, event, form_key in repeating or []:
        if form_key:
            targets = [form_key]
        else:
            targets = [f for f, mapped in (mapping or {}).items()
                       if any(e == event for _l, e in mapped)]
            if not targets:
                report.notes.append(f"{sources['repeating']}:{line}: repeating event {event!r} "
                                    "has no form in the instrument-event mapping")
        for key in targets:
            form = forms.get(key)
            if form is None:
                report.notes.append(f"{sources['repeating']}:{line}: repeating form {key!r} is "
                                    "not in the dictionary (or has no importable field)")
                continue
            form["repeatable"] = True
            why = f"event {event!r} repeats" if not form_key else "it repeats in REDCap"
            report.notes.append(f"form {key!r} is repeatable ({why})")


def import_redcap(dictionary: str, source: str, events: str | None = None,
                  events_source: str = "events.csv", *, mapping: str | None = None,
                  mapping_source: str = "mapping.csv", repeating: str | None = None,
                  repeating_source: str = "repeating.csv"
                  ) -> tuple[dict[str, Any], ImportReport]:
    """Convert a data dictionary (events, instrument-event mapping, repeating instruments)
    into a definition and a field-by-field report.

    :raises ImportFormatError: on input that cannot be read, naming the line.
    """
    report = ImportReport(source)
    converter = _Converter(source, report)
    rows = read_rows(dictionary, source)
    seen: set[str] = set()
    for index, row in enumerate(rows):
        name = row.get("field_name")
        if name in seen:
            raise ImportFormatError(source, row.line, f"variable {name!r} is defined twice")
        seen.add(name)
        converter.row(row, first=index == 0)
    converter.translate_pending()
    protocol = converter.draft.protocol
    for form in protocol["forms"]:
        for private in ("_used", "_matrix", "_last_title"):
            form.pop(private, None)
    schedule = None
    if events is not None:
        schedule = read_events(events, events_source, report)
        if schedule.timepoints:
            protocol["schedule"] = {"timepoints": schedule.timepoints}
        else:
            report.notes.append("no event could become a timepoint; schedule left as D0 only")
    forms_mapping = read_mapping(mapping, mapping_source, schedule) if mapping else None
    repeats = read_repeating(repeating, repeating_source) if repeating else None
    _apply_schedule(protocol, report, schedule, forms_mapping, repeats,
                    {"mapping": mapping_source, "repeating": repeating_source})
    report.notes.append(PLACEHOLDER_NOTE)
    return finalize(converter.draft, report, source), report


def import_redcap_files(dictionary_path: str | Path, events_path: str | Path | None = None,
                        mapping_path: str | Path | None = None,
                        repeating_path: str | Path | None = None
                        ) -> tuple[dict[str, Any], ImportReport]:
    """Read the files (UTF-8 with or without BOM, or Windows-1252 as Excel saves them) and
    import them."""
    legacy: list[str] = []
    dictionary = _read(dictionary_path, legacy)
    events = _read(events_path, legacy) if events_path else None
    definition, report = import_redcap(
        dictionary, str(dictionary_path), events, str(events_path or ""),
        mapping=_read(mapping_path, legacy) if mapping_path else None,
        mapping_source=str(mapping_path or ""),
        repeating=_read(repeating_path, legacy) if repeating_path else None,
        repeating_source=str(repeating_path or ""))
    report.notes += [f"{name} is not UTF-8: read as Windows-1252 (as Excel saves a CSV); check "
                     "accented letters in the labels" for name in legacy]
    return definition, report


def _read(path: str | Path, legacy: list[str]) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImportFormatError(str(path), None, f"cannot read the file: {exc.strerror}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        reason = exc.reason
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        raise ImportFormatError(str(path), None, f"not UTF-8 text ({reason}), nor "
                                "Windows-1252") from None
    legacy.append(str(path))
    return text

