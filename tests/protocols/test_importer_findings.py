"""Several compliance findings in one section: each is tied to the field it names, none stops
the import, no other field is dropped, and every source field is named in the report."""

from __future__ import annotations

import csv
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.protocols.importers.common import dump_yaml
from portal.protocols.importers.redcap import import_redcap
from portal.protocols.loader import load_text

HEADER = ["field_name", "form_name", "section_header", "field_type", "field_label",
          "select_choices_or_calculations", "field_note",
          "text_validation_type_or_show_slider_number", "text_validation_min",
          "text_validation_max", "identifier", "branching_logic", "required_field"]


def dictionary(rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerow(["record_id", "demo", "", "text", "Record ID"] + [""] * 8)
    for row in rows:
        writer.writerow(row + [""] * (len(HEADER) - len(row)))
    return out.getvalue()


def kept(definition: dict) -> dict[str, dict]:
    return {fld["key"]: fld for form in definition["forms"] for section in form["sections"]
            for fld in section["fields"]}


def test_a_sex_field_next_to_ethnic_origin_fields_is_not_dropped_in_their_place():
    text = dictionary([
        ["ethnicity", "demo", "Demographics", "radio", "Ethnic origin", "1, A | 2, B"],
        ["sex", "demo", "", "radio", "Sex", "1, Male | 2, Female"],
        ["race", "demo", "", "radio", "Race", "1, A | 2, B"],
        ["smoker", "demo", "", "yesno", "Current smoker"],
        ["weight", "demo", "", "text", "Weight (kg)", "", "", "number", "2", "250"],
    ])
    definition, report = import_redcap(text, "several.csv")
    fates = {entry.key: entry for entry in report.fields}
    fields = kept(definition)
    assert "sex" in fields and fates["sex"].fate != "rejected"
    assert fields["sex"]["label"]["en"] == "Sex"
    assert "weight" in fields
    for key in ("ethnicity", "race", "smoker"):
        entry = fates[key]
        assert entry.reasons, key
        assert entry.fate != "rejected" or not any(
            "ethnic" in why and key == "sex" for why in entry.reasons)
    # The output passes the checks.
    load_text(dump_yaml(definition, "several.csv"), "several.yaml")


CLEAN = [
    lambda n: ["radio", f"Response {n}", "1, Good | 2, Bad"],
    lambda n: ["yesno", f"Event {n} occurred"],
    lambda n: ["text", f"Dose {n} (mg)", "", "", "number", "0", "100"],
    lambda n: ["text", f"Visit {n}", "", "", "date_ymd"],
]
FINDING = [
    lambda n: ["radio", f"Ethnic group {n}", "1, A | 2, B"],
    lambda n: ["yesno", f"Alcohol use {n}"],
    lambda n: ["radio", f"Genotype {n}", "1, AA | 2, AB"],
    lambda n: ["text", f"Patient phone {n}", "", "", "integer", "0", "99"],
    lambda n: ["text", f"Mother's name {n}", "", "", "integer", "0", "9"],
    lambda n: ["text", f"Complete genome {n}", "", "", "integer", "0", "9"],
    lambda n: ["text", f"Social security {n}", "", "", "integer", "0", "9"],
]
sections = st.lists(
    st.lists(st.tuples(st.booleans(), st.integers(0, 6)), min_size=2, max_size=6),
    min_size=1, max_size=4,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sections)
def test_several_findings_per_section_drop_only_the_fields_reported(layout):
    rows, clean_keys, n = [], set(), 0
    for s_index, section in enumerate(layout):
        for f_index, (is_clean, choice) in enumerate(section):
            n += 1
            key = f"f{n}"
            make = CLEAN[choice % len(CLEAN)] if is_clean else FINDING[choice]
            header = f"Section {s_index}" if f_index == 0 else ""
            rows.append([key, "demo", header] + make(n))
            if is_clean:
                clean_keys.add(key)
    rows.append(["anchor", "demo", "", "yesno", "Treated"])  # the form keeps a field
    clean_keys.add("anchor")
    definition, report = import_redcap(dictionary(rows), "generated.csv")
    named = [entry.key for entry in report.fields]
    assert named == ["record_id"] + [row[0] for row in rows]  # every source field, in order
    text = report.render()
    assert all(f"demo.{row[0]} " in text for row in rows)
    fields = kept(definition)
    not_rejected = {e.key for e in report.fields if e.fate != "rejected"}
    assert set(fields) == not_rejected  # dropped exactly the ones reported as rejected
    assert clean_keys <= set(fields)  # a clean field is never dropped in another's place
    assert all(e.reasons for e in report.fields if e.fate == "rejected")
    load_text(dump_yaml(definition, "generated.csv"), "generated.yaml")
