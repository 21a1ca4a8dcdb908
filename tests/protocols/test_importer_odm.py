"""CDISC ODM 1.3.2 import: every construct, vendor extensions, malformed input."""

from __future__ import annotations

from datetime import date

import pytest

from portal.protocols.builder import validate_answers
from portal.protocols.importers.common import ImportFormatError, dump_yaml
from portal.protocols.importers.odm import import_odm, import_odm_file
from portal.protocols.loader import load_text

from .support import DATA

STUDY = DATA / "odm" / "study.xml"


@pytest.fixture(scope="module")
def imported():
    definition, report = import_odm_file(STUDY)
    forms = {form["key"]: form for form in definition["forms"]}
    fields = {(form["key"], fld["key"]): fld for form in definition["forms"]
              for section in form["sections"] for fld in section["fields"]}
    fates = {(entry.form, entry.key): entry for entry in report.fields}
    return definition, report, forms, fields, fates


def test_the_output_passes_the_checks(imported):
    definition = imported[0]
    loaded = load_text(dump_yaml(definition, "study.xml"), "odm.yaml")
    assert loaded.definition.title.en == "XYZ-123 compassionate follow-up"


def test_study_events_become_the_schedule_and_form_timepoints(imported):
    definition, report, forms, _fields, _fates = imported
    codes = [(t["code"], t.get("day"), t.get("month")) for t in
             definition["schedule"]["timepoints"]]
    assert codes == [("D0", 0, None), ("M3", None, 3)]
    assert forms["initiation"]["timepoints"] == ["D0"]
    assert forms["follow_up_visit"]["timepoints"] == ["M3"]
    assert forms["follow_up_visit"]["repeatable"] is True
    assert forms["adverse_event"]["kind"] == "adverse_event"
    assert "timepoints" not in forms["adverse_event"]  # a common event
    assert any("'SE.AE' (Common)" in note for note in report.notes)


def test_repeating_item_groups_become_repeated_sections(imported):
    _definition, report, forms, _fields, _fates = imported
    sections = {s["key"]: s for f in forms.values() for s in f["sections"]}
    assert sections["prior_treatments"]["repeat"] == {"max": 10}  # OpenClinica RepeatMax
    assert sections["concomitant_medicines"]["repeat"] == {"max": 10}
    assert any("'IG.CONMED' repeats without a maximum" in note for note in report.notes)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("age", {"type": "integer", "min": 0, "max": 120, "required": True}),  # GE 0, LT 121
        # soft GE 2 is a warning to confirm, not a bound: the lower bound is to complete
        ("weight", {"type": "decimal", "decimals": 1, "min": -999999, "max": 250.0,
                    "unit": "kg"}),
        ("height", {"type": "integer", "min": 40, "max": 230, "unit": "cm"}),
        ("start_date", {"type": "date", "min": "2020-01-01"}),
        ("diagnosis_date", {"type": "partial_date"}),
        ("wocbp", {"type": "yes_no"}),
        ("prior_line", {"type": "integer", "min": 1, "max": 10}),
    ],
)
def test_item_data_types_and_range_checks_are_carried_over(imported, key, expected):
    fields = imported[3]
    field = fields[("initiation", key)]
    assert {name: field.get(name) for name in expected} == expected


def test_code_lists_keep_codes_and_both_languages(imported):
    fields = imported[3]
    sex = fields[("initiation", "sex")]
    assert [(c["code"], c["label"]["fr"], c["label"]["en"]) for c in sex["choices"]] == [
        ("M", "Masculin", "Male"), ("F", "Féminin", "Female")]
    assert sex["label"] == {"fr": "Sexe", "en": "Sex"}
    enumerated = fields[("initiation", "preg_test")]
    assert [c["label"]["en"] for c in enumerated["choices"]] == ["NEG", "POS"]


def test_external_dictionaries_become_strict_coded_values(imported):
    fields = imported[3]
    assert fields[("adverse_event", "ae_llt")]["pattern"] == "^[0-9]{8}$"
    assert fields[("adverse_event", "ae_llt")]["dictionary"] == "MedDRA 27.0"
    assert fields[("follow_up_visit", "cm_atc")]["max_length"] == 7


