"""The demo PUT-SP: six forms of the sample protocol, accepted by the linter."""

from __future__ import annotations

import re
from datetime import date

import pytest

from portal.protocols.builder import validate_answers
from portal.protocols.loader import ProtocolDefinitionError, load_text
from portal.protocols.rules import check

from .support import ROOT


def test_the_demo_passes_every_rule(demo):
    assert check(demo.definition) == []


def test_the_demo_has_the_six_forms_of_the_sample(demo):
    kinds = [(form.key, form.kind.value) for form in demo.definition.forms]
    assert kinds == [
        ("access", "access"), ("initiation", "initiation"), ("follow_up", "follow_up"),
        ("discontinuation", "discontinuation"), ("adverse_event", "adverse_event"),
        ("pregnancy", "pregnancy"),
    ]


def test_the_schedule_is_d0_m1_m3_m6_then_every_six_months(demo):
    schedule = demo.definition.schedule
    assert [t.code for t in schedule.timepoints] == ["D0", "M1", "M3", "M6"]
    assert all(t.window_before_days and t.window_after_days for t in schedule.timepoints[1:])
    assert (schedule.then.every_months, schedule.then.after) == (6, "M6")
    assert demo.definition.summary_reports.periodicity_months == 6


def test_the_follow_up_form_is_the_largest_with_up_to_ten_concomitant_medicines(demo):
    sizes = {form.key: sum(1 for _ in form.iter_fields()) for form in demo.definition.forms}
    assert max(sizes, key=sizes.get) == "follow_up"
    assert sizes["follow_up"] >= 50
    concomitant = next(s for s in demo.definition.form("follow_up").sections
                       if s.key == "concomitant")
    assert concomitant.repeat.max == 10


def test_every_field_is_traced_and_labelled_in_both_languages(demo):
    for form in demo.definition.forms:
        for _si, _fi, _section, field in form.iter_fields():
            assert field.put_ref and field.label.fr and field.label.en


def test_initiation_requires_the_information_note_attestation_and_its_date(demo):
    initiation = demo.definition.form("initiation")
    given, date_field = (next(f for _s, _i, _sec, f in initiation.iter_fields() if f.key == key)
                         for key in ("info_note_given", "info_note_date"))
    assert (given.type, given.required, date_field.type, date_field.required) == (
        "yes_no", True, "date", True)
    refused = validate_answers(demo, "initiation", {"info_note_given": "no"},
                               today=date(2025, 6, 1))
    assert refused.errors["info_note_given"] == [
        "Treatment can only start once the information note has been handed over."]
    undated = validate_answers(demo, "initiation", {"info_note_given": "yes"},
                               today=date(2025, 6, 1))
    assert undated.errors["info_note_date"] == ["This field is required."]


def _readme_example() -> str:
    readme = (ROOT / "forms" / "README.md").read_text(encoding="utf-8")
    section = readme.split("## A small example", 1)[1]
    return re.search(r"```yaml\n(.*?)```", section, re.DOTALL).group(1)


def test_the_readme_example_is_a_valid_definition():
    assert load_text(_readme_example(), "README example").key == "put_sp_example"


@pytest.mark.parametrize(
    ("old", "new"),
    [("type: coded", "type: textarea"), ('pattern: "^[A-Z]{1,3}$"', 'pattern: "^.{0,200}$"')],
)
def test_the_readme_example_fails_as_the_readme_says(old, new):
    with pytest.raises(ProtocolDefinitionError, match=r"README:\d+:\d+: \[no-free-text\]"):
        load_text(_readme_example().replace(old, new, 1), "README")
