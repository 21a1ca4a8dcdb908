"""ODM conditions (XPath predicates, `$OID`, OpenClinica rules and displays) are translated into
the portal's expressions with their meaning, checked by evaluating both on sample values; what
cannot be translated is reported by field."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

import pytest

from portal.protocols.expressions import compile_expression
from portal.protocols.importers.common import scope_of
from portal.protocols.importers.odm import import_odm

STUDY = """<?xml version="1.0"?>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" ODMVersion="1.3.2"
     xmlns:OpenClinica="http://www.openclinica.org/ns/odm_ext_v130/v3.1">
 <Study OID="S">
  <MetaDataVersion OID="M" Name="v1">
   <FormDef OID="F.DEMO" Name="Follow-up" Repeating="No">
    <ItemGroupRef ItemGroupOID="IG" Mandatory="Yes"/>
   </FormDef>
   <ItemGroupDef OID="IG" Name="Main" Repeating="No">
    <ItemRef ItemOID="IT.SEX" Mandatory="No"/>
    <ItemRef ItemOID="IT.WOCBP" Mandatory="No"/>
    <ItemRef ItemOID="IT.AGE" Mandatory="No"/>
    <ItemRef ItemOID="IT.SCORE" Mandatory="No"/>
    <ItemRef ItemOID="IT.TARGET" Mandatory="Yes" CollectionExceptionConditionOID="C"/>
   </ItemGroupDef>
   <ItemDef OID="IT.SEX" Name="SEX" DataType="text"><CodeListRef CodeListOID="CL.SEX"/></ItemDef>
   <ItemDef OID="IT.WOCBP" Name="WOCBP" DataType="boolean"/>
   <ItemDef OID="IT.AGE" Name="AGE" DataType="integer">
    <RangeCheck Comparator="GE" SoftHard="Hard"><CheckValue>0</CheckValue></RangeCheck>
    <RangeCheck Comparator="LE" SoftHard="Hard"><CheckValue>120</CheckValue></RangeCheck>
   </ItemDef>
   <ItemDef OID="IT.SCORE" Name="SCORE" DataType="integer">
    <CodeListRef CodeListOID="CL.SCORE"/>
   </ItemDef>
   <ItemDef OID="IT.TARGET" Name="TARGET" DataType="integer">
    <RangeCheck Comparator="GE" SoftHard="Hard"><CheckValue>0</CheckValue></RangeCheck>
    <RangeCheck Comparator="LE" SoftHard="Hard"><CheckValue>10</CheckValue></RangeCheck>
    {display}
   </ItemDef>
   <CodeList OID="CL.SEX" Name="Sex" DataType="text">
    <CodeListItem CodedValue="M"><Decode><TranslatedText>Male</TranslatedText></Decode>
    </CodeListItem>
    <CodeListItem CodedValue="F"><Decode><TranslatedText>Female</TranslatedText></Decode>
    </CodeListItem>
   </CodeList>
   <CodeList OID="CL.SCORE" Name="Score" DataType="integer">
    <EnumeratedItem CodedValue="0"/><EnumeratedItem CodedValue="1"/>
    <EnumeratedItem CodedValue="2"/><EnumeratedItem CodedValue="3"/>
   </CodeList>
   <ConditionDef OID="C" Name="Not collected when">
    <FormalExpression Context="{context}">{expression}</FormalExpression>
   </ConditionDef>
  </MetaDataVersion>
 </Study>
