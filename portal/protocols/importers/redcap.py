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
    timepoint_offset,
    translate,
    unique,
    valid_code,
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
_FUNCTIONS = {"round": "round", "abs": "abs", "min": "min", "max": "max",
              "datediff": "days_between"}
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
            if word.lower() in ("and", "or", "not"):
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
        if not self._typed(fld, kind, row, entry):
            return
        tags = set(re.findall(r"@[A-Z][A-Z-]*", row.get("field_annotation")))
        if tags & {"@HIDDEN", "@HIDDEN-FORM", "@CALCTEXT", "@CALCDATE"}:
            return entry.reject(f"action tag {sorted(tags)[0]}: not a value entered on the form")
        ignored = sorted(tags - {"@FORCE-MINMAX", "@HIDDEN-SURVEY"})
        if ignored:
            entry.convert(f"action tags ignored: {', '.join(ignored)}")
        if row.get("required_field").lower() in ("y", "yes", "1") and fld["type"] != "calculated":
            fld["required"] = True
        section["fields"].append(fld)
        self.draft.reports[(form_name, key)] = entry
        code_map = _YES_NO_CODES if kind in ("yesno", "truefalse") else {}
        self.targets[form_name][key] = TargetField(fld["type"], code_map)
        if row.get("branching_logic") or fld["type"] == "calculated":
            self.pending_logic.append((form, fld, row, entry))

    def _typed(self, fld: dict, kind: str, row: _Row, entry: FieldReport) -> bool:
        """Fill the type and its constraints; False (and report) when the field is rejected."""
        validation = row.get("text_validation_type_or_show_slider_number").lower()
        choices_text = row.get("select_choices_or_calculations")
        if kind in ("dropdown", "radio", "checkbox"):
            choices = self._missing_codes(parse_choices(choices_text, self.source, row.line),
                                          entry)
            bad = [code for code, _ in choices if not valid_code(code)]
            if bad:
                entry.reject(f"choice code {bad[0]!r} cannot be stored as a stable code")
                return False
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
            target = missing_code(code, label, self.draft.protocol)
            if target is not None and target != code:
                entry.convert(f"missing code {code!r} ({label}) mapped to {target!r}")
                code = target
            mapped.append((code, label))
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
                    fld["expression"] = translate(tokenize_logic(fld["expression"]), targets,
                                                  scope, expect="number", functions=_FUNCTIONS)
                    entry.convert("calculation translated to the portal's syntax")
                except Untranslatable as exc:
                    section["fields"].remove(fld)
                    entry.reject(f"calculation cannot be translated: {exc}")
                    continue
            logic = row.get("branching_logic")
            if not logic:
                continue
            try:
                fld["visible_if"] = translate(tokenize_logic(logic), targets, scope)
            except Untranslatable as exc:
                fld["required"] = False
                entry.convert(f"branching logic {logic!r} dropped ({exc}); the field is shown "
                              "always and no longer required")


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


def read_events(text: str, source: str, report: ImportReport) -> list[dict[str, Any]]:
    """Turn a REDCap events CSV into schedule timepoints (arm 1; other arms are noted)."""
    reader = csv.DictReader(io.StringIO(text), strict=True)
    try:
        fields = [_norm(f) for f in reader.fieldnames or []]
        if "event_name" not in fields or "unique_event_name" not in fields:
            raise ImportFormatError(source, 1, "not a REDCap events file: expected "
                                    "event_name, arm_num, unique_event_name, ...")
        reader.fieldnames = fields
        timepoints: list[dict] = []
        codes: set[str] = set()
        for record in reader:
            line = reader.line_num
            arm = (record.get("arm_num") or "1").strip()
            name = (record.get("event_name") or "").strip()
            unique_name = (record.get("unique_event_name") or "").strip()
            if not name or not unique_name:
                raise ImportFormatError(source, line, "an event without a name")
            if arm != "1":
                report.notes.append(f"event {unique_name!r} of arm {arm} ignored: a PUT-SP has "
                                    "one schedule")
                continue
            timepoint = _timepoint(record, name, unique_name, source, line, report)
            if timepoint is None:
                continue
            timepoint["code"] = unique(timepoint["code"], codes)
            timepoints.append(timepoint)
    except csv.Error as exc:
        raise ImportFormatError(source, reader.line_num, f"malformed CSV: {exc}") from None
    return timepoints


def _timepoint(record: dict, name: str, unique_name: str, source: str, line: int,
               report: ImportReport) -> dict[str, Any] | None:
    code = re.sub(r"_arm_\d+$", "", unique_name).upper()[:40] or "EVENT"
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


def import_redcap(dictionary: str, source: str, events: str | None = None,
                  events_source: str = "events.csv") -> tuple[dict[str, Any], ImportReport]:
    """Convert a data dictionary (and events) into a definition and a field-by-field report.

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
    if events is not None:
        timepoints = read_events(events, events_source, report)
        if timepoints:
            protocol["schedule"] = {"timepoints": timepoints}
        else:
            report.notes.append("no event could become a timepoint; schedule left as D0 only")
    report.notes.append(PLACEHOLDER_NOTE)
    return finalize(converter.draft, report, source), report


def import_redcap_files(dictionary_path: str | Path, events_path: str | Path | None = None
                        ) -> tuple[dict[str, Any], ImportReport]:
    """Read the files (UTF-8, with or without BOM) and import them."""
    dictionary = _read(dictionary_path)
    events = _read(events_path) if events_path else None
    return import_redcap(dictionary, str(dictionary_path), events, str(events_path or ""))


def _read(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFormatError(str(path), None, f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise ImportFormatError(str(path), None, f"cannot read the file: {exc.strerror}") from None