@pytest.mark.parametrize(
    ("form", "key", "fate", "reason"),
    [
        ("initiation", "comment", "rejected", "free text is forbidden"),
        ("initiation", "patient_name", "rejected", "free text is forbidden"),
        ("follow_up_visit", "report_url", "rejected", "data type 'URI' is not collected"),
        ("follow_up_visit", "visit_time", "converted", "time imported as a coded value"),
        ("follow_up_visit", "lab_datetime", "converted", "time of day dropped"),
        ("initiation", "weight", "converted", "soft range check GE 2 imported as a warning"),
        ("follow_up_visit", "score", "converted", "hard range check NE 99 imported as a check "
         "refusing the value"),
        ("follow_up_visit", "odd_flag", "converted", "no longer required"),
    ],
)
def test_the_report_gives_each_item_its_fate_and_why(imported, form, key, fate, reason):
    fates = imported[4]
    assert fates[(form, key)].fate == fate
    assert any(reason in why for why in fates[(form, key)].reasons)


def test_conditions_are_translated_as_collection_exceptions(imported):
    _definition, _report, forms, fields, _fates = imported
    pregnancy = next(s for s in forms["initiation"]["sections"]
                     if s["key"] == "pregnancy_prevention")
    # XPath with single quotes: an absent item compares false, so a blank sex shows the section
    assert pregnancy["visible_if"] == "not (sex != null and sex == 'M')"
    assert fields[("initiation", "preg_test")]["visible_if"] == \
        "not (wocbp != null and wocbp == 'no')"
    assert fields[("follow_up_visit", "dose_reason")]["visible_if"] == \
        "not (dose_changed == '0')"  # $OID syntax
    odd = fields[("follow_up_visit", "odd_flag")]
    assert "visible_if" not in odd and odd["required"] is False


def test_imported_conditions_and_methods_drive_the_form(imported):
    loaded = load_text(dump_yaml(imported[0], "study.xml"), "odm-behaviour.yaml")
    male = validate_answers(loaded, "initiation", {
        "sex": "M", "age": 50, "weight": "80.0", "height": 180, "start_date": "2024-02-01",
        "diagnosis_date": "2020-01", "wocbp": "yes", "bmi": "1",
    }, today=date(2025, 1, 1))
    assert male.valid, male.errors
    assert "wocbp" not in male.answers  # the pregnancy section is not collected for men
    assert male.answers["bmi"] == "24.7"  # MethodDef, computed by the server


EXTERNAL = """<?xml version="1.0"?>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" ODMVersion="1.3.2">
 <Study OID="S">
  <MetaDataVersion OID="M" Name="v1">
   <FormDef OID="F" Name="Adverse event" Repeating="Yes">
    <ItemGroupRef ItemGroupOID="IG" Mandatory="Yes"/>
   </FormDef>
   <ItemGroupDef OID="IG" Name="Event" Repeating="No">
    <ItemRef ItemOID="IT" Mandatory="Yes"/>
   </ItemGroupDef>
   <ItemDef OID="IT" Name="TERM" DataType="text"><CodeListRef CodeListOID="CL"/></ItemDef>
   <CodeList OID="CL" Name="Terms" DataType="text"><ExternalCodeList {attrs}/></CodeList>
  </MetaDataVersion>
 </Study>
</ODM>
"""


@pytest.mark.parametrize(
    ("attrs", "pattern", "dictionary"),
    [
        ('Dictionary="MedDRA LLT"', "^[0-9]{8}$", "MedDRA LLT"),  # as the portal exports it
        ('Dictionary="WHO ATC" Version="2025"', r"^[A-Z]([0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?)?$",
         "WHO ATC 2025"),
        ('Dictionary="MEDDRA" Version="27.0"', "^[0-9]{8}$", "MedDRA 27.0"),
    ],
)
def test_external_dictionaries_are_known_by_a_word_of_their_name(attrs, pattern, dictionary):
    definition, _report = import_odm(EXTERNAL.format(attrs=attrs), "external.xml")
    term = definition["forms"][0]["sections"][0]["fields"][0]
    assert (term["type"], term["pattern"], term["dictionary"]) == ("coded", pattern, dictionary)


