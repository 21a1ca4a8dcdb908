"""Forms built from the demo: what a professional posting the form would see."""

from __future__ import annotations

import json
from datetime import date

import pytest
from werkzeug.datastructures import MultiDict

from portal.protocols import builder, fields
from portal.protocols.builder import form_class, plain_form_class, validate_answers
from portal.protocols.fields import UnknownFieldType
from portal.protocols.loader import load_text

from .support import DATA, DEMO

TODAY = date(2025, 6, 1)


def access_answers(**changes):
    answers = {
        "aac_ansm_ref": "AAC-2025-001234", "aac_decision_date": "2025-01-10",
        "aac_end_date": "2026-01-09", "renewal_no": 0, "indication": "IND-1",
        "establishment_finess": "750712184", "prescriber_rpps": "10000000009",
        "pharmacist_rpps": "10012345673", "pat_surname3": "DUP", "pat_firstname2": "EM",
        "sex": "F", "birth_month_year": "1980-05", "weight_kg": "72.5", "height_cm": 165,
        "crit_diagnosis_confirmed": "yes", "crit_no_alternative": "yes",
        "crit_not_in_trial": "yes", "treatment_deferrable": "no",
    }
    answers.update(changes)
    return {k: v for k, v in answers.items() if v is not None}


def follow_up_answers(**changes):
    answers = {
        "visit_timepoint": "M3", "visit_date": "2025-05-20", "visit_mode": "in_person",
        "renewal_visit": "no", "hospitalised_since_last": "unknown", "weight_kg": "70.0",
        "height_cm": 170, "ecog": "1", "on_treatment": "no", "efficacy_global": "stable",
        "patient_reported_change": "better", "flares": 0, "biomarker_status": "not_done",
        "labs_status": "not_done", "new_ae_since_last": "no", "pregnancy_since_last": "no",
        "medication_error": "no", "overdose": "no", "continuation_decision": "undecided",
        "any_concomitant": "no",
    }
    answers.update(changes)
    return {k: v for k, v in answers.items() if v is not None}


def check(demo, form, answers):
    return validate_answers(demo, form, answers, today=TODAY)


def test_valid_answers_come_back_cleaned(demo):
    result = check(demo, "access", access_answers(pat_surname3="Dùp", aac_ansm_ref="aac-2025-1"))
    assert result.valid, result.errors
    assert result.answers["pat_surname3"] == "DUP"  # accents stripped, upper case (MIN-01)
    assert result.answers["aac_ansm_ref"] == "AAC-2025-1"
    assert result.answers["weight_kg"] == "72.5"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("weight_kg", "300", "Enter a number between 0.5 and 250."),
        ("weight_kg", "72.55", "Use at most 1 decimal places."),
        ("height_cm", "1m65", "Enter a whole number."),
        ("height_cm", 20, "Enter a number between 30 and 230."),
        ("renewal_no", "-1", "Enter a number between 0 and 20."),
        ("aac_decision_date", "31/02/2025", "Enter a valid date as YYYY-MM-DD."),
        ("aac_decision_date", "2025-07-01", "Enter a date on or before 2025-06-01."),
        ("birth_month_year", "1980-13", "Enter a month and year as YYYY-MM."),
        ("sex", "X", "Choose one of the listed answers."),
        ("crit_not_in_trial", "maybe", "Choose one of the listed answers."),
        ("pat_surname3", "DUPONT", "Enter at most 3 characters."),
        ("pat_firstname2", "Émile", "Enter at most 2 characters."),
        ("aac_ansm_ref", "ANSM-12", "Enter a value in the expected format."),
        ("prescriber_rpps", "10012345674", "This number is not valid (its check digit is wrong)."),
        ("indication", None, "This field is required."),
    ],
)
def test_out_of_range_wrong_type_and_unknown_choice_values_are_refused(demo, field, value,
                                                                       message):
    answers = access_answers(**{field: value})
    result = check(demo, "access", answers)
    assert not result.valid
    assert result.errors[field] == [message]


def test_an_end_date_beyond_one_year_after_the_decision_is_refused(demo):
    result = check(demo, "access", access_answers(aac_end_date="2026-01-11"))
    assert result.errors == {"aac_end_date": ["Enter a date on or before 2026-01-10."]}


def test_a_cross_field_check_reports_its_message_on_its_field(demo):
    result = check(demo, "access", access_answers(aac_end_date="2025-01-10"))
    assert result.errors == {"aac_end_date": ["The AAC must end after the decision."]}


def test_a_check_without_target_field_is_a_form_error(demo):
    result = check(demo, "access", access_answers(crit_not_in_trial="no"))
    assert result.errors == {"": ["All granting criteria must be met."]}


