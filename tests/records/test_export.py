"""Pseudonymised exports: CSV per form and CDISC ODM 1.3.2, streamed, logged, no identifiers."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import UTC

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.records import services, submissions
from portal.records.models import Submission
from tests.helpers_auth import login
from tests.records import helpers

ODM = "{http://www.cdisc.org/ns/odm/v1.3}"


@pytest.fixture
def cohort(db, prescriber, prescriber_b, site_a, site_b):  # noqa: ANN001, ANN201
    """Patients in two sites: follow-ups, a limited patient, a draft."""
    first = helpers.register(db, prescriber, site_a)
    second = helpers.register(db, prescriber_b, site_b, surname_letters="Yvo")
    limited = helpers.register(db, prescriber, site_a, surname_letters="Lim")
    for patient, actor in ((first, prescriber), (second, prescriber_b), (limited, prescriber)):
        helpers.submit(db, actor, patient, "access")
        helpers.submit(db, actor, patient, "initiation")
        helpers.submit(db, actor, patient, "follow_up", helpers.follow_up_answers("M1"))
    helpers.submit(db, prescriber, first, "follow_up", helpers.follow_up_answers(
        "M3", visit_mode="remote", weight_kg=None, height_cm=None))
    ref = submissions.current_form(db, first, "follow_up")
    submissions.save_draft(db, prescriber, first, ref, {"f_visit_timepoint": ["M6"]},
                           submissions.new_token())
    dpo_actor = helpers.CLI
    services.limit_patient(db, dpo_actor, limited, "accuracy_contested")
    db.commit()
    return {"first": first, "second": second, "limited": limited}


def _export(client, form_key: str, fmt: str = "csv"):  # noqa: ANN001, ANN202
    return client.post("/exports?lang=fr", data={"protocol_key": helpers.PROTOCOL_KEY,
                                         "form_key": form_key, "fmt": fmt})


def test_csv_per_form_is_pseudonymised_with_codes_and_labels(db, client, cohort,
                                                             pharmacovigilance):
    login(client, pharmacovigilance)
    response = _export(client, "follow_up")
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 3  # two sites; the limited patient and the draft left out
    assert {r["case_number"] for r in rows} == {cohort["first"].case_number,
                                                cohort["second"].case_number}
    assert cohort["limited"].case_number not in text
    m1 = next(r for r in rows if r["visit_timepoint"] == "M1")
    assert m1["visit_timepoint_label"] == "M1" and m1["weight_kg"] == helpers.DISTINCTIVE["weight"]
    assert m1["efficacy_global"] == "improved" and m1["efficacy_global_label"]
    assert m1["record_id"].startswith("S") and m1["protocol_version"] == "1.0"
    stored = db.get(Submission, int(m1["record_id"][1:]))
    assert m1["submitted_at"] == stored.submitted_at.astimezone(UTC).isoformat(
        timespec="seconds")
    remote = next(r for r in rows if r["visit_timepoint"] == "M3")
    assert remote["weight_kg"] == ""  # hidden by its condition, so never stored
    cells = {cell for row in csv.reader(io.StringIO(text)) for cell in row}
    assert not cells & {"ZQX", "WK", "ZQX-WK", "YVO", "1961-04"}
    entry = db.scalar(select(AuditEvent).where(AuditEvent.action == "records:data:export"))
    assert entry.details["row_count"] == 3 and entry.details["format"] == "csv"
    assert entry.details["scope"] == "pseudonymised" and entry.details["form"] == "follow_up"


def test_csv_leaves_out_identification_fields(db, client, cohort, pharmacovigilance):
    login(client, pharmacovigilance)
    text = _export(client, "access").get_data(as_text=True)
    header = next(csv.reader(io.StringIO(text)))
    assert "pat_surname3" not in header and "pat_firstname2" not in header
    assert "birth_month_year" not in header
    assert "sex" in header and "aac_ansm_ref" in header
    cells = {cell for row in csv.reader(io.StringIO(text)) for cell in row}
    assert not cells & {"ZQX", "WK", "ZQX-WK", "1961-04"}


def test_repeated_sections_get_numbered_columns(db, client, cohort, pharmacovigilance):
    login(client, pharmacovigilance)
    text = _export(client, "initiation").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["prior_atc_1"] == "L01BA01"
    assert rows[0]["prior_atc_1_label"] == "Méthotrexate"
    assert rows[0]["prior_atc_2"] == ""
    assert "prior_atc_10" in rows[0]


def test_odm_clinical_data(db, client, cohort, pharmacovigilance):
    login(client, pharmacovigilance)
    response = _export(client, "", "odm")
    assert response.status_code == 200 and response.mimetype == "application/xml"
    root = ET.fromstring(response.get_data())
    assert root.tag == f"{ODM}ODM" and root.get("ODMVersion") == "1.3.2"
    assert root.get("FileType") == "Snapshot"
    clinical = root.findall(f"{ODM}ClinicalData")
    assert len(clinical) == 1 and clinical[0].get("StudyOID") == helpers.PROTOCOL_KEY
    subjects = {s.get("SubjectKey"): s for s in clinical[0].findall(f"{ODM}SubjectData")}
    assert set(subjects) == {cohort["first"].case_number, cohort["second"].case_number}
    first = subjects[cohort["first"].case_number]
    events = [e.get("StudyEventOID") for e in first.findall(f"{ODM}StudyEventData")]
    assert "SE.D0" in events and "SE.M1" in events and "SE.M3" in events
    items = {i.get("ItemOID"): i.get("Value") for i in first.iter(f"{ODM}ItemData")}
    assert items["I.initiation.dose_value"] == helpers.DISTINCTIVE["dose"]
    assert "I.access.pat_surname3" not in items and "I.access.birth_month_year" not in items
    groups = [g for g in first.iter(f"{ODM}ItemGroupData")
              if g.get("ItemGroupOID") == "IG.initiation.prior_treatments"]
    assert groups and groups[0].get("ItemGroupRepeatKey") == "1"
    entry = db.scalar(select(AuditEvent).where(AuditEvent.action == "records:data:export"))
    assert entry.details["row_count"] == 7 and entry.details["format"] == "odm"


def test_only_exporting_roles_export(db, client, cohort, prescriber):
    login(client, prescriber)
    assert _export(client, "follow_up").status_code == 403
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "records:data:export")) is None


def test_export_form_page(db, client, cohort, pharmacovigilance):
    login(client, pharmacovigilance)
    page = client.get("/exports?lang=fr").get_data(as_text=True)
    assert "F2. Fiche de suivi" in page and "CDISC ODM 1.3.2" in page
