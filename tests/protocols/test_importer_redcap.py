"""REDCap data dictionary import: every construct, both header dialects, malformed input."""

from __future__ import annotations

from datetime import date

import pytest

from portal.protocols.builder import validate_answers
from portal.protocols.importers.common import ImportFormatError, dump_yaml
from portal.protocols.importers.redcap import import_redcap, import_redcap_files
from portal.protocols.loader import load_text

from .support import DATA

REDCAP = DATA / "redcap"


@pytest.fixture(scope="module")
def imported():
    definition, report = import_redcap_files(REDCAP / "followup_ui.csv", REDCAP / "events.csv")
    fields = {(form["key"], fld["key"]): fld for form in definition["forms"]
              for section in form["sections"] for fld in section["fields"]}
    fates = {entry.key: entry for entry in report.fields}
    return definition, report, fields, fates


def section(definition, form_key, section_key):
    form = next(f for f in definition["forms"] if f["key"] == form_key)
    return next(s for s in form["sections"] if s["key"] == section_key)


def test_the_output_passes_the_checks_and_loads(imported):
    definition, _report, _fields, _fates = imported
    loaded = load_text(dump_yaml(definition, "followup_ui.csv"), "imported.yaml")
    assert [form.key for form in loaded.definition.forms] == ["baseline", "followup"]


def test_the_report_lists_every_field_with_its_fate(imported):
    _definition, report, _fields, fates = imported
    rows = (REDCAP / "followup_ui.csv").read_text().splitlines()[1:]
    assert [entry.key for entry in report.fields] == [row.split(",")[0] for row in rows]
    assert sum(report.count(fate) for fate in ("imported", "converted", "review", "rejected")
               ) == len(rows)
    assert all(entry.reasons for entry in report.fields if entry.fate != "imported")
    text = report.render()
    assert "rejected  baseline.comments (line 12): notes box: free text is forbidden" in text


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("record_id", "record identifier"),
        ("pat_initials", "flagged as an identifier"),
        ("dob", "flagged as an identifier"),
        ("email", "an e-mail address is not collected"),
        ("phone", "a phone number is not collected"),
        ("comments", "notes box: free text is forbidden"),
        ("consent_file", "signature: attachments are not collected"),
        ("intro_text", "descriptive text holds no data"),
        ("meds_other", "text box without validation: free text is forbidden"),
        ("pat_name", "validation 'alpha_only' gives no strict, bounded code"),
        ("fu_hidden", "action tag @HIDDEN"),
        ("days_on_drug", "refers to 'start_date' of instrument 'baseline'"),
    ],
)
def test_what_would_break_the_rules_is_rejected_with_the_reason(imported, key, reason):
    _definition, _report, fields, fates = imported
    assert fates[key].fate == "rejected"
    assert any(reason in why for why in fates[key].reasons)
    assert not any(k == key for _form, k in fields)


def test_choices_with_or_without_spaces_become_coded_choices(imported):
    _definition, _report, fields, _fates = imported
    sex = fields[("baseline", "sex")]
    assert sex["type"] == "single_choice" and "widget" not in sex  # radio
    assert [(c["code"], c["label"]["en"]) for c in sex["choices"]] == [("1", "Male"),
                                                                        ("2", "Female")]
    assert fields[("followup", "fu_status")]["widget"] == "select"  # dropdown
    assert fields[("baseline", "meds")]["type"] == "multiple_choice"  # checkbox


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("age", {"type": "integer", "min": 0, "max": 120, "required": True}),
        ("weight", {"type": "decimal", "decimals": 1, "min": 2, "max": 250, "required": True}),
        ("height", {"type": "decimal", "decimals": 2, "min": 40, "max": 230}),
        ("start_date", {"type": "date", "min": "2020-01-01", "max": "today", "required": True}),
        ("visit_dt", {"type": "date"}),
        ("dose_time", {"type": "coded", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
                       "max_length": 5}),
        ("pain_score", {"type": "integer", "min": 0, "max": 100}),
        ("pregnant", {"type": "yes_no"}),
        ("preg_test", {"type": "yes_no"}),
        ("event_date", {"type": "date", "required": True}),
        ("stop_date", {"type": "date", "min": "event_date", "max": "today"}),
        ("dose_mg", {"type": "decimal", "decimals": 2, "min": 0, "max": 1000}),
        ("ae_term", {"type": "coded", "pattern": "^[0-9]{8}$", "dictionary": "MedDRA"}),
    ],
)
def test_validation_types_min_max_and_required_are_carried_over(imported, key, expected):
    _definition, _report, fields, _fates = imported
    field = next(f for (_form, k), f in fields.items() if k == key)
    assert {name: field.get(name) for name in expected} == expected