MINIMAL = """<?xml version="1.0"?>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" ODMVersion="1.3.2">
 <Study OID="S">
  <MetaDataVersion OID="M" Name="v1">
   <FormDef OID="F" Name="Follow-up" Repeating="No">
    <ItemGroupRef ItemGroupOID="IG" Mandatory="Yes"/>
   </FormDef>
   <ItemGroupDef OID="IG" Name="Main" Repeating="No">
    <ItemRef ItemOID="{item}" Mandatory="Yes"/>
   </ItemGroupDef>
   <ItemDef OID="IT" Name="AGE" DataType="integer">
    <RangeCheck Comparator="GE" SoftHard="Hard"><CheckValue>0</CheckValue></RangeCheck>
    <RangeCheck Comparator="LE" SoftHard="Hard"><CheckValue>120</CheckValue></RangeCheck>
   </ItemDef>
   {extra}
  </MetaDataVersion>
 </Study>
</ODM>
"""


def test_a_minimal_study_imports():
    definition, report = import_odm(MINIMAL.format(item="IT", extra=""), "min.xml")
    assert definition["forms"][0]["sections"][0]["fields"][0]["key"] == "age"
    assert report.fields[0].fate == "converted"
    assert report.fields[0].reasons == ["no question text; the item's name is used"]
    assert "schedule" in definition and definition["forms"][0]["kind"] == "follow_up"


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        ("<ODM><Study></ODM>", 1, "XML is not well-formed"),
        ('<?xml version="1.0"?>\n<!DOCTYPE ODM [<!ENTITY a "aaaa">]>\n<ODM/>', 2,
         "DTDs and entity declarations are not accepted"),
        ("<?xml version='1.0'?>\n<CRF/>", 2, "not an ODM document: the root element is <CRF>"),
        (MINIMAL.format(item="IT.MISSING", extra=""), 9,
         "ItemRef refers to unknown ItemDef 'IT.MISSING'"),
        (MINIMAL.format(item="IT", extra='<ItemDef OID="IT" Name="X" DataType="integer"/>'),
         15, "OID 'IT' is defined twice"),
    ],
)
def test_malformed_input_is_a_clear_error_naming_the_line(content, line, message):
    with pytest.raises(ImportFormatError) as caught:
        import_odm(content, "study.xml")
    assert (caught.value.line, caught.value.message.startswith(message)) == (line, True), \
        str(caught.value)


def test_texts_in_one_language_are_summed_up_not_reported_as_conversions(imported):
    _definition, report, _forms, _fields, fates = imported
    assert fates[("initiation", "height")].one_language
    assert not any("one language" in why for entry in report.fields for why in entry.reasons)
    assert "field(s) had their texts in one language only: copied to the other" in \
        report.render()


CODES = """<?xml version="1.0"?>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" ODMVersion="1.3.2">
 <Study OID="S">
  <MetaDataVersion OID="M" Name="v1">
   <FormDef OID="F" Name="Adverse event" Repeating="Yes">
    <ItemGroupRef ItemGroupOID="IG" Mandatory="Yes"/>
   </FormDef>
   <ItemGroupDef OID="IG" Name="Event" Repeating="No">
    <ItemRef ItemOID="IT.ACN" Mandatory="Yes"/>
    <ItemRef ItemOID="IT.DOSE" Mandatory="No" CollectionExceptionConditionOID="C"/>
   </ItemGroupDef>
   <ItemDef OID="IT.ACN" Name="AEACN" DataType="text"><CodeListRef CodeListOID="CL"/></ItemDef>
   <ItemDef OID="IT.DOSE" Name="NEW_DOSE" DataType="integer">
    <RangeCheck Comparator="GE" SoftHard="Hard"><CheckValue>0</CheckValue></RangeCheck>
    <RangeCheck Comparator="LE" SoftHard="Hard"><CheckValue>500</CheckValue></RangeCheck>
   </ItemDef>
   <CodeList OID="CL" Name="Action" DataType="text">
    <CodeListItem CodedValue="DOSE INCREASED"><Decode><TranslatedText xml:lang="en">Dose
     increased</TranslatedText></Decode></CodeListItem>
    <CodeListItem CodedValue="NOT APPLICABLE"><Decode><TranslatedText xml:lang="en">Not
     applicable</TranslatedText></Decode></CodeListItem>
    <CodeListItem CodedValue="%"><Decode><TranslatedText xml:lang="en">Percent</TranslatedText>
     </Decode></CodeListItem>
   </CodeList>
   <ConditionDef OID="C" Name="No new dose">
    <FormalExpression Context="XPath"
     >../ItemData[@ItemOID='IT.ACN']/@Value != 'DOSE INCREASED'</FormalExpression>
   </ConditionDef>
  </MetaDataVersion>
 </Study>
</ODM>
"""


