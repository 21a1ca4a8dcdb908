"""The accountability registers (issue 19, REC-01 to REC-09), through their services and CLI."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

import portal.notices.models  # noqa: F401 - every table on the metadata (PostgreSQL schema)
import portal.records.models  # noqa: F401
import portal.registers.models  # noqa: F401
import portal.rights.models  # noqa: F401
from portal import clock
from portal.audit.checks import run_checks
from portal.audit.services import record
from portal.errors import Forbidden
from portal.notices.transfers import transfer_paragraph
from portal.registers import services
from portal.registers.models import BreachAlert, RegisterKind
from tests.helpers_auth import CHEAP_ARGON2, CLI, TEST_FINESS, login, mail_body, outbox
from tests.rights.helpers import OTHER_FINESS, establishment, make_doctor, make_dpo

DATA = Path(__file__).parent / "data"
PROTOCOL = DATA / "registers-protocol.yaml"
GENETIC_FIELD = '''            put_ref: "§4.3"
          - key: genotype
            type: yes_no
            label: {fr: "Variant du gène cible", en: "Target gene variant"}
            category: genetic
            put_ref: "§4.5"
            necessity_justification: "The variant decides the dose (PUT-SP section 4.5); \
the protocol cannot be followed without it."
'''


@pytest.fixture
def app_config(app_config: dict[str, object]) -> dict[str, object]:
    app_config["PASSWORD_HASHER"] = CHEAP_ARGON2
    return app_config


def install(db, path: Path = PROTOCOL) -> None:  # noqa: ANN001
    from portal.protocols.services import install_protocol

    install_protocol(db, CLI, path)
    db.commit()


def second_version_with_genetic_data(tmp_path: Path) -> Path:
    text = PROTOCOL.read_text(encoding="utf-8").replace('version: "1"', 'version: "2"', 1)
    text = text.replace('            put_ref: "§4.3"\n', GENETIC_FIELD, 1)
    path = tmp_path / "registers-protocol-v2.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def processor(db, name: str = "HébergeSanté", country: str = "FR", mechanism: str = "",  # noqa: ANN001, ANN201
              item_no: int | None = None, role: str = "host"):
    saved = services.save_processor(db, CLI, item_no, {
        "name": name, "role": role, "country": country, "mechanism": mechanism,
        "hds_certificate": "HDS-2024-0042", "location": "Roubaix"})
    db.commit()
    return saved


def export_csv(runner, tmp_path: Path, register: str) -> list[list[str]]:  # noqa: ANN001
    out = tmp_path / f"{register}.csv"
    result = runner.invoke(args=["register", "export", register, "--format", "csv",
                                 "--output", str(out)])
    assert result.exit_code == 0, result.output
    return list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))


def approved_dpia(db) -> None:  # noqa: ANN001
    services.save_dpia(db, CLI, {
        "description": "HCP -> portal -> laboratory -> ANSM", "necessity": "Legal obligation",
        "risks": "Re-identification in a rare-disease cohort", "measures": "HDS, TOTP, RBAC",
        "dpo_advice": "Favourable", "signed_off_by": "Pharmacien responsable",
        "next_review_at": "2027-12-01", "reference": "AIPD-2026-01"}, approve=True)
    db.commit()


# --- record of processing ---------------------------------------------------------------------


def test_the_export_holds_items_a_to_g_from_the_live_configuration_and_protocol(
        app, db, runner, tmp_path) -> None:  # noqa: ANN001
    install(db)
    processor(db)
    services.save_processing(db, CLI, {"dpo_name": "Claire Dupont",
                                       "dpo_contact": "dpo@labo.example"})
    db.commit()
    rows = export_csv(runner, tmp_path, "processing")
    items = {row[0] for row in rows[2:]}
    assert {"a", "b", "c", "d", "e", "f", "g", "domain"} <= items
    text = "\n".join(" | ".join(row) for row in rows)
    assert f"Controller: {app.config['CONTROLLER_NAME']}" in text
    assert "DPO: Claire Dupont, dpo@labo.example" in text
    # (c) from the protocol in force: its pregnancy form concerns affected persons
    assert "affected persons (pregnant partners)" in text
    assert "Data: safety (adverse events) (1 fields)" in text
    # (d) and the domain fields from the processors list; (f) from the retention settings
    assert "Processor HébergeSanté" in text
    assert "HébergeSanté: HDS-2024-0042" in text
    assert f"Audit trail: {app.config['AUDIT_RETENTION_DAYS']} days" in text
    assert "registers_fixture 1 *" in text
    assert "No transfer outside the EU" in text
    assert rows[2] == ["status", "conforming to the referential"]
    pdf = tmp_path / "processing.pdf"
    result = runner.invoke(args=["register", "export", "processing", "--format", "pdf",
                                 "--output", str(pdf)])
    assert result.exit_code == 0, result.output
    assert pdf.read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize(("register", "expected"), [
    ("breaches", "Lost laptop"),
    ("transfers", "CloudCo"),
    ("processors", "HDS-2024-0042"),
    ("dpia", "AIPD-2026-01"),
])
def test_every_register_exports_as_csv_and_pdf_from_the_command_line(
        db, runner, tmp_path, register, expected) -> None:  # noqa: ANN001
    services.save_breach(db, CLI, None, breach_data())
    processor(db, "CloudCo", "US", "scc")
    approved_dpia(db)
    text = "\n".join(" | ".join(row) for row in export_csv(runner, tmp_path, register))
    assert expected in text
    pdf = tmp_path / f"{register}.pdf"
    result = runner.invoke(args=["register", "export", register, "--format", "pdf",
                                 "--output", str(pdf)])
    assert result.exit_code == 0, result.output
    assert pdf.read_bytes().startswith(b"%PDF")


def test_an_unjustified_data_category_flips_the_record_to_not_conforming(
        app, db, runner, tmp_path) -> None:  # noqa: ANN001
    install(db)
    assert services.processing_record(db).conforming
    install(db, second_version_with_genetic_data(tmp_path))
    found = services.processing_record(db)
    assert not found.conforming
    assert [d.code for d in found.unauthorised] == ["category:genetic"]
    assert "registers_fixture.followup.genotype" in found.unauthorised[0].text
    assert export_csv(runner, tmp_path, "processing")[2] == [
        "status", "NOT CONFORMING to the referential"]
    # An authorisation covers the deviations shown when it is entered, not later ones.
    services.save_processing(db, CLI, {"authorisation_ref": "CNIL-AUT-2026-123"})
    db.commit()
    assert services.processing_record(db).conforming
    services.save_processing(db, CLI, {"authorisation_ref": "CNIL-AUT-2026-123",
                                       "extra_purposes": "Marketing studies"})
    db.commit()
    assert services.processing_record(db).conforming  # saved with the ref: both covered
    services.save_processing(db, CLI, {})
    db.commit()
    assert [d.code for d in services.processing_record(db).unauthorised] == [
        "category:genetic"]


def test_an_edit_is_a_new_version_and_the_earlier_ones_stay_readable(app, db) -> None:  # noqa: ANN001
    services.save_processing(db, CLI, {"dpo_name": "First DPO"})
    services.save_processing(db, CLI, {"dpo_name": "Second DPO"})
    db.commit()
    versions = services.history(db, RegisterKind.PROCESSING)
    assert [v.number for v in versions] == [2, 1]
    assert services.version(db, RegisterKind.PROCESSING, 1, 1).data["dpo_name"] == "First DPO"
    assert services.latest(db, RegisterKind.PROCESSING).data["dpo_name"] == "Second DPO"


def test_only_the_dpo_and_administrators_edit_the_registers(app, db) -> None:  # noqa: ANN001
    doctor = make_doctor(db, establishment(db, TEST_FINESS, "CH Exemple"), "dr.martin")
    with pytest.raises(Forbidden):
        services.save_processing(db, doctor, {"dpo_name": "Not me"})
    dpo = make_dpo(db)
    services.save_processing(db, dpo, {"dpo_name": "Claire"})
    db.commit()
    assert services.latest(db, RegisterKind.PROCESSING).author_label == dpo.login


# --- breaches and their 72-hour clock ---------------------------------------------------------


def breach_data(**extra: object) -> dict[str, object]:
    return {"title": "Lost laptop", "aware_at": clock.now(), "nature": ["confidentiality"],
            "risk": "risk", **extra}


def test_a_breach_saved_73_hours_after_awareness_without_a_delay_reason_is_refused(
        app, db) -> None:  # noqa: ANN001
    aware = clock.now()
    saved = services.save_breach(db, CLI, None, breach_data(aware_at=aware))
    db.commit()
    with clock.frozen(aware + timedelta(hours=73)):
        with pytest.raises(services.RegisterRefused) as refused:
            services.save_breach(db, CLI, saved.item_no, breach_data(
                aware_at=aware, cnil_notified=True, cnil_notified_at=clock.now(),
                cnil_phase="initial", cnil_reference="CNIL-N-1"))
        assert set(refused.value.problems) == {"delay_reason"}
        services.save_breach(db, CLI, saved.item_no, breach_data(
            aware_at=aware, cnil_notified=True, cnil_notified_at=clock.now(),
            cnil_phase="initial", cnil_reference="CNIL-N-1",
            delay_reason="The processor told us on day 3."))
    db.commit()
    assert services.latest(db, RegisterKind.BREACH, saved.item_no).number == 2


def test_the_24_48_66_hour_alerts_fire_once_each(app, db) -> None:  # noqa: ANN001
    dpo = make_dpo(db)
    aware = clock.now()
    breach = services.save_breach(db, CLI, None, breach_data(aware_at=aware))
    db.commit()
    fired = []
    for hours in (1, 23, 25, 30, 49, 49, 67, 71):
        with clock.frozen(aware + timedelta(hours=hours)):
            fired.append([a.hours for a in services.raise_clock_alerts(db)])
            db.commit()
    assert fired == [[], [], [24], [], [48], [], [66], []]
    assert sorted(db.scalars(select(BreachAlert.hours).where(
        BreachAlert.item_no == breach.item_no))) == [24, 48, 66]
    mails = [m for m in outbox(app) if m["To"] == dpo.email]
    assert [m["Subject"] for m in mails] == [
        f"Breach {breach.reference}: {h} hours since awareness" for h in (24, 48, 66)]


def test_the_clock_shows_on_the_dpo_home_page(app, db, client) -> None:  # noqa: ANN001
    dpo = make_dpo(db)
    services.save_breach(db, CLI, None, breach_data(aware_at=clock.now() - timedelta(hours=30)))
    db.commit()
    login(client, dpo)
    page = client.get("/").get_data(as_text=True)
    assert "Breaches: the 72-hour clock" in page
    assert "30 hours since awareness" in page
    assert "Alert: 24 hours." in page


def test_a_simulated_mass_export_opens_exactly_one_draft_breach(app, db) -> None:  # noqa: ANN001
    record(db, CLI, "records:patients:export", ("export", "E1"), row_count=50_000)
    db.commit()
    run_checks(db, CLI)
    db.commit()
    run_checks(db, CLI)  # the same alert is extended, never raised twice
    db.commit()
    drafts = services.items(db, RegisterKind.BREACH)
    assert len(drafts) == 1
    assert drafts[0].status == services.BreachStatus.DRAFT
    assert drafts[0].data["source"] == "audit:mass_export"
    assert drafts[0].data["nature"] == ["confidentiality"]


@pytest.mark.parametrize(("details", "drafts"), [
    ({"reason": "authority_request", "reason_ref": "ANSM-2026-14"}, 0),
    ({"reason": "authority_request"}, 1),
    ({}, 1),
])
def test_an_archive_read_without_a_reason_opens_a_draft_breach(app, db, details,  # noqa: ANN001
                                                                drafts) -> None:
    record(db, CLI, "retention:archive:read", ("retention_case", "R1"), **details)
    db.commit()
    run_checks(db, CLI)
    db.commit()
    found = services.items(db, RegisterKind.BREACH)
    assert len(found) == drafts
    if drafts:
        assert found[0].data["source"] == "audit:archive_without_reason"
        assert found[0].data["nature"] == ["confidentiality"]


def test_the_prescriber_letters_contain_only_their_own_cases(app, db) -> None:  # noqa: ANN001
    from tests.rights.helpers import register_patient

    install(db)
    a, b = establishment(db, TEST_FINESS, "CH A"), establishment(db, OTHER_FINESS, "CH B")
    doctor_a, doctor_b = make_doctor(db, a, "dr.martin"), make_doctor(db, b, "dr.bernard")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("tests.rights.helpers.PROTOCOL_KEY", "registers_fixture")
        mine = [register_patient(db, doctor_a, a, ("DUP", "JE")).case_number,
                register_patient(db, doctor_a, a, ("MAR", "PA")).case_number]
        theirs = [register_patient(db, doctor_b, b, ("BER", "LU")).case_number]
    breach = services.save_breach(db, CLI, None, breach_data(cases=[*mine, *theirs]))
    db.commit()
    letters, unknown = services.prescriber_letters(db, breach.item_no)
    assert unknown == []
    by_login = {letter.prescriber.login: letter for letter in letters}
    assert sorted(by_login["dr.martin"].cases) == sorted(mine)
    assert by_login["dr.bernard"].cases == theirs
    assert theirs[0] not in by_login["dr.martin"].body
    assert all(case not in by_login["dr.bernard"].body for case in mine)
    assert services.send_prescriber_letters(db, CLI, breach.item_no) == 2
    db.commit()
    assert services.send_prescriber_letters(db, CLI, breach.item_no) == 0  # no second copy
    db.commit()
    mails = outbox(app)
    assert sorted(m["To"] for m in mails) == sorted([doctor_a.email, doctor_b.email])
    for mail in mails:
        text = mail["Subject"] + "\n" + mail_body(mail)
        assert all(case not in text for case in [*mine, *theirs]), text
        assert "a letter awaits you in the portal" in mail["Subject"]
        assert "/registers/letters/" in text


def test_the_letter_page_shows_a_prescriber_only_his_own_cases(app, db) -> None:  # noqa: ANN001
    from tests.rights.helpers import register_patient

    install(db)
    a, b = establishment(db, TEST_FINESS, "CH A"), establishment(db, OTHER_FINESS, "CH B")
    doctor_a, doctor_b = make_doctor(db, a, "dr.martin"), make_doctor(db, b, "dr.bernard")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("tests.rights.helpers.PROTOCOL_KEY", "registers_fixture")
        mine = register_patient(db, doctor_a, a, ("DUP", "JE")).case_number
        theirs = register_patient(db, doctor_b, b, ("BER", "LU")).case_number
    breach = services.save_breach(db, CLI, None, breach_data(cases=[mine, theirs]))
    services.send_prescriber_letters(db, CLI, breach.item_no)
    db.commit()
    link = next(m for m in outbox(app) if m["To"] == doctor_a.email)
    path = "/registers/letters/" + mail_body(link).split("/registers/letters/")[1].split()[0]
    assert app.test_client().get(path).status_code in (302, 401)  # behind the login
    client = app.test_client()
    login(client, doctor_a)
    home = client.get("/").get_data(as_text=True)
    assert "1 letter from the data protection officer awaits you." in home
    response = client.get(path)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert f"Your patients concerned (case numbers): {mine}" in page
    assert theirs not in page
    listing = client.get("/registers/letters").get_data(as_text=True)
    assert path in listing
    other = app.test_client()
    login(other, doctor_b)
    assert other.get(path).status_code == 404  # another prescriber's letter
    own = other.get("/registers/letters").get_data(as_text=True)
    (their_path,) = {p for p in [path.rsplit("/", 1)[0] + f"/{n}" for n in (1, 2)]} - {path}
    assert their_path in own and path not in own
    assert mine not in other.get(their_path).get_data(as_text=True)


# --- the versions are append-only in the database ---------------------------------------------


def test_the_database_refuses_to_change_or_delete_a_version(app, db) -> None:  # noqa: ANN001
    from sqlalchemy import text
    from sqlalchemy.exc import DatabaseError

    services.save_processing(db, CLI, {"dpo_name": "First DPO"})
    services.save_processing(db, CLI, {"dpo_name": "Second DPO"})
    db.commit()
    for statement in ("UPDATE register_version SET status = 'forged' WHERE number = 1",
                      "UPDATE register_version SET author_label = 'x'",
                      "DELETE FROM register_version WHERE number = 1"):
        with pytest.raises(DatabaseError, match="register versions are append-only"):
            db.execute(text(statement))
        db.rollback()
    assert [v.data["dpo_name"] for v in services.history(db, RegisterKind.PROCESSING)] == [
        "Second DPO", "First DPO"]
    assert [v.status for v in services.history(db, RegisterKind.PROCESSING)] == [
        "conforming", "conforming"]


# --- processors, transfers and the DPIA -------------------------------------------------------


def test_moving_a_processor_outside_the_eu_changes_the_notices_and_marks_the_dpia(
        app, db) -> None:  # noqa: ANN001
    host = processor(db, "CloudCo", "DE")
    approved_dpia(db)
    assert services.dpia_state(db).status == services.DpiaStatus.APPROVED
    assert "No transfer outside the European Union" in transfer_paragraph(db, "en")
    with pytest.raises(services.RegisterRefused) as refused:
        processor(db, "CloudCo", "US", item_no=host.item_no)
    assert set(refused.value.problems) == {"mechanism"}
    processor(db, "CloudCo", "US", "scc", item_no=host.item_no)
    paragraph = str(transfer_paragraph(db, "en"))
    assert "CloudCo, United States" in paragraph
    assert "standard contractual clauses" in paragraph
    assert "CloudCo, États-Unis" in str(transfer_paragraph(db, "fr"))
    state = services.dpia_state(db)
    assert state.status == services.DpiaStatus.TO_REVIEW
    assert state.reasons == ["New transfer outside the EU: CloudCo in US."]
    approved_dpia(db)
    assert services.dpia_state(db).status == services.DpiaStatus.APPROVED


def test_a_new_processor_marks_the_dpia_to_review(app, db) -> None:  # noqa: ANN001
    install(db)
    approved_dpia(db)
    processor(db, "MailCo", "FR", role="mail")
    assert services.dpia_state(db).reasons == ["New processor MailCo (P1)."]


def test_a_protocol_version_adding_categories_waits_for_the_dpia_approval(
        app, db, runner, tmp_path) -> None:  # noqa: ANN001
    from portal.protocols.models import ProtocolVersion
    from portal.protocols.services import ReleaseBlocked, current_version

    install(db)
    approved_dpia(db)
    second = second_version_with_genetic_data(tmp_path)
    with pytest.raises(ReleaseBlocked, match=r"adds data categories \(genetic\)"):
        install(db, second)
    db.commit()  # as the command line does: keep why it was refused
    assert current_version(db, "registers_fixture").version_label == "1"
    state = services.dpia_state(db)
    assert state.status == services.DpiaStatus.TO_REVIEW
    assert state.reasons == ["Protocol registers_fixture 2 adds data categories: genetic; it is "
                             "put in force only once the impact assessment is approved again."]
    result = runner.invoke(args=["protocol", "install", str(second)])
    assert result.exit_code == 1
    assert "is not put in force" in result.output and "genetic" in result.output
    assert "Traceback" not in result.output
    assert services.dpia_state(db).reasons == state.reasons  # the same reason, once
    assert len(db.scalars(select(ProtocolVersion)).all()) == 1
    approved_dpia(db)
    install(db, second)
    assert current_version(db, "registers_fixture").version_label == "2"
    assert services.dpia_state(db).status == services.DpiaStatus.APPROVED


def test_without_an_approved_dpia_a_new_version_goes_in_force(app, db, tmp_path) -> None:  # noqa: ANN001
    from portal.protocols.services import current_version

    install(db)
    install(db, second_version_with_genetic_data(tmp_path))
    assert current_version(db, "registers_fixture").version_label == "2"


def test_approving_the_dpia_needs_every_section(app, db) -> None:  # noqa: ANN001
    with pytest.raises(services.RegisterRefused) as refused:
        services.save_dpia(db, CLI, {"description": "only (a)"}, approve=True)
    assert {"necessity", "risks", "measures", "dpo_advice", "signed_off_by",
            "next_review_at"} <= set(refused.value.problems)


# --- pages ----------------------------------------------------------------------------------


def test_the_dpo_reaches_every_register_page_and_others_are_refused(app, db, client) -> None:  # noqa: ANN001
    dpo = make_dpo(db)
    processor(db)
    services.save_breach(db, CLI, None, breach_data())
    db.commit()
    login(client, dpo)
    for path in ("/registers/", "/registers/processing", "/registers/breaches",
                 "/registers/breaches/new", "/registers/breaches/1",
                 "/registers/breaches/1/letters", "/registers/processors",
                 "/registers/processors/new", "/registers/processors/1", "/registers/dpia",
                 "/registers/breach/1/history", "/registers/breach/1/v/1"):
        assert client.get(path).status_code == 200, path
    response = client.get("/registers/export/breaches.pdf")
    assert response.status_code == 200 and response.data.startswith(b"%PDF")
    assert client.get("/registers/export/nothing.csv").status_code == 404
    other = app.test_client()
    login(other, make_doctor(db, establishment(db, TEST_FINESS, "CH"), "dr.martin"))
    assert other.get("/registers/").status_code == 403


def test_a_late_breach_typed_in_the_form_without_a_reason_shows_the_error(
        app, db, client) -> None:  # noqa: ANN001
    dpo = make_dpo(db)
    login(client, dpo)
    aware = (clock.now() - timedelta(hours=73)).astimezone(
        __import__("zoneinfo").ZoneInfo(app.config["TIMEZONE"]))
    response = client.post("/registers/breaches/new", data={
        "title": "Stolen backup", "aware_at": aware.strftime("%Y-%m-%dT%H:%M"),
        "nature": ["availability"], "risk": "high", "status": "open"})
    assert response.status_code == 200
    assert "More than 72 hours have passed since awareness" in response.get_data(as_text=True)
    assert services.items(db, RegisterKind.BREACH) == []


def test_a_published_notice_lists_the_transfers_of_the_register(app, db) -> None:  # noqa: ANN001
    from portal.notices.catalog import Audience
    from tests.notices.conftest import publish_notice

    processor(db, "CloudCo", "US", "scc")
    published = publish_notice(db, Audience.PATIENT, transfers_outside_eu="none",
                               transfers=[])
    assert "CloudCo, United States" in published.body_en
    assert published.slots["transfers"] == [
        {"recipient": "CloudCo", "country": "US", "mechanism": "scc"}]