@pytest.mark.parametrize(
    ("key", "condition"),
    [
        ("pregnant", "sex == '2'"),  # single quotes
        ("preg_test", "pregnant == 'yes'"),  # double quotes; yes/no 1 → yes
        ("ciclo_level", "'3' in meds"),  # checkbox reference [meds(3)]
        ("fu_score", "fu_status != null and (fu_weight > 50 or fu_status == '1')"),
    ],
)
def test_branching_logic_is_translated(imported, key, condition):
    _definition, _report, fields, _fates = imported
    field = next(f for (_form, k), f in fields.items() if k == key)
    assert field["visible_if"] == condition


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("fu_flag", "cross-event reference"),
        ("fu_role", "smart variable [user-role]"),
        ("fu_cross", "refers to 'sex' of instrument 'baseline'"),
    ],
)
def test_untranslatable_logic_is_dropped_and_the_field_no_longer_required(imported, key,
                                                                          reason):
    _definition, _report, fields, fates = imported
    field = fields[("followup", key)]
    assert "visible_if" not in field and not field.get("required")
    assert fates[key].fate == "converted"
    assert any(reason in why and "no longer required" in why for why in fates[key].reasons)


def test_calculations_are_translated_and_computed_by_the_server(imported):
    definition, _report, fields, _fates = imported
    assert fields[("baseline", "bmi")]["expression"] == \
        "round((weight * 10000) / ((height) ^ (2)), 1)"
    # REDCap's datediff() is the absolute difference unless asked for the signed one
    assert fields[("followup", "days_since_visit")]["expression"] == \
        "abs(days_between(event_date, today))"
    loaded = load_text(dump_yaml(definition, "x"), "calc.yaml")
    result = validate_answers(loaded, "baseline", {
        "sex": "1", "age": 40, "weight": "70.0", "height": "175", "start_date": "2024-01-01",
    }, today=date(2025, 1, 1))
    assert result.valid, result.errors
    assert result.answers["bmi"] == "22.9"


def test_a_matrix_group_becomes_a_grid_section_and_section_headers_sections(imported):
    definition, _report, _fields, _fates = imported
    grid = section(definition, "baseline", "ae_grid")
    assert grid["layout"] == "grid"
    assert grid["title"]["en"] == "Adverse events at baseline"
    assert [f["key"] for f in grid["fields"]] == ["ae_rash", "ae_nausea", "ae_fatigue"]
    vitals = section(definition, "baseline", "vital_signs")
    assert vitals["title"]["en"] == "Vital signs"  # HTML stripped
    assert vitals["fields"][0]["help"]["en"] == "Without shoes"  # field note


def test_events_become_timepoints_with_windows(imported):
    definition, report, _fields, _fates = imported
    assert definition["schedule"]["timepoints"] == [
        {"code": "BASELINE", "label": {"fr": "D0", "en": "D0"}, "day": 0,
         "window_before_days": 0, "window_after_days": 0},
        {"code": "MONTH_1", "label": {"fr": "M1", "en": "M1"}, "day": 30,
         "window_before_days": 7, "window_after_days": 7},
        {"code": "MONTH_3", "label": {"fr": "Month 3", "en": "Month 3"}, "month": 3,
         "window_before_days": 14, "window_after_days": 14},
    ]
    notes = "\n".join(report.notes)
    assert "'unscheduled_arm_1' (line 5) left out" in notes
    # arm 2's month 1 is arm 1's timepoint (same offset and window)
    assert "'month_1_arm_2' (arm 2) is the timepoint MONTH_1 of an earlier arm" in notes


def test_the_api_header_dialect_is_read_the_same_way():
    definition, report = import_redcap_files(REDCAP / "enrolment_api.csv")
    form = definition["forms"][0]
    assert (form["key"], form["kind"]) == ("enrolment", "initiation")
    fields = {f["key"]: f for s in form["sections"] for f in s["fields"]}
    assert [c["code"] for c in fields["disease_form"]["choices"]] == ["1", "2"]
    assert fields["transfusions"]["visible_if"] == "anaemia == 'yes' and hb < 8"
    assert report.count("rejected") == 1  # the record identifier


HEADER = "field_name,form_name,section_header,field_type,field_label," \
    "select_choices_or_calculations,field_note,text_validation_type_or_show_slider_number," \
    "text_validation_min,text_validation_max,identifier,branching_logic,required_field\n"
