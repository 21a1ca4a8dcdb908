"""REDCap logic (functions, datediff units, comments, coded radios, other instruments, action
tags) and REDCap schedules (events of every arm, instrument-event mapping, repeating forms):
each translated expression is evaluated beside REDCap's meaning on sample values."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from portal.protocols.expressions import compile_expression
from portal.protocols.importers.common import dump_yaml, scope_of
from portal.protocols.importers.redcap import import_redcap
from portal.protocols.loader import load_text

HEADER = ["field_name", "form_name", "section_header", "field_type", "field_label",
          "select_choices_or_calculations", "field_note",
          "text_validation_type_or_show_slider_number", "text_validation_min",
          "text_validation_max", "identifier", "branching_logic", "required_field",
          "custom_alignment", "question_number", "matrix_group_name", "matrix_ranking",
          "field_annotation"]
PHQ = "0, Not at all | 1, Several days | 2, More than half the days | 3, Nearly every day"


def _row(name: str, kind: str, label: str, form: str = "scores", choices: str = "",
         validation: str = "", low: str = "", high: str = "", logic: str = "",
         annotation: str = "") -> list[str]:
    return [name, form, "", kind, label, choices, "", validation, low, high, "", logic, "", "",
            "", "", "", annotation]


def _dictionary(*extra: list[str]) -> str:
    rows = [
        _row("record_id", "text", "Record ID", form="enrolment"),
        _row("visit_consent", "yesno", "Consent given", form="enrolment"),
        _row("phq1", "radio", "Interest", choices=PHQ),
        _row("phq2", "radio", "Mood", choices=PHQ),
        _row("sex", "radio", "Sex", choices="1, Male | 2, Female"),
        _row("w", "text", "Weight", validation="integer", low="0", high="300"),
        _row("d1", "text", "Start", validation="date_ymd"),
        _row("d2", "text", "End", validation="date_ymd"),
        _row("remark", "notes", "Remark"),
        *extra,
    ]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue()


def _field(definition: dict, key: str) -> tuple[dict, dict]:
    for form in definition["forms"]:
        for section in form["sections"]:
            for fld in section["fields"]:
                if fld["key"] == key:
                    return form, fld
    raise AssertionError(f"{key} not imported")


SAMPLES = {"phq1": [None, "0", "1", "3"], "phq2": [None, "0", "2"], "sex": [None, "1", "2"],
           "w": [None, 0, 7, 100], "d1": [None, date(2024, 1, 1)],
           "d2": [None, date(2024, 3, 1), date(2023, 12, 25)]}
TODAY = date(2024, 6, 30)


def _samples() -> list[dict[str, Any]]:
    return [dict(zip(SAMPLES, combo, strict=True))
            for combo in itertools.product(*SAMPLES.values())]


def _n(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def _days(a: date | None, b: date | None) -> int | None:
    return None if a is None or b is None else (b - a).days


def _blank_if_any(*values: Any) -> bool:
    return any(v is None for v in values)


# REDCap's meaning of each calculation; None is a blank result. Arithmetic with a blank is
# blank; sum() leaves blanks out; a comparison with a blank is false, `<>` true; datediff() is
# the absolute difference unless signed, in 365.2425-day years and 30.44-day months.
Meaning = Callable[[dict[str, Any]], Decimal | None]
CALCULATIONS: list[tuple[str, Meaning]] = [
    ("sum([phq1], [phq2])", lambda v: None if _blank_if_any(v["phq1"]) and
     _blank_if_any(v["phq2"]) else sum((_n(x) for x in (v["phq1"], v["phq2"]) if x is not None),
                                       Decimal(0))),
    ("[phq1] + [phq2]", lambda v: None if _blank_if_any(v["phq1"], v["phq2"]) else
     Decimal(v["phq1"]) + Decimal(v["phq2"])),
    ("if([sex] = '2', [w] * 2, [w])", lambda v: None if v["w"] is None else
     Decimal(v["w"]) * (2 if v["sex"] == "2" else 1)),
    ("if([sex] <> '2', 1, 0)", lambda v: Decimal(0 if v["sex"] == "2" else 1)),
    ("if([phq1] > 1, 10, 20)",
     lambda v: Decimal(10 if v["phq1"] is not None and int(v["phq1"]) > 1 else 20)),
    ("rounddown([w] / 3, 1)", lambda v: None if v["w"] is None else
     (Decimal(v["w"]) / 3).quantize(Decimal("0.1"), rounding="ROUND_FLOOR")),
    ("roundup([w] / 3)", lambda v: None if v["w"] is None else
     (Decimal(v["w"]) / 3).quantize(Decimal(1), rounding="ROUND_CEILING")),
    ("round([w] / 8)", lambda v: None if v["w"] is None else
     (Decimal(v["w"]) / 8).quantize(Decimal(1))),
    ('datediff([d1], [d2], "d")', lambda v: None if _days(v["d1"], v["d2"]) is None else
     Decimal(abs(_days(v["d1"], v["d2"]) or 0))),
    ('datediff([d1], [d2], "d", true)', lambda v: None if _days(v["d1"], v["d2"]) is None else
     Decimal(_days(v["d1"], v["d2"]) or 0)),
    ('datediff([d1], [d2], "y", "ymd")', lambda v: None if _days(v["d1"], v["d2"]) is None else
     Decimal(abs(_days(v["d1"], v["d2"]) or 0)) / Decimal("365.2425")),
    ('rounddown(datediff([d1], "today", "M"))', lambda v: None if v["d1"] is None else
     (Decimal(abs((TODAY - v["d1"]).days)) / Decimal("30.44")).quantize(
         Decimal(1), rounding="ROUND_FLOOR")),
    ("# total of the two items\nsum([phq1], [phq2]) # REDCap ignores blanks",
     lambda v: None if v["phq1"] is None and v["phq2"] is None else
     sum((Decimal(x) for x in (v["phq1"], v["phq2"]) if x is not None), Decimal(0))),
]


@pytest.mark.parametrize(("calculation", "meaning"), CALCULATIONS,
                         ids=[c[0] for c in CALCULATIONS])
def test_calculations_keep_their_meaning_on_every_sample(calculation, meaning):
    text = _dictionary(_row("result", "calc", "Result", choices=calculation))
    definition, report = import_redcap(text, "calc.csv")
    form, fld = _field(definition, "result")
    assert fld["type"] == "calculated", report.render()
    expression = compile_expression(fld["expression"], scope_of(form), expect="number")
    for values in _samples():
        assert expression.evaluate(values, today=TODAY) == meaning(values), (
            fld["expression"], values)


CondMeaning = Callable[[dict[str, Any]], bool]
CONDITIONS: list[tuple[str, CondMeaning]] = [
    ("[phq1] > 0", lambda v: v["phq1"] is not None and int(v["phq1"]) > 0),
    ("[phq1] >= 2 and [sex] = '1'",
     lambda v: v["phq1"] is not None and int(v["phq1"]) >= 2 and v["sex"] == "1"),
    ("[phq2] <= 0 or [sex] <> '1'",
     lambda v: v["phq2"] == "0" or v["sex"] != "1"),
    ("[sex] <> ''", lambda v: v["sex"] is not None),
    ("sum([phq1], [phq2]) >= 3",
     lambda v: sum(int(x) for x in (v["phq1"], v["phq2"]) if x is not None) >= 3
     and (v["phq1"], v["phq2"]) != (None, None)),
    ("# shown for a high score\n[phq1] = 3", lambda v: v["phq1"] == "3"),
    ('datediff([d1], [d2], "d", true) > 30',
     lambda v: _days(v["d1"], v["d2"]) is not None and (_days(v["d1"], v["d2"]) or 0) > 30),
]


@pytest.mark.parametrize(("logic", "meaning"), CONDITIONS, ids=[c[0] for c in CONDITIONS])
def test_branching_logic_keeps_its_meaning_on_every_sample(logic, meaning):
    text = _dictionary(_row("shown", "yesno", "Shown", logic=logic))
    definition, report = import_redcap(text, "logic.csv")
    form, fld = _field(definition, "shown")
    assert "visible_if" in fld, report.render()
    condition = compile_expression(fld["visible_if"], scope_of(form))
    for values in _samples():
        assert condition.holds(values, today=TODAY) is meaning(values), (fld["visible_if"], values)


def test_comments_are_reported():
    text = _dictionary(_row("shown", "yesno", "Shown", logic="# why\n[phq1] = 3"))
    _definition, report = import_redcap(text, "logic.csv")
    entry = next(e for e in report.fields if e.key == "shown")
    assert "comments (# ...) in the logic left out" in entry.reasons


@pytest.mark.parametrize(
    ("logic", "reason"),
    [
        ("[visit_consent] = '1'", "refers to 'visit_consent' of instrument 'enrolment'"),
        ("[remark] <> ''", "refers to 'remark', which is left out of the import"),
        ("[baseline_arm_1][phq1] = 1", "cross-event reference"),
        ("[phq1] > 5", "holds for none of its codes"),
        ('datediff([d1], [d2], "q")', "unit 'q' is not one of y, M, d, h, m, s"),
        ("[phq1] = 1 and [user-name] = 'x'", "smart variable"),
    ],
)
def test_what_cannot_be_translated_is_named_on_the_field(logic, reason):
    text = _dictionary(_row("shown", "yesno", "Shown", logic=logic))
    definition, report = import_redcap(text, "logic.csv")
    _form, fld = _field(definition, "shown")
    entry = next(e for e in report.fields if e.key == "shown")
    assert "visible_if" not in fld
    assert any("dropped" in why and reason in why for why in entry.reasons), entry.reasons


@pytest.mark.parametrize(
    ("kind", "choices", "annotation", "fate", "reason"),
    [
        ("calc", "[w] * 2", "@HIDDEN", "converted", "@HIDDEN: a calculation"),
        ("yesno", "", "@HIDDEN", "rejected", "never shown on the data entry form"),
        ("yesno", "", "@HIDDEN-SURVEY", "converted", "@HIDDEN-SURVEY ignored: the portal has "
         "no survey mode"),
        ("yesno", "", "@DEFAULT='1'", "converted", "@DEFAULT ignored: the portal never "
         "pre-fills"),
        ("yesno", "", "@FORCE-MINMAX", "converted", "@FORCE-MINMAX kept"),
        ("yesno", "", "@SOMETHING-NEW", "converted", "@SOMETHING-NEW ignored: not understood"),
        ("yesno", "", "@CALCTEXT(if([w] > 1, 'a', 'b'))", "rejected", "@CALCTEXT"),
    ],
)
def test_every_action_tag_is_mapped_or_reported(kind, choices, annotation, fate, reason):
    text = _dictionary(_row("tagged", kind, "Tagged", choices=choices, annotation=annotation))
    _definition, report = import_redcap(text, "tags.csv")
    entry = next(e for e in report.fields if e.key == "tagged")
    assert entry.fate == fate
    assert any(reason in why for why in entry.reasons), entry.reasons


EVENTS = """event_name,arm_num,day_offset,offset_min,offset_max,unique_event_name,custom_event_label
Enrollment,1,,,,enrollment_arm_1,
Month 1,1,30,7,7,month_1_arm_1,
Adverse event,1,,,,adverse_event_arm_1,
Enrollment,2,,,,enrollment_arm_2,
Month 1,2,28,3,3,month_1_arm_2,
"""
MAPPING = """arm_num,unique_event_name,form
1,enrollment_arm_1,enrolment
1,month_1_arm_1,scores
1,adverse_event_arm_1,scores
2,enrollment_arm_2,enrolment
2,month_1_arm_2,scores
"""
REPEATING = """event_name,form_name,custom_form_label
month_1_arm_1,scores,
adverse_event_arm_1,,
"""


def test_events_of_every_arm_the_mapping_and_repeats_make_the_schedule():
    definition, report = import_redcap(_dictionary(), "dict.csv", EVENTS, "events.csv",
                                       mapping=MAPPING, repeating=REPEATING)
    timepoints = [(t["code"], t.get("day"), t["window_before_days"])
                  for t in definition["schedule"]["timepoints"]]
    # The first event of each arm is day 0; arm 2's month 1 differs from arm 1's.
    assert timepoints == [("ENROLLMENT", 0, 0), ("MONTH_1", 30, 7), ("MONTH_1_ARM_2", 28, 3)]
    forms = {f["key"]: f for f in definition["forms"]}
    assert forms["enrolment"]["timepoints"] == ["ENROLLMENT"]
    assert forms["scores"]["timepoints"] == ["MONTH_1", "MONTH_1_ARM_2"]
    assert forms["scores"]["repeatable"] is True
    notes = "\n".join(report.notes)
    assert "'enrollment_arm_1' (line 2), the first of its arm, has no day offset" in notes
    assert "'enrollment_arm_2' (arm 2) is the timepoint ENROLLMENT of an earlier arm" in notes
    assert "'adverse_event_arm_1' (line 4) left out" in notes
    assert "form 'scores' is also filled at events that are not timepoints: " \
        "adverse_event_arm_1" in notes
    load_text(dump_yaml(definition, "dict.csv"), "schedule.yaml")


def test_a_mapping_naming_an_unknown_event_is_refused_with_its_line():
    from portal.protocols.importers.common import ImportFormatError

    with pytest.raises(ImportFormatError) as caught:
        import_redcap(_dictionary(), "dict.csv", EVENTS, "events.csv",
                      mapping=MAPPING + "1,nowhere_arm_1,scores\n", mapping_source="map.csv")
    assert str(caught.value).startswith("map.csv:7: event 'nowhere_arm_1'")