def test_the_calculated_bmi_is_computed_and_never_read_from_input(demo):
    result = check(demo, "access", access_answers(bmi="99"))
    assert result.valid
    assert result.answers["bmi"] == "26.6"  # 72.5 / 1.65²


def test_a_value_posted_for_a_hidden_field_is_discarded(demo):
    result = check(demo, "follow_up", follow_up_answers(
        visit_mode="remote", weight_kg="70.0", height_cm="not a number", systolic_bp=500,
    ))
    assert result.valid, result.errors  # hidden: neither validated nor kept
    assert not {"weight_kg", "height_cm", "systolic_bp", "bmi"} & result.answers.keys()


def test_a_required_field_is_required_only_when_visible(demo):
    hidden = check(demo, "follow_up", follow_up_answers(on_treatment="no"))
    assert hidden.valid
    shown = check(demo, "follow_up", follow_up_answers(on_treatment="yes"))
    assert shown.errors == {
        "dose_change": ["This field is required."],
        "current_dose_value": ["This field is required."],
        "current_dose_unit": ["This field is required."],
        "current_frequency": ["This field is required."],
        "adherence": ["This field is required."],
    }


def test_conditions_chain_through_hidden_fields(demo):
    # dose_change_reason depends on dose_change, which depends on on_treatment.
    result = check(demo, "follow_up", follow_up_answers(
        on_treatment="no", dose_change="reduced", dose_change_reason="AE",
    ))
    assert result.valid
    assert "dose_change_reason" not in result.answers


def test_multiple_choice_rejects_unknown_codes_and_keeps_definition_order(demo):
    base = {"meddra_llt_code": "10019211", "onset_date": "2025-05-01", "ongoing": "yes",
            "serious": "yes", "severity": "G3", "causality": "related", "action_taken": "none",
            "outcome": "recovering", "reported_to_crpv": "no"}
    bad = check(demo, "adverse_event", {**base, "seriousness_criteria": ["death", "bogus"]})
    assert bad.errors["seriousness_criteria"] == ["Choose only among the listed answers."]
    good = check(demo, "adverse_event",
                 {**base, "seriousness_criteria": ["medically_important", "hospitalisation"]})
    assert good.answers["seriousness_criteria"] == ["hospitalisation", "medically_important"]


def test_fatal_outcome_requires_the_death_criterion(demo):
    base = {"meddra_llt_code": "10019211", "onset_date": "2025-05-01", "ongoing": "yes",
            "serious": "yes", "seriousness_criteria": ["hospitalisation"], "severity": "G5",
            "causality": "related", "action_taken": "withdrawn", "outcome": "fatal",
            "reported_to_crpv": "no"}
    result = check(demo, "adverse_event", base)
    assert result.errors == {"outcome": ["A fatal event is serious, with the 'death' criterion."]}


def test_repeated_sections_validate_each_entry_and_skip_blank_rows(demo):
    entries = [
        {"cm_atc": "J02AC02", "cm_indication": "ae", "cm_ongoing": "yes"},
        {},
        {"cm_atc": "C10AA01", "cm_indication": "comorbidity", "cm_ongoing": "no",
         "cm_start": "2024-05", "cm_stop": "2024-01"},
        {"cm_atc": "Z99ZZ99", "cm_ongoing": "yes"},
    ]
    result = check(demo, "follow_up", follow_up_answers(any_concomitant="yes",
                                                        concomitant=entries))
    assert result.errors == {
        "concomitant[2].cm_stop": ["The stop cannot precede the start."],
        "concomitant[3].cm_atc": ["Choose one of the listed answers."],
        "concomitant[3].cm_indication": ["This field is required."],
    }


def test_a_repeated_section_refuses_more_entries_than_its_maximum(demo):
    entry = {"cm_atc": "J02AC02", "cm_indication": "ae", "cm_ongoing": "yes"}
    result = check(demo, "follow_up", follow_up_answers(any_concomitant="yes",
                                                        concomitant=[entry] * 11))
    assert result.errors == {"concomitant": ["Enter at most 10 entries."]}
    fewer = check(demo, "follow_up", follow_up_answers(any_concomitant="yes", concomitant=[]))
    assert fewer.errors == {"concomitant": ["Enter at least 1 entries."]}


def test_entries_of_a_hidden_repeated_section_are_discarded(demo):
    entry = {"cm_atc": "J02AC02", "cm_indication": "ae", "cm_ongoing": "yes"}
    result = check(demo, "follow_up", follow_up_answers(any_concomitant="no",
                                                        concomitant=[entry]))
    assert result.valid and "concomitant" not in result.answers