</ODM>
"""

#: The source values tried: every combination, blanks included (a blank item has no ItemData).
SAMPLES = {"IT.SEX": [None, "M", "F"], "IT.WOCBP": [None, "1", "0"],
           "IT.AGE": [None, "10", "18", "70"], "IT.SCORE": [None, "0", "1", "2", "3"]}
#: How the portal stores the same values.
PORTAL = {"IT.SEX": ("sex", lambda v: v), "IT.WOCBP": ("wocbp", {"1": "yes", "0": "no"}.get),
          "IT.AGE": ("age", int), "IT.SCORE": ("score", lambda v: v)}


def _samples() -> list[dict[str, str | None]]:
    names = list(SAMPLES)
    return [dict(zip(names, combo, strict=True))
            for combo in itertools.product(*(SAMPLES[n] for n in names))]


def _portal_values(source: dict[str, str | None]) -> dict[str, Any]:
    return {key: (None if value is None else convert(value))
            for oid, value in source.items() for key, convert in [PORTAL[oid]]}


def _num(value: str | None) -> float | None:
    return None if value is None else float(value)


def _imported(expression: str, context: str = "XPath", display: str = ""):
    text = STUDY.format(expression=escape(expression), context=context, display=display)
    definition, report = import_odm(text, "conditions.xml")
    form = definition["forms"][0]
    target = next(f for s in form["sections"] for f in s["fields"] if f["key"] == "target")
    entry = next(e for e in report.fields if e.key == "target")
    return form, target, entry


# The XPath meaning: an absent ItemData (a blank item) makes every comparison with it false,
# and a path with predicates is true when such an ItemData exists.
Meaning = Callable[[dict[str, str | None]], bool]
XPATH_CASES: list[tuple[str, Meaning]] = [
    ("../ItemData[@ItemOID='IT.SEX'][@Value='M']", lambda v: v["IT.SEX"] == "M"),
    ("../ItemData[@ItemOID='IT.SEX'][@Value!='M']",
     lambda v: v["IT.SEX"] is not None and v["IT.SEX"] != "M"),
    ("//ItemData[@ItemOID='IT.SEX']/@Value = 'F'", lambda v: v["IT.SEX"] == "F"),
    ("//ItemData[@ItemOID='IT.SEX']/@Value != 'F'",
     lambda v: v["IT.SEX"] is not None and v["IT.SEX"] != "F"),
    ('../ItemData[@ItemOID="IT.WOCBP"]/@Value = 0', lambda v: v["IT.WOCBP"] == "0"),
    ("../ItemData[@ItemOID='IT.AGE']/@Value >= 18 and "
     "../ItemData[@ItemOID='IT.SEX']/@Value = 'F'",
     lambda v: (_num(v["IT.AGE"]) or -1) >= 18 and v["IT.SEX"] == "F"),
    ("../ItemData[@ItemOID='IT.AGE']/@Value < 18 or ../ItemData[@ItemOID='IT.WOCBP'][@Value='0']",
     lambda v: v["IT.AGE"] is not None and float(v["IT.AGE"]) < 18 or v["IT.WOCBP"] == "0"),
    ("count(../ItemData[@ItemOID='IT.SCORE'][@Value='0']) = 0", lambda v: v["IT.SCORE"] != "0"),
    ("count(../ItemData[@ItemOID='IT.SCORE'][@Value='2' or @Value='3']) > 0",
     lambda v: v["IT.SCORE"] in ("2", "3")),
    ("count(../ItemData[@ItemOID='IT.AGE']) >= 1", lambda v: v["IT.AGE"] is not None),
    ("../ItemData[@ItemOID='IT.SCORE' and @Value='1']", lambda v: v["IT.SCORE"] == "1"),
    ("not(../ItemData[@ItemOID='IT.WOCBP'][@Value='1'])", lambda v: v["IT.WOCBP"] != "1"),
    ("../ItemData[@ItemOID='IT.SCORE'][not(@Value='0') and @Value!='3']",
     lambda v: v["IT.SCORE"] in ("1", "2")),
    ("/ODM/ClinicalData/SubjectData/StudyEventData/FormData[@FormOID='F.DEMO']/"
     "ItemGroupData[@ItemGroupOID='IG']/ItemData[@ItemOID='IT.AGE']/@Value < 18",
     lambda v: v["IT.AGE"] is not None and float(v["IT.AGE"]) < 18),
    ("(../ItemData[@ItemOID='IT.SEX']/@Value = 'M' or ../ItemData[@ItemOID='IT.AGE']/@Value > 60)"
     " and not(../ItemData[@ItemOID='IT.SCORE'])",
     lambda v: (v["IT.SEX"] == "M" or (_num(v["IT.AGE"]) or 0) > 60) and v["IT.SCORE"] is None),
]


@pytest.mark.parametrize(("expression", "meaning"), XPATH_CASES,
                         ids=[case[0] for case in XPATH_CASES])
def test_xpath_conditions_keep_their_meaning_on_every_sample(expression, meaning):
    form, target, entry = _imported(expression)
    assert "dropped" not in " ".join(entry.reasons), entry.reasons
    shown = compile_expression(target["visible_if"], scope_of(form))
    for source in _samples():
        # A collection exception says when the item is *not* collected.
        assert shown.holds(_portal_values(source)) is not meaning(source), (
            target["visible_if"], source)


# `$OID` (Python context) and OpenClinica rule expressions compare values, not nodes: with a
# blank operand the result is unknown, so they are checked on samples where every item is given.
VALUE_CASES: list[tuple[str, str, Meaning]] = [
    ("Python", "$IT.AGE >= 18 and $IT.SEX == 'F'",
     lambda v: float(v["IT.AGE"] or 0) >= 18 and v["IT.SEX"] == "F"),
    ("Python", "$IT.WOCBP == 0 or $IT.SCORE != 2",
     lambda v: v["IT.WOCBP"] == "0" or v["IT.SCORE"] != "2"),
    ("OpenClinica", "SE_BASE.F_DEMO.IG_MAIN.AGE gt 65 and SEX eq 'M'",
     lambda v: float(v["IT.AGE"] or 0) > 65 and v["IT.SEX"] == "M"),
    ("OpenClinica", "AGE le 18 or AGE ge 70", lambda v: not 18 < float(v["IT.AGE"] or 0) < 70),
]


@pytest.mark.parametrize(("context", "expression", "meaning"), VALUE_CASES,
                         ids=[case[1] for case in VALUE_CASES])
def test_value_expressions_keep_their_meaning_on_complete_samples(context, expression, meaning):
    form, target, entry = _imported(expression, context)
    assert "dropped" not in " ".join(entry.reasons), entry.reasons
    shown = compile_expression(target["visible_if"], scope_of(form))
    complete = [s for s in _samples() if None not in s.values()]
    for source in complete:
        assert shown.holds(_portal_values(source)) is not meaning(source), (
            target["visible_if"], source)


DISPLAY = """<OpenClinica:ItemDetails ItemOID="IT.TARGET">
     <OpenClinica:ItemPresentInForm FormOID="F.DEMO" ShowItem="No">
      <OpenClinica:SimpleConditionalDisplay>
       <OpenClinica:ControlItemName>SEX</OpenClinica:ControlItemName>
       <OpenClinica:OptionValue>F</OpenClinica:OptionValue>
       <OpenClinica:Message>Only for women</OpenClinica:Message>
      </OpenClinica:SimpleConditionalDisplay>
     </OpenClinica:ItemPresentInForm>
    </OpenClinica:ItemDetails>"""


def test_an_openclinica_simple_conditional_display_shows_the_item_for_its_value():
    # No exception condition here: the ConditionDef is left unused by the item.
    text = STUDY.format(expression="1 = 1", context="XPath", display=DISPLAY).replace(
        ' CollectionExceptionConditionOID="C"', "")
    definition, report = import_odm(text, "display.xml")
    form = definition["forms"][0]
    target = next(f for s in form["sections"] for f in s["fields"] if f["key"] == "target")
    shown = compile_expression(target["visible_if"], scope_of(form))
    for source in _samples():
        assert shown.holds(_portal_values(source)) is (source["IT.SEX"] == "F")
    entry = next(e for e in report.fields if e.key == "target")
    assert any("OpenClinica display condition" in why for why in entry.reasons)


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("count(//ItemData) > 3", "count() of anything but one named ItemData"),
        ("../ItemData[@ItemOID='IT.SEX'][@TransactionType='Insert']", "a predicate on"),
        ("../ItemData[@ItemOID='IT.ELSEWHERE']/@Value = 1", "'IT.ELSEWHERE', which is not in"),
        ("count(../ItemData[@ItemOID='IT.SEX']) >= 0", "is always true"),
        ("../ItemData[@ItemOID='IT.SEX'][1]", "is not a test of @ItemOID or @Value"),
        ("../ItemData[@ItemOID='IT.AGE']/@Value = 'old'", "'age' is a number"),
        ("SEX ct 'M'", "operator 'ct' has no equivalent"),
    ],
)
def test_what_cannot_be_translated_is_reported_on_the_field(expression, reason):
    _form, target, entry = _imported(expression)
    assert entry.fate == "converted"
    assert "visible_if" not in target and target["required"] is False
    assert any("dropped" in why and reason in why for why in entry.reasons), entry.reasons


XLSFORM_CASES: list[tuple[str, Meaning]] = [
    ("${SEX} = 'M'", lambda v: v["IT.SEX"] == "M"),
    ("selected(${SEX}, 'F') and ${AGE} >= 18",
     lambda v: v["IT.SEX"] == "F" and v["IT.AGE"] is not None and float(v["IT.AGE"]) >= 18),
    ("${SEX} != 'M'", lambda v: v["IT.SEX"] != "M"),
]


@pytest.mark.parametrize(("expression", "meaning"), XLSFORM_CASES,
                         ids=[case[0] for case in XLSFORM_CASES])
def test_openclinica_4_conditions_in_xlsform_syntax_keep_their_meaning(expression, meaning):
    form, target, entry = _imported(expression, "OpenClinica")
    assert "dropped" not in " ".join(entry.reasons), entry.reasons
    shown = compile_expression(target["visible_if"], scope_of(form))
    for source in _samples():
        assert shown.holds(_portal_values(source)) is not meaning(source), (
            target["visible_if"], source)