def test_codes_with_spaces_or_signs_are_stored_as_stable_codes_and_conditions_follow():
    definition, report = import_odm(CODES, "codes.xml")
    fields = {f["key"]: f for s in definition["forms"][0]["sections"] for f in s["fields"]}
    assert [c["code"] for c in fields["aeacn"]["choices"]] == [
        "DOSE_INCREASED", "NOT_APPLICABLE", "C3"]
    entry = next(e for e in report.fields if e.key == "aeacn")
    assert entry.fate == "converted"
    assert "code 'DOSE INCREASED' stored as 'DOSE_INCREASED' (a code holds no space nor sign)" \
        in entry.reasons
    assert fields["new_dose"]["visible_if"] == \
        "not (aeacn != null and aeacn != 'DOSE_INCREASED')"
    load_text(dump_yaml(definition, "codes.xml"), "codes.yaml")


@pytest.mark.parametrize(
    ("name", "kind"),
    [("Baseline Visit Form", "initiation"), ("Follow-up visit", "follow_up"),
     ("Visit 2", "follow_up"), ("Adverse event", "adverse_event"),
     ("End of treatment", "discontinuation")],
)
def test_the_form_kind_is_guessed_and_the_report_says_so(name, kind):
    text = MINIMAL.format(item="IT", extra="").replace('Name="Follow-up"', f'Name="{name}"')
    definition, report = import_odm(text, "kind.xml")
    form = definition["forms"][0]
    assert form["kind"] == kind
    assert f"form {form['key']!r}: kind {kind!r} guessed from its name; change `kind:` if it " \
        "is wrong" in report.notes


