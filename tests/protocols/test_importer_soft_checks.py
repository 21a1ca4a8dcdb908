"""ODM range checks: hard ones stay refusals, soft ones become warnings the professional
confirms (in the form, in conditions.js's markup, in the confirmation token), a one-sided check
invents no other bound, `Length` is no clinical bound, units are kept apart and ErrorMessage
texts are imported in both languages where given."""

from __future__ import annotations

import re
from datetime import date

import pytest

from portal.protocols.builder import plain_form_class, validate_answers
from portal.protocols.importers.common import dump_yaml
from portal.protocols.importers.odm import import_odm
from portal.protocols.loader import load_text
from portal.protocols.render import render_answers, render_form

STUDY = """<?xml version="1.0"?>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" ODMVersion="1.3.2">
 <Study OID="S">
  <BasicDefinitions>
   <MeasurementUnit OID="MU.KG" Name="kg"><Symbol><TranslatedText>kg</TranslatedText></Symbol>
   </MeasurementUnit>
   <MeasurementUnit OID="MU.CM" Name="cm"><Symbol><TranslatedText>cm</TranslatedText></Symbol>
   </MeasurementUnit>
   <MeasurementUnit OID="MU.IN" Name="in"><Symbol><TranslatedText>in</TranslatedText></Symbol>
   </MeasurementUnit>
  </BasicDefinitions>
  <MetaDataVersion OID="M" Name="v1">
   <FormDef OID="F" Name="Follow-up" Repeating="No">
    <ItemGroupRef ItemGroupOID="IG" Mandatory="Yes"/>
   </FormDef>
   <ItemGroupDef OID="IG" Name="Main" Repeating="No">
    <ItemRef ItemOID="IT.WEIGHT" Mandatory="Yes"/>
    <ItemRef ItemOID="IT.HEIGHT" Mandatory="No"/>
    <ItemRef ItemOID="IT.SCORE" Mandatory="No"/>
   </ItemGroupDef>
   <ItemDef OID="IT.WEIGHT" Name="WEIGHT" DataType="float" SignificantDigits="1" Length="5">
    <Question><TranslatedText xml:lang="fr">Poids</TranslatedText>
     <TranslatedText xml:lang="en">Weight</TranslatedText></Question>
    <MeasurementUnitRef MeasurementUnitOID="MU.KG"/>
    <RangeCheck Comparator="GE" SoftHard="Hard"><CheckValue>1</CheckValue></RangeCheck>
    <RangeCheck Comparator="LE" SoftHard="Hard"><CheckValue>300</CheckValue>
     <ErrorMessage><TranslatedText xml:lang="fr">300 kg au plus</TranslatedText>
      <TranslatedText xml:lang="en">300 kg at most</TranslatedText></ErrorMessage>
    </RangeCheck>
    <RangeCheck Comparator="GE" SoftHard="Soft"><CheckValue>30</CheckValue>
     <ErrorMessage><TranslatedText xml:lang="fr">Poids inhabituel : moins de 30 kg</TranslatedText>
      <TranslatedText xml:lang="en">Unusual weight: under 30 kg</TranslatedText></ErrorMessage>
    </RangeCheck>
    <RangeCheck Comparator="LE" SoftHard="Soft"><CheckValue>150</CheckValue></RangeCheck>
   </ItemDef>
   <ItemDef OID="IT.HEIGHT" Name="HEIGHT" DataType="integer" Length="3">
    <MeasurementUnitRef MeasurementUnitOID="MU.CM"/>
    <RangeCheck Comparator="LE" SoftHard="Hard"><CheckValue>250</CheckValue>
     <MeasurementUnitRef MeasurementUnitOID="MU.CM"/></RangeCheck>
    <RangeCheck Comparator="LE" SoftHard="Hard"><CheckValue>98</CheckValue>
     <MeasurementUnitRef MeasurementUnitOID="MU.IN"/></RangeCheck>
    <RangeCheck Comparator="GE" SoftHard="Hard"><CheckValue>16</CheckValue>
     <MeasurementUnitRef MeasurementUnitOID="MU.IN"/></RangeCheck>
   </ItemDef>
   <ItemDef OID="IT.SCORE" Name="SCORE" DataType="integer" Length="3">
    <RangeCheck Comparator="GE" SoftHard="Hard"><CheckValue>0</CheckValue></RangeCheck>
    <RangeCheck Comparator="LT" SoftHard="Hard"><CheckValue>10.5</CheckValue></RangeCheck>
    <RangeCheck Comparator="NE" SoftHard="Hard"><CheckValue>7</CheckValue></RangeCheck>
   </ItemDef>
  </MetaDataVersion>
 </Study>
</ODM>
"""
TODAY = date(2025, 6, 1)


@pytest.fixture(scope="module")
def imported():
    definition, report = import_odm(STUDY, "ranges.xml")
    form = definition["forms"][0]
    fields = {f["key"]: f for s in form["sections"] for f in s["fields"]}
    fates = {e.key: e for e in report.fields}
    loaded = load_text(dump_yaml(definition, "ranges.xml"), "ranges.yaml")
    return definition, form, fields, fates, loaded


