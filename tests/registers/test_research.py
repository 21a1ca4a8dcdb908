"""The research register (issue 24, referential 5.4): a research export is allowed only while a
formality recorded by the DPO is in force and its notice is the published one, and it holds
only the fields in the formality's scope."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from portal import clock
from portal.audit.models import AuditEvent
from portal.notices import services as notices
from portal.notices.catalog import Audience
from portal.records import export
from portal.records.export import FIXED_HEADERS
from portal.registers import services
from portal.registers.models import RegisterKind
from tests.helpers_auth import CLI, login
from tests.notices.conftest import publish_notice
from tests.records import helpers
from tests.records.fixtures import (  # noqa: F401 - fixtures
    app_config,
    dpo,
    pharmacovigilance,
    prescriber,
    prescriber_b,
    protocol,
    site_a,
    site_b,
)

ODM = "{http://www.cdisc.org/ns/odm/v1.3}"
SCOPE = ["follow_up.visit_timepoint", "follow_up.efficacy_global"]


@pytest.fixture
def cohort(db, prescriber, prescriber_b, site_a, site_b):  # noqa: ANN001, ANN201, F811
    """Two patients in two sites, each with an access form, an initiation and a follow-up."""
    first = helpers.register(db, prescriber, site_a)
    second = helpers.register(db, prescriber_b, site_b, surname_letters="Yvo")
    for patient, actor in ((first, prescriber), (second, prescriber_b)):
        helpers.submit(db, actor, patient, "access")
        helpers.submit(db, actor, patient, "initiation")
        helpers.submit(db, actor, patient, "follow_up", helpers.follow_up_answers("M1"))
    db.commit()
    return {"first": first, "second": second}


def patient_notice(db) -> str:  # noqa: ANN001
    published = notices.current_published(db, Audience.PATIENT)
    assert published is not None
    return published.audit_ref


def formality(db, item_no: int | None = None, **overrides: Any):  # noqa: ANN001, ANN201
    data: dict[str, Any] = {
        "title": "Étude observationnelle XYZ-OBS", "formality_kind": "reference_methodology",
        "reference": "MR-004 n° 2227364", "formality_date": services.local_today(db).isoformat(),
        "valid_until": "", "protocol_key": helpers.PROTOCOL_KEY, "fields": SCOPE,
        "notice": patient_notice(db)}
    data.update(overrides)
    saved = services.save_research(db, CLI, item_no, data)
    db.commit()
    return saved


def research_csv(client, form_key: str = "follow_up"):  # noqa: ANN001, ANN201
    return client.post("/exports?lang=en", data={
        "protocol_key": helpers.PROTOCOL_KEY, "form_key": form_key, "fmt": "csv",
        "purpose": "research"})


def exports_logged(db) -> list[AuditEvent]:  # noqa: ANN001
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == "records:data:export")))


def test_a_research_export_holds_only_the_fields_of_the_formality_in_force(
        db, client, cohort, pharmacovigilance) -> None:  # noqa: ANN001, F811
    saved = formality(db)
    login(client, pharmacovigilance)
    response = research_csv(client)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 2
    assert list(rows[0]) == [*FIXED_HEADERS, "visit_timepoint", "visit_timepoint_label",
                             "efficacy_global", "efficacy_global_label"]
    assert {r["export_purpose"] for r in rows} == {"research"}
    assert {r["efficacy_global"] for r in rows} == {"improved"}
    entry = exports_logged(db)[-1]
    assert entry.details["purpose"] == "research"
    assert entry.details["research"] == saved.reference == "RS1"
    assert entry.details["notice"] == patient_notice(db)
    # The ODM export of every form holds the follow-up's two fields, nothing of other forms.
    odm = client.post("/exports?lang=en", data={
        "protocol_key": helpers.PROTOCOL_KEY, "form_key": "", "fmt": "odm",
        "purpose": "research"})
    assert odm.status_code == 200
    root = ET.fromstring(odm.get_data())
    assert "formality: RS1" in root.get("Description", "")
    items = {i.get("ItemOID") for i in root.iter(f"{ODM}ItemData")}
    assert items == {"I.follow_up.visit_timepoint", "I.follow_up.efficacy_global"}, items
    assert {f.get("FormOID") for f in root.iter(f"{ODM}FormData")} == {"F.follow_up"}
    # Only the covered form's submissions are counted and read (two follow-ups of six forms).
    assert exports_logged(db)[-1].details["row_count"] == 2
    defined = {i.get("OID") for i in root.iter(f"{ODM}ItemDef")}
    assert defined == items


def _refused(db, client) -> str:  # noqa: ANN001
    before = len(exports_logged(db))
    response = research_csv(client)
    assert response.status_code == 422 and response.mimetype == "text/html"
    assert len(exports_logged(db)) == before
    return response.get_data(as_text=True)


def test_a_research_export_is_refused_unless_a_formality_is_in_force_with_its_notice(
        db, client, cohort, pharmacovigilance) -> None:  # noqa: ANN001, F811
    login(client, pharmacovigilance)
    assert "None is in force for this protocol" in _refused(db, client)
    today = services.local_today(db)
    # Not yet in force
    saved = formality(db, formality_date=(today + timedelta(days=1)).isoformat())
    assert "None is in force" in _refused(db, client)
    # In force: allowed; then ended
    formality(db, saved.item_no, formality_date=(today - timedelta(days=30)).isoformat())
    assert research_csv(client).status_code == 200
    formality(db, saved.item_no, formality_date=(today - timedelta(days=30)).isoformat(),
              valid_until=(today - timedelta(days=1)).isoformat())
    assert "None is in force" in _refused(db, client)
    # Withdrawn
    formality(db, saved.item_no, withdrawn=True)
    assert "None is in force" in _refused(db, client)
    # In force again, but the patient note it names is replaced by a new version
    formality(db, saved.item_no)
    assert research_csv(client).status_code == 200
    old = patient_notice(db)
    publish_notice(db, Audience.PATIENT)
    assert patient_notice(db) != old
    assert "None is in force" in _refused(db, client)
    state = services.research_state(db, services.latest(db, RegisterKind.RESEARCH, 1))
    assert not state.in_force and old in " ".join(state.reasons)
    # Named again with the version in force: allowed; a form outside its scope is refused.
    formality(db, saved.item_no)
    assert research_csv(client).status_code == 200
    page = client.post("/exports?lang=en", data={
        "protocol_key": helpers.PROTOCOL_KEY, "form_key": "initiation", "fmt": "csv",
        "purpose": "research"})
    assert page.status_code == 422 and "covers no field of this form" in page.get_data(
        as_text=True)
    with pytest.raises(export.ResearchNotCovered):
        export.prepare_export(db, pharmacovigilance, helpers.PROTOCOL_KEY, "initiation", "csv",
                              purpose="research")


def test_two_formalities_in_force_make_the_export_name_its_own(
        db, client, cohort, pharmacovigilance) -> None:  # noqa: ANN001, F811
    formality(db)
    formality(db, reference="CNIL DR-2027-118", formality_kind="authorisation",
              fields=["follow_up.weight_kg"])
    with pytest.raises(export.ResearchNotCovered):
        export.prepare_export(db, pharmacovigilance, helpers.PROTOCOL_KEY, "follow_up", "csv",
                              purpose="research")
    job = export.prepare_export(db, pharmacovigilance, helpers.PROTOCOL_KEY, "follow_up",
                                "csv", purpose="research", research="RS2")
    assert job.scope("follow_up") == frozenset({"weight_kg"})
    db.rollback()
    login(client, pharmacovigilance)
    response = client.post("/exports?lang=en", data={
        "protocol_key": helpers.PROTOCOL_KEY, "form_key": "follow_up", "fmt": "csv",
        "purpose": "research", "research": "RS2"})
    assert response.status_code == 200
    header = next(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert header == [*FIXED_HEADERS, "weight_kg"]


def test_the_research_register_exports_from_the_command_line(db, runner, tmp_path,
                                                            protocol) -> None:  # noqa: ANN001, F811
    formality(db)
    out = tmp_path / "research.csv"
    result = runner.invoke(args=["register", "export", "research", "--output", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert rows[1][:4] == ["ref", "version", "status", "in_force"]
    assert rows[2][:4] == ["RS1", "1", "active", "yes"] and "MR-004 n° 2227364" in rows[2]


def test_a_formality_needs_its_reference_date_scope_and_a_published_notice(
        db, protocol) -> None:  # noqa: ANN001, F811
    with pytest.raises(services.RegisterRefused) as refused:
        services.save_research(db, CLI, None, {
            "title": "", "formality_kind": "guess", "reference": "", "formality_date": "soon",
            "valid_until": "", "protocol_key": helpers.PROTOCOL_KEY, "fields": [],
            "notice": "patient-v99"})
    assert set(refused.value.problems) == {"title", "formality_kind", "reference",
                                           "formality_date", "fields", "notice"}
    with pytest.raises(services.RegisterRefused) as refused:
        services.save_research(db, CLI, None, {
            "title": "T", "formality_kind": "authorisation", "reference": "R",
            "formality_date": "2027-01-01", "valid_until": "2026-01-01",
            "protocol_key": helpers.PROTOCOL_KEY,
            # an unknown field, and an identification item no export holds
            "fields": ["follow_up.visit_timepoint", "initiation.nope", "access.birth_month_year"],
            "notice": patient_notice(db)})
    assert set(refused.value.problems) == {"valid_until", "fields"}
    assert "initiation.nope" in refused.value.problems["fields"]
    assert "access.birth_month_year" in refused.value.problems["fields"]
    assert services.items(db, RegisterKind.RESEARCH) == []


def test_the_dpo_records_a_formality_in_the_register_pages(
        app, db, client, cohort, dpo, pharmacovigilance) -> None:  # noqa: ANN001, F811
    login(client, dpo)
    page = client.get("/registers/research?lang=en").get_data(as_text=True)
    assert "every research export is refused" in page
    form = client.get("/registers/research/new?lang=en").get_data(as_text=True)
    assert f"{helpers.PROTOCOL_KEY}:follow_up.efficacy_global" in form
    assert patient_notice(db) in form
    response = client.post("/registers/research/new?lang=en", data={
        "title": "Étude XYZ-OBS", "formality_kind": "reference_methodology",
        "reference": "MR-004 n° 2227364",
        "formality_date": (clock.now().date() - timedelta(days=2)).isoformat(),
        "protocol_key": helpers.PROTOCOL_KEY,
        "fields": [f"{helpers.PROTOCOL_KEY}:{key}" for key in SCOPE],
        "notice": patient_notice(db)})
    assert response.status_code == 302, response.get_data(as_text=True)
    saved = services.latest(db, RegisterKind.RESEARCH, 1)
    assert saved is not None and saved.data["fields"] == sorted(SCOPE)
    assert "<td>allowed</td>" in client.get("/registers/research?lang=en").get_data(as_text=True)
    # The register exports with the others.
    text = client.get("/registers/export/research.csv").get_data(as_text=True)
    assert "MR-004 n° 2227364" in text and "follow_up.efficacy_global" in text
    assert client.get("/registers/export/research.pdf").data.startswith(b"%PDF")
    # The record of processing lists the formalities in force.
    record = client.get("/registers/export/processing.csv").get_data(as_text=True)
    assert f"Research formalities in force: RS1 MR-004 n° 2227364 ({helpers.PROTOCOL_KEY})" \
        in record
    # A form missing its notice shows the error, nothing saved.
    response = client.post("/registers/research/1?lang=en", data={
        "title": "Étude XYZ-OBS", "formality_kind": "reference_methodology",
        "reference": "MR-004 n° 2227364", "formality_date": "2027-01-01",
        "protocol_key": helpers.PROTOCOL_KEY,
        "fields": [f"{helpers.PROTOCOL_KEY}:{SCOPE[0]}"], "notice": "", "number": "1"})
    assert response.status_code == 200
    assert "Choose the published notice" in response.get_data(as_text=True)
    assert services.latest(db, RegisterKind.RESEARCH, 1).number == 1
    other = app.test_client()
    login(other, pharmacovigilance)
    assert other.get("/registers/research").status_code == 403