OPENCLINICA = """<?xml version="1.0"?>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" ODMVersion="1.3"
     xmlns:OpenClinica="http://www.openclinica.org/ns/odm_ext_v130/v3.1">
 <Study OID="S_DEMO">
  <MetaDataVersion OID="v1.0.0" Name="v1">
   <Protocol><StudyEventRef StudyEventOID="SE_BASE" OrderNumber="1" Mandatory="Yes"/></Protocol>
   <StudyEventDef OID="SE_BASE" Name="Baseline" Repeating="No" Type="Scheduled">
    <FormRef FormOID="F_DEMO_V1_0" Mandatory="Yes"/>
    <FormRef FormOID="F_DEMO_V1_2" Mandatory="Yes"/>
   </StudyEventDef>
   <FormDef OID="F_DEMO_V1_0" Name="Demographics - v1_0" Repeating="No">
    <ItemGroupRef ItemGroupOID="IG_OLD" Mandatory="Yes"/>
    <OpenClinica:FormDetails FormOID="F_DEMO_V1_0" ParentFormOID="F_DEMO">
     <OpenClinica:PresentInEventDefinition StudyEventOID="SE_BASE" IsDefaultVersion="No"/>
    </OpenClinica:FormDetails>
   </FormDef>
   <FormDef OID="F_DEMO_V1_2" Name="Demographics - v1_2" Repeating="No">
    <ItemGroupRef ItemGroupOID="IG_NEW" Mandatory="Yes"/>
    <OpenClinica:FormDetails FormOID="F_DEMO_V1_2" ParentFormOID="F_DEMO">
     <OpenClinica:SectionDetails>
      <OpenClinica:Section SectionLabel="S1" SectionTitle="I Patient"/>
      <OpenClinica:Section SectionLabel="S2" SectionTitle="II Vital &amp; signs"/>
     </OpenClinica:SectionDetails>
     <OpenClinica:PresentInEventDefinition StudyEventOID="SE_BASE" IsDefaultVersion="Yes"/>
    </OpenClinica:FormDetails>
   </FormDef>
   <ItemGroupDef OID="IG_OLD" Name="IG_OLD" Repeating="No">
    <ItemRef ItemOID="I_AGE" Mandatory="Yes"/><ItemRef ItemOID="I_OLD" Mandatory="No"/>
   </ItemGroupDef>
   <ItemGroupDef OID="IG_NEW" Name="IG_NEW" Repeating="No">
    <ItemRef ItemOID="I_AGE" Mandatory="Yes"/><ItemRef ItemOID="I_WEIGHT" Mandatory="No"/>
   </ItemGroupDef>
   <ItemDef OID="I_AGE" Name="AGE" DataType="integer">
    <RangeCheck Comparator="GE" SoftHard="Hard"><CheckValue>0</CheckValue></RangeCheck>
    <RangeCheck Comparator="LE" SoftHard="Hard"><CheckValue>120</CheckValue></RangeCheck>
    <OpenClinica:ItemDetails ItemOID="I_AGE">
     <OpenClinica:ItemPresentInForm FormOID="F_DEMO_V1_2">
      <OpenClinica:SectionLabel>S1</OpenClinica:SectionLabel></OpenClinica:ItemPresentInForm>
    </OpenClinica:ItemDetails>
   </ItemDef>
   <ItemDef OID="I_WEIGHT" Name="WEIGHT" DataType="integer">
    <RangeCheck Comparator="GE" SoftHard="Hard"><CheckValue>1</CheckValue></RangeCheck>
    <RangeCheck Comparator="LE" SoftHard="Hard"><CheckValue>300</CheckValue></RangeCheck>
    <OpenClinica:ItemDetails ItemOID="I_WEIGHT">
     <OpenClinica:ItemPresentInForm FormOID="F_DEMO_V1_2">
      <OpenClinica:SectionLabel>S2</OpenClinica:SectionLabel></OpenClinica:ItemPresentInForm>
    </OpenClinica:ItemDetails>
   </ItemDef>
   <ItemDef OID="I_OLD" Name="OLD_SCORE" DataType="integer">
    <RangeCheck Comparator="GE" SoftHard="Hard"><CheckValue>0</CheckValue></RangeCheck>
    <RangeCheck Comparator="LE" SoftHard="Hard"><CheckValue>9</CheckValue></RangeCheck>
   </ItemDef>
  </MetaDataVersion>
 </Study>
</ODM>
"""


def test_openclinica_crf_versions_are_one_form_with_the_crf_sections():
    definition, report = import_odm(OPENCLINICA, "oc.xml")
    assert [f["key"] for f in definition["forms"]] == ["demographics_v1_2"]
    form = definition["forms"][0]
    assert form["timepoints"] == ["SE_BASE"]
    assert [(s["title"]["en"], [f["key"] for f in s["fields"]]) for s in form["sections"]] == [
        ("I Patient", ["age"]), ("II Vital & signs", ["weight"])]
    notes = "\n".join(report.notes)
    assert "2 versions of CRF 'F_DEMO' (F_DEMO_V1_0, F_DEMO_V1_2): 'F_DEMO_V1_2' is imported" \
        in notes
    old = next(e for e in report.fields if e.key == "old_score")
    assert old.fate == "rejected"
    assert old.reasons == ["only in version 'F_DEMO_V1_0' of the CRF, whose version "
                           "'F_DEMO_V1_2' is imported"]
    assert [e.key for e in report.fields].count("age") == 1
    load_text(dump_yaml(definition, "oc.xml"), "oc.yaml")