def test_hard_checks_are_bounds_and_soft_checks_are_warnings(imported):
    _definition, form, fields, _fates, _loaded = imported
    weight = fields["weight"]
    assert (weight["min"], weight["max"], weight["unit"]) == (1.0, 300.0, "kg")
    warnings = [c for c in form["checks"] if c["severity"] == "warning"]
    assert [(c["expression"], c["fields"]) for c in warnings] == [
        ("weight >= 30", ["weight"]), ("weight <= 150", ["weight"])]
    assert warnings[0]["message"] == {"fr": "Poids inhabituel : moins de 30 kg",
                                      "en": "Unusual weight: under 30 kg"}
    assert warnings[1]["message"]["en"] == "Unusual value (usually ≤ 150 kg): check it."


def test_a_hard_error_message_is_kept_in_both_languages(imported):
    fields, fates = imported[2], imported[3]
    assert fields["weight"]["help"] == {"fr": "300 kg au plus", "en": "300 kg at most"}
    assert "the range check's error message is shown as help" in fates["weight"].reasons


def test_a_value_inside_the_hard_range_is_accepted_with_a_warning(imported):
    loaded = imported[4]
    usual = validate_answers(loaded, "follow_up", {"weight": "70.0"}, today=TODAY)
    assert (usual.valid, usual.warnings) == (True, [])
    light = validate_answers(loaded, "follow_up", {"weight": "20.0"}, today=TODAY)
    assert light.valid, light.errors  # not refused: a soft check asks for a confirmation
    assert light.warnings == ["weight_usual"]
    heavy = validate_answers(loaded, "follow_up", {"weight": "200.0"}, today=TODAY)
    assert heavy.valid and heavy.warnings == ["weight_usual_2"]
    refused = validate_answers(loaded, "follow_up", {"weight": "301.0"}, today=TODAY)
    assert not refused.valid and "weight" in refused.errors


def test_a_one_sided_check_invents_no_other_bound(imported):
    _definition, _form, fields, fates, loaded = imported
    height = fields["height"]
    # Only `LE 250` in cm: the lower bound is a placeholder, and install refuses it.
    assert (height["min"], height["max"]) == (-999999, 250)
    assert any("no lower bound in the source: min set to the placeholder -999999" in why
               for why in fates["height"].reasons)
    assert any("are a placeholder" in str(w) and "'height'" in str(w) for w in loaded.warnings)


def test_length_gives_no_clinical_bound(imported):
    fields, fates = imported[2], imported[3]
    score = fields["score"]
    assert (score["min"], score["max"]) == (0, 10)  # LT 10.5 on a whole number: at most 10
    height = fields["height"]
    assert height["min"] != -999  # not derived from Length="3"
    assert any("Length 3 is a number of digits, not a clinical bound" in why
               for why in fates["height"].reasons)


def test_checks_in_another_unit_are_kept_apart(imported):
    fields, fates = imported[2], imported[3]
    assert fields["height"]["unit"] == "cm" and fields["height"]["max"] == 250
    reasons = fates["height"].reasons
    assert any("range check LE 98 in 'in' not carried over: the field is in 'cm'" in why
               for why in reasons)
    assert any("range check GE 16 in 'in' not carried over" in why for why in reasons)


def test_other_hard_comparators_become_refusing_checks(imported):
    form, loaded = imported[1], imported[4]
    check = next(c for c in form["checks"] if c["fields"] == ["score"])
    assert (check["expression"], check["severity"]) == ("score != 7", "error")
    seven = validate_answers(loaded, "follow_up", {"weight": "70.0", "score": 7}, today=TODAY)
    assert not seven.valid and seven.errors["score"] == ["Value refused: it must be ≠ 7."]


def test_the_warning_is_in_the_markup_for_conditions_js_and_shown_after_a_post(imported):
    loaded = imported[4]
    page = str(render_answers(loaded, "follow_up", {}, locale="en"))
    warning = re.search(r'<p class="pf-warning" id="warn-f_weight-weight_usual"[^>]*>', page)
    assert warning is not None
    assert 'data-warn-unless=\'["&gt;=",["ref","weight"]' in warning.group()
    assert " hidden" in warning.group()  # shown by the script, or by the server after a POST
    assert "confirm_warnings" not in page

    form = plain_form_class(loaded, "follow_up")(formdata=_formdata({"f_weight": "20.0"}))
    assert form.validate(today=TODAY)
    posted = str(render_form(form, locale="en"))
    shown = re.search(r'<p class="pf-warning" id="warn-f_weight-weight_usual"[^>]*>', posted)
    assert shown is not None and " hidden" not in shown.group()
    assert "Unusual weight: under 30 kg" in posted
    token = re.search(r'name="confirm_warnings" value="([0-9a-f]+)"', posted)
    assert token is not None and token.group(1) == form.warning_token


def test_the_confirmation_names_the_values_it_confirms(imported):
    loaded = imported[4]
    tokens = set()
    for weight in ("20.0", "20.0", "21.0"):
        form = plain_form_class(loaded, "follow_up")(formdata=_formdata({"f_weight": weight}))
        form.validate(today=TODAY)
        tokens.add(form.warning_token)
    assert len(tokens) == 2  # the same value, the same token; another value asks again
    fine = plain_form_class(loaded, "follow_up")(formdata=_formdata({"f_weight": "70.0"}))
    fine.validate(today=TODAY)
    assert fine.warning_token == ""


def _formdata(values: dict[str, str]):
    from werkzeug.datastructures import MultiDict

    return MultiDict(values)