RECORD = "record_id,f,,text,ID,,,,,,,,\n"


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        ("", 1, "the file is empty"),
        ("name,form\nx,y\n", 1, "not a REDCap data dictionary: no column 'field_name'"),
        (HEADER, 2, "a header but no field"),
        (HEADER + RECORD + "age,f,,text,Age,,,integer\n", 3, "the row has 8 cells"),
        (HEADER + RECORD + 'sex,f,,radio,"Sex,1 Male | 2 Female,,,,,,,\n', 3, "malformed CSV"),
        (HEADER + RECORD + "sex,f,,radio,Sex,1 Male | 2 Female,,,,,,,\n", 3,
         "choice '1 Male' is not 'code, label'"),
        (HEADER + RECORD + "sex,f,,radio,Sex,,,,,,,,\n", 3, "a choice field without choices"),
        (HEADER + RECORD + "age,f,,number,Age,,,,,,,,\n", 3, "unknown field type 'number'"),
        (HEADER + RECORD + "Age,f,,text,Age,,,integer,0,9,,,\n", 3, "invalid variable name"),
        (HEADER + RECORD + "record_id,f,,text,Again,,,integer,0,9,,,\n", 3, "defined twice"),
        (HEADER + RECORD + "a,g,,yesno,A,,,,,,,,\nb,f,,yesno,B,,,,,,,,\n", 4,
         "rows of form 'f' are not contiguous"),
    ],
)
def test_malformed_input_is_a_clear_error_naming_the_line(content, line, message):
    with pytest.raises(ImportFormatError) as caught:
        import_redcap(content, "dict.csv")
    assert caught.value.line == line
    assert message in caught.value.message
    assert str(caught.value).startswith(f"dict.csv:{line}: ")


def test_a_file_saved_by_excel_is_read_as_windows_1252_and_said_so(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes((HEADER + RECORD + "poids,f,,text,Poids (kg) – à jeun,,,integer,1,300,,,\n"
                      ).encode("cp1252"))
    definition, report = import_redcap_files(path)
    assert definition["forms"][0]["sections"][0]["fields"][0]["label"]["fr"] == \
        "Poids (kg) – à jeun"
    assert any("is not UTF-8: read as Windows-1252" in note for note in report.notes)


def test_a_file_that_is_neither_utf8_nor_windows_1252_is_refused(tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(HEADER.encode() + b"record_id,f,,text,\x81\x8d,,,,,,,,\n")
    with pytest.raises(ImportFormatError, match="not UTF-8 text .*nor Windows-1252"):
        import_redcap_files(path)


def test_a_sensitive_keyword_is_a_review_not_a_rejection(imported):
    _definition, _report, fields, fates = imported
    assert fates["smoking"].fate == "review"
    assert any("looks like substance use data" in why for why in fates["smoking"].reasons)
    review = fields[("baseline", "smoking")]["review"]
    assert review == {"reason": review["reason"]} and "substance use" in review["reason"]


def test_a_sex_question_with_two_answers_is_the_identification_item_sex(imported):
    _definition, _report, fields, fates = imported
    sex = fields[("baseline", "sex")]
    assert (sex["category"], sex["identifies"]) == ("identification", "sex")
    assert fates["sex"].fate == "converted"


def test_missing_sentinels_map_to_the_definitions_missing_value_codes(imported):
    definition, _report, fields, fates = imported
    assert [c["code"] for c in fields[("followup", "weird_code")]["choices"]] == ["UNK", "1"]
    assert definition["missing_values"] == [
        {"code": "UNK", "label": {"fr": "Inconnu", "en": "Unknown"}}]
    assert "missing code '-1' (Unknown) mapped to 'UNK'" in fates["weird_code"].reasons


@pytest.mark.parametrize(
    ("choices", "codes", "declared"),
    [
        ("1, Male | 2, Female | -99, Unknown", ["1", "2", "UNK"], ["UNK"]),
        ("1, Yes | 0, No | -88, Not applicable | -99, Don't know", ["1", "0", "NA", "UNK"],
         ["NA", "UNK"]),
        ("1, Yes | 0, No | 999, Missing", ["1", "0", "MISSING"], ["MISSING"]),
        ("1, Yes | 0, No | 99, Other", ["1", "0", "99"], []),  # 99 labelled Other: a real code
    ],
)
def test_missing_codes_keep_the_field(choices, codes, declared):
    text = HEADER + RECORD + f'answer,f,,radio,Answer,"{choices}",,,,,,,\n'
    definition, report = import_redcap(text, "missing.csv")
    fld = definition["forms"][0]["sections"][0]["fields"][0]
    assert [c["code"] for c in fld["choices"]] == codes
    assert [m["code"] for m in definition.get("missing_values", [])] == declared
    assert report.fields[1].fate != "rejected"
    load_text(dump_yaml(definition, "missing.csv"), "missing.yaml")


@pytest.mark.parametrize(
    ("label", "choices", "is_sex"),
    [
        ("Sex", "1, Male | 2, Female", True),
        ("Gender", "M, Male | F, Female | -99, Unknown", True),
        ("Sexe du patient", "1, Homme | 2, Femme", True),
        ("Gender identity", "1, A | 2, B | 3, C", False),  # three answers
        ("Sexual activity", "1, Yes | 0, No", False),
    ],
)
def test_only_a_two_answer_sex_question_becomes_sex(label, choices, is_sex):
    text = HEADER + RECORD + f'q,f,,radio,{label},"{choices}",,,,,,,\n'
    definition, _report = import_redcap(text, "sex.csv")
    fld = next((f for s in definition["forms"][0]["sections"] for f in s["fields"]), None)
    assert fld is not None
    assert (fld.get("identifies") == "sex") is is_sex
