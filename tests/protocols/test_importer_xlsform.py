"""XLSForm import (.xlsx and the legacy CSV layout): bilingual labels, types, groups and
repeats, and `relevant`/`constraint` translated with their meaning (evaluated on samples)."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from click.testing import CliRunner
from openpyxl import Workbook

from portal.protocols.builder import validate_answers
from portal.protocols.cli import protocol_cli
from portal.protocols.expressions import compile_expression
from portal.protocols.importers.common import ImportFormatError, dump_yaml, scope_of
from portal.protocols.importers.xlsform import import_xlsform_file
from portal.protocols.loader import load_text

SURVEY_HEADER = ["type", "name", "label::French (fr)", "label::English (en)", "hint::English (en)",
                 "required", "relevant", "constraint", "constraint_message::French (fr)",
                 "constraint_message::English (en)", "calculation", "repeat_count"]
SURVEY = [
    ["select_one sex", "sex", "Sexe", "Sex", "", "yes", "", "", "", "", "", ""],
    ["integer", "age", "Âge", "Age", "In years", "yes", "", ". >= 18 and . <= 120", "", "", "",
     ""],
    ["select_multiple symptoms", "symptoms", "Symptômes", "Symptoms", "", "", "", "", "", "",
     "", ""],
    ["select_one yn", "pregnant", "Enceinte", "Pregnant", "", "yes", "${sex} = 'F'", "", "", "",
     "", ""],
    ["date", "visit_date", "Date de visite", "Visit date", "", "yes", "", ". <= today()", "", "",
     "", ""],
    ["text", "comments", "Commentaires", "Comments", "", "", "", "", "", "", "", ""],
    ["deviceid", "device", "", "", "", "", "", "", "", "", "", ""],
    ["begin group", "vitals", "Constantes", "Vital signs", "", "", "${age} >= 18", "", "", "",
     "", ""],
    ["decimal", "weight", "Poids", "Weight", "", "", "", ". > 0 and . < 400", "", "", "", ""],
    ["decimal", "height", "Taille", "Height", "", "", "", ". >= 30 and . <= 250", "", "", "",
     ""],
    ["calculate", "bmi", "IMC", "BMI", "", "", "", "", "", "",
     "${weight} div ((${height} div 100) * (${height} div 100))", ""],
    ["end group", "", "", "", "", "", "", "", "", "", "", ""],
    ["begin repeat", "doses", "Doses", "Doses", "", "", "", "", "", "", "", "3"],
    ["integer", "dose_mg", "Dose (mg)", "Dose (mg)", "", "", "", ". >= 1 and . <= 500", "", "",
     "", ""],
    ["integer", "dose_day", "Jour", "Day", "", "", "", ". != 0",
     "Le jour 0 n'existe pas", "There is no day 0", "", ""],
    ["end repeat", "", "", "", "", "", "", "", "", "", "", ""],
    ["select_one yn", "fever_treated", "Fièvre traitée", "Fever treated", "", "",
     "selected(${symptoms}, 'fever') and not(selected(${symptoms}, 'cough'))", "", "", "", "",
     ""],
]
CHOICES = [["list_name", "name", "label::French (fr)", "label::English (en)"],
           ["sex", "M", "Masculin", "Male"], ["sex", "F", "Féminin", "Female"],
           ["yn", "yes", "Oui", "Yes"], ["yn", "no", "Non", "No"],
           ["symptoms", "fever", "Fièvre", "Fever"], ["symptoms", "cough", "Toux", "Cough"],
           ["symptoms", "rash", "Éruption", "Rash"]]
SETTINGS = [["form_title", "form_id", "default_language"],
            ["Suivi XYZ", "follow_up_xyz", "French (fr)"]]


def _xlsx(path, survey=None) -> None:  # noqa: ANN001
    book = Workbook()
    sheet = book.active
    sheet.title = "survey"
    for row in [SURVEY_HEADER, *(survey or SURVEY)]:
        sheet.append(row)
    for name, rows in (("choices", CHOICES), ("settings", SETTINGS)):
        extra = book.create_sheet(name)
        for row in rows:
            extra.append(row)
    book.save(path)


def _csv(path) -> None:  # noqa: ANN001
    out = io.StringIO()
    writer = csv.writer(out)
    for name, rows in (("survey", [SURVEY_HEADER, *SURVEY]), ("choices", CHOICES),
                       ("settings", SETTINGS)):
        writer.writerow([name])
        for row in rows:
            writer.writerow(["", *row])
    path.write_text(out.getvalue(), encoding="utf-8")


@pytest.fixture(scope="module", params=["xlsx", "csv"])
def imported(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("xlsform") / f"follow_up.{request.param}"
    (_xlsx if request.param == "xlsx" else _csv)(path)
    definition, report = import_xlsform_file(path)
    form = definition["forms"][0]
    fields = {f["key"]: f for s in form["sections"] for f in s["fields"]}
    fates = {e.key: e for e in report.fields}
    return definition, report, form, fields, fates


def test_both_layouts_give_a_definition_that_passes_the_checks(imported):
    definition, report, form, _fields, _fates = imported
    loaded = load_text(dump_yaml(definition, "follow_up"), "xlsform.yaml")
    assert (form["key"], form["title"]["fr"]) == ("follow_up_xyz", "Suivi XYZ")
    assert loaded.definition.forms[0].kind.value == "follow_up"
    assert any("kind 'follow_up' guessed from its name" in note for note in report.notes)
    # Every row of the survey sheet that holds a question is named in the report.
    named = {row[1] for row in SURVEY if row[1] and not row[0].startswith(("begin", "end"))}
    assert {e.key for e in report.fields} == named


def test_labels_are_bilingual_from_the_language_columns(imported):
    fields = imported[3]
    assert fields["age"]["label"] == {"fr": "Âge", "en": "Age"}
    assert fields["sex"]["choices"][1]["label"] == {"fr": "Féminin", "en": "Female"}
    assert fields["sex"]["identifies"] == "sex"
    assert fields["age"]["help"] == {"fr": "In years", "en": "In years"}  # hint in English only


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("age", {"type": "integer", "min": 18, "max": 120, "required": True}),
        ("weight", {"type": "decimal", "min": 0.01, "max": 399.99}),
        ("visit_date", {"type": "date", "max": "today"}),
        ("symptoms", {"type": "multiple_choice"}),
        ("bmi", {"type": "calculated"}),
    ],
)
def test_types_and_constraints_become_bounds(imported, key, expected):
    fld = imported[3][key]
    assert {name: fld.get(name) for name in expected} == expected


@pytest.mark.parametrize(
    ("key", "reason"),
    [("comments", "text: free text is forbidden"),
     ("device", "device metadata (deviceid) is not collected")],
)
def test_what_breaks_the_referential_is_rejected_with_the_reason(imported, key, reason):
    entry = imported[4][key]
    assert entry.fate == "rejected" and any(reason in why for why in entry.reasons)


def test_groups_become_sections_and_repeats_repeated_sections(imported):
    form = imported[2]
    sections = {s["key"]: s for s in form["sections"]}
    # a comparison with a blank is false in ODK, not unknown (so that not() of it holds)
    assert sections["vitals"]["visible_if"] == "(age != null and age >= 18)"
    assert sections["doses"]["repeat"] == {"max": 3}
    assert [f["key"] for f in sections["doses"]["fields"]] == ["dose_mg", "dose_day"]
    check = sections["doses"]["checks"][0]
    assert check["message"] == {"fr": "Le jour 0 n'existe pas", "en": "There is no day 0"}
    # fields after the repeat are in a section of their own, after it
    keys = [s["key"] for s in form["sections"]]
    after = next(s["key"] for s in form["sections"]
                 if any(f["key"] == "fever_treated" for f in s["fields"]))
    assert keys.index(after) > keys.index("doses")


def test_the_imported_form_behaves_as_the_xlsform(imported):
    definition = imported[0]
    loaded = load_text(dump_yaml(definition, "follow_up"), "xlsform.yaml")
    man = validate_answers(loaded, "follow_up_xyz", {
        "sex": "M", "age": 40, "visit_date": "2025-01-10", "weight": "80", "height": "180",
        "doses": [{"dose_mg": 50, "dose_day": 0}]}, today=date(2025, 2, 1))
    assert not man.valid and man.errors == {"doses[0].dose_day": ["There is no day 0"]}
    assert "pregnant" not in man.answers
    woman = validate_answers(loaded, "follow_up_xyz", {
        "sex": "F", "age": 40, "visit_date": "2025-01-10", "weight": "80", "height": "200"},
        today=date(2025, 2, 1))
    assert woman.errors == {"pregnant": ["This field is required."]}
    assert woman.answers["bmi"] == "20.00"


# Each relevant, XLSForm's meaning: a blank answer compares false (`!=` true), selected() of a
# blank is false.
Meaning = Callable[[dict[str, Any]], bool]
RELEVANT: list[tuple[str, Meaning]] = [
    ("${sex} = 'F'", lambda v: v["sex"] == "F"),
    ("${sex} != 'F'", lambda v: v["sex"] != "F"),
    ("${age} >= 18 and ${sex} = 'M'", lambda v: (v["age"] or 0) >= 18 and v["sex"] == "M"),
    ("selected(${symptoms}, 'fever')", lambda v: "fever" in (v["symptoms"] or [])),
    ("not(selected(${symptoms}, 'cough')) or ${age} < 10",
     lambda v: "cough" not in (v["symptoms"] or []) or (v["age"] is not None and v["age"] < 10)),
    ("selected(${sex}, 'M')", lambda v: v["sex"] == "M"),
    ("${age} + 2 > 20", lambda v: v["age"] is not None and v["age"] + 2 > 20),
    ("not(${sex} = 'F')", lambda v: v["sex"] != "F"),
    ("not(${age} >= 18) and ${sex} != 'M'",
     lambda v: not (v["age"] is not None and v["age"] >= 18) and v["sex"] != "M"),
    ("not(${age} + 2 > 20)", lambda v: not (v["age"] is not None and v["age"] + 2 > 20)),
]
SAMPLES = {"sex": [None, "M", "F"], "age": [None, 5, 18, 40],
           "symptoms": [None, ["fever"], ["cough"], ["fever", "cough"], ["rash"]]}


@pytest.mark.parametrize(("relevant", "meaning"), RELEVANT, ids=[r[0] for r in RELEVANT])
def test_relevant_keeps_its_meaning_on_every_sample(tmp_path, relevant, meaning):
    survey = [SURVEY[0], SURVEY[1], SURVEY[2],
              ["select_one yn", "target", "Cible", "Target", "", "", relevant, "", "", "", "",
               ""]]
    path = tmp_path / "relevant.xlsx"
    _xlsx(path, survey)
    definition, report = import_xlsform_file(path)
    form = definition["forms"][0]
    target = next(f for s in form["sections"] for f in s["fields"] if f["key"] == "target")
    assert "visible_if" in target, report.render()
    condition = compile_expression(target["visible_if"], scope_of(form))
    for combo in itertools.product(*SAMPLES.values()):
        values = dict(zip(SAMPLES, combo, strict=True))
        assert condition.holds(values) is meaning(values), (target["visible_if"], values)


@pytest.mark.parametrize(
    ("relevant", "reason"),
    [("${nowhere} = 1", "refers to ${nowhere}, which is not in this form"),
     ("string-length(${sex}) > 0", "function string-length() has no equivalent"),
     ("${age} mod 2 = 0", "'mod' is not understood")],
)
def test_what_cannot_be_translated_is_reported_on_the_field(tmp_path, relevant, reason):
    survey = [SURVEY[0], SURVEY[1],
              ["integer", "target", "Cible", "Target", "", "yes", relevant, "", "", "", "", ""]]
    path = tmp_path / "bad.xlsx"
    _xlsx(path, survey)
    definition, report = import_xlsform_file(path)
    entry = next(e for e in report.fields if e.key == "target")
    target = next(f for s in definition["forms"][0]["sections"] for f in s["fields"]
                  if f["key"] == "target")
    assert "visible_if" not in target and target.get("required") is False
    assert any("dropped" in why and reason in why for why in entry.reasons), entry.reasons


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"not a workbook", "not an .xlsx workbook nor an XLSForm CSV"),
     (b"PK\x03\x04broken", "not an .xlsx workbook")],
)
def test_a_file_that_is_no_xlsform_is_a_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.xlsx"
    path.write_bytes(content)
    with pytest.raises(ImportFormatError, match=message):
        import_xlsform_file(path)


def test_an_unclosed_group_is_named(tmp_path):
    path = tmp_path / "open.xlsx"
    _xlsx(path, SURVEY[:9])
    with pytest.raises(ImportFormatError, match="not closed by an end group"):
        import_xlsform_file(path)


def test_the_command_writes_a_definition_that_passes_check(tmp_path):
    source, out = tmp_path / "follow_up.xlsx", tmp_path / "out.yaml"
    _xlsx(source)
    result = CliRunner().invoke(protocol_cli, ["import-xlsform", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "rejected  follow_up_xyz.comments (line 7)" in result.output
    assert CliRunner().invoke(protocol_cli, ["check", str(out)]).exit_code == 0