def test_unknown_answer_keys_are_refused(demo):
    result = check(demo, "access", access_answers(patient_address="1 rue de la Paix"))
    assert result.errors == {"patient_address": ["Unknown field."]}


def test_the_class_is_built_once_per_version_and_names_fields_f_key(demo):
    cls = form_class(demo, "follow_up")
    assert cls is form_class(demo, "follow_up")
    assert {"f_visit_date", "f_bmi", "s_concomitant"} <= set(vars(cls))
    changed = load_text(DEMO.read_text(encoding="utf-8").replace('version: "1.0"',
                                                                 'version: "1.0.1"'), "v101")
    assert form_class(changed, "follow_up") is not cls


def test_stored_answers_prefill_the_same_form(demo):
    answers = check(demo, "follow_up", follow_up_answers(
        any_concomitant="yes",
        concomitant=[{"cm_atc": "J02AC02", "cm_indication": "ae", "cm_ongoing": "yes"}],
    )).answers
    form = plain_form_class(demo, "follow_up").from_answers(answers)
    assert form.f_visit_date.data == date(2025, 5, 20)
    assert form.s_concomitant.entries[0].form.f_cm_atc.data == "J02AC02"
    assert form.validate(today=TODAY)
    assert form.answers() == answers


def test_posted_form_data_goes_through_the_same_rules(demo):
    data = MultiDict({"f_" + k: str(v) for k, v in follow_up_answers().items()})
    data.add("s_concomitant-0-f_cm_atc", "J02AC02")  # section hidden: any_concomitant is no
    form = plain_form_class(demo, "follow_up")(formdata=data)
    assert form.validate(today=TODAY)
    assert "concomitant" not in form.answers()


def test_answers_before_validation_is_a_programming_error(demo):
    with pytest.raises(RuntimeError):
        plain_form_class(demo, "access")().answers()


def test_a_type_missing_from_the_registry_fails_when_the_form_is_built(demo, monkeypatch):
    monkeypatch.delitem(fields.FIELD_TYPES, "partial_date")
    fresh = load_text(DEMO.read_text(encoding="utf-8").replace('version: "1.0"',
                                                               'version: "registry"'), "reg")
    monkeypatch.setattr(builder, "_cache", {})
    with pytest.raises(UnknownFieldType, match="partial_date"):
        form_class(fresh, "access")


def test_an_invalid_value_takes_no_part_in_calculations(demo):
    result = check(demo, "access", access_answers(weight_kg="300"))
    assert result.errors == {"weight_kg": ["Enter a number between 0.5 and 250."]}
    assert "bmi" not in result.answers


def test_a_row_started_in_a_hidden_field_asks_for_its_required_fields(demo):
    # cm_stop is shown only when cm_ongoing is "no": its value is discarded, but the row was
    # started, so its required fields are asked for rather than the row silently dropped.
    result = check(demo, "follow_up", follow_up_answers(any_concomitant="yes",
                                                        concomitant=[{"cm_stop": "2024-01"}]))
    assert result.errors == {
        "concomitant[0].cm_atc": ["This field is required."],
        "concomitant[0].cm_indication": ["This field is required."],
        "concomitant[0].cm_ongoing": ["This field is required."],
    }


def test_a_row_with_only_hidden_optional_values_is_no_row():
    text = (DATA / "valid.json").read_text(encoding="utf-8")
    definition = json.loads(text)
    definition["forms"][0]["sections"].append({
        "key": "doses", "title": {"fr": "Doses", "en": "Doses"}, "repeat": {"max": 3},
        "fields": [
            {"key": "dose_kind", "type": "single_choice", "category": "treatment",
             "put_ref": "§4", "label": {"fr": "Type", "en": "Kind"},
             "choices": [{"code": "fixed", "label": {"fr": "Fixe", "en": "Fixed"}},
                         {"code": "weight", "label": {"fr": "Poids", "en": "Weight"}}]},
            {"key": "mg_per_kg", "type": "decimal", "min": 0, "max": 50, "category": "treatment",
             "put_ref": "§4", "label": {"fr": "mg/kg", "en": "mg/kg"},
             "visible_if": "dose_kind == 'weight'"},
        ],
    })
    loaded = load_text(json.dumps(definition), "doses.json")
    result = validate_answers(loaded, "followup", {
        "visit_date": "2025-01-02", "doses": [{"mg_per_kg": "2.5"}, {"dose_kind": "weight",
                                                                     "mg_per_kg": "2.5"}],
    }, today=TODAY)
    assert result.valid
    assert result.answers["doses"] == [{"dose_kind": "weight", "mg_per_kg": "2.5"}]
