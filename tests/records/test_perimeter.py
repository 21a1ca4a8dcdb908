"""Who sees what: establishments, scopes, aggregated-only, and every read logged."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.access.models import Scope
from portal.audit.models import AuditEvent
from portal.permissions import Role
from portal.records.models import Submission
from tests.helpers_auth import login
from tests.records import helpers


@pytest.fixture
def filled(db, prescriber, patient):  # noqa: ANN001, ANN201
    """The patient of site A with an access form (letters, birth), initiation and follow-up."""
    access = helpers.submit(db, prescriber, patient, "access")
    helpers.submit(db, prescriber, patient, "initiation")
    follow_up = helpers.submit(db, prescriber, patient, "follow_up")
    return {"patient": patient, "access": access, "follow_up": follow_up}


def _routes(filled) -> list[tuple[str, str]]:  # noqa: ANN001
    patient, access = filled["patient"].handle, filled["access"].handle
    return [
        ("GET", f"/patients/{patient}"),
        ("GET", f"/patients/{patient}/forms/follow_up"),
        ("POST", f"/patients/{patient}/forms/follow_up"),
        ("GET", f"/submissions/{access}"),
        ("GET", f"/submissions/{access}/edit"),
        ("POST", f"/submissions/{access}/edit"),
        ("GET", f"/submissions/{access}/history"),
        ("POST", f"/patients/{patient}/limit"),
        ("POST", f"/patients/{patient}/lift"),
    ]


def test_another_establishment_is_refused_on_every_record_route(db, client, filled,
                                                                prescriber_b):
    login(client, prescriber_b)
    for method, path in _routes(filled):
        response = client.open(path, method=method, data={"token": "t" * 32, "action": "submit"})
        assert response.status_code == 403, (method, path, response.status_code)
        assert "ZQX-WK" not in response.get_data(as_text=True)
    denied = db.scalars(select(AuditEvent).where(AuditEvent.outcome == "denied")).all()
    # Each refusal is logged (by the records policy, or by the permission check).
    assert len(denied) >= len(_routes(filled))
    assert any(e.action == "records:patient:read" and
               e.target_ref == filled["patient"].reference for e in denied)
    listing = client.get("/patients").get_data(as_text=True)
    assert filled["patient"].case_number not in listing


def test_pseudonymised_staff_never_see_letters_or_birth(db, client, filled, pharmacovigilance):
    login(client, pharmacovigilance)
    pages = [
        client.get("/patients"),
        client.get(f"/patients/{filled['patient'].handle}"),
        client.get(f"/submissions/{filled['access'].handle}"),
        client.get(f"/submissions/{filled['access'].handle}/history"),
        client.get(f"/submissions/{filled['follow_up'].handle}"),
    ]
    for response in pages:
        html = response.get_data(as_text=True)
        assert response.status_code == 200
        for secret in ("ZQX-WK", ">ZQX<", ">WK<", "1961-04", "Born"):
            assert secret not in html, (secret, response.request.path)
    access_page = pages[2].get_data(as_text=True)
    assert "Hidden: identification data" in access_page
    assert helpers.DISTINCTIVE["aac_ref"] in access_page  # the health data itself is shown
    assert filled["patient"].case_number in pages[1].get_data(as_text=True)


def test_identifying_scope_sees_the_letters(db, client, filled, prescriber):
    login(client, prescriber)
    html = client.get(f"/patients/{filled['patient'].handle}").get_data(as_text=True)
    assert "ZQX-WK" in html and "1961-04" in html


def test_pseudonymised_writer_cannot_open_a_form_holding_identifiers(db, client, filled):
    pharmacist = helpers.lab_person(db, "r.pharma", Role.PHARMACIST_IN_CHARGE)
    login(client, pharmacist)
    response = client.get(f"/submissions/{filled['access'].handle}/edit")
    assert response.status_code == 403
    assert "ZQX-WK" not in response.get_data(as_text=True)


def test_aggregated_only_never_reaches_a_record(db, client, filled, aggregated):
    login(client, aggregated)
    for path in ("/patients", f"/patients/{filled['patient'].handle}",
                 f"/submissions/{filled['follow_up'].handle}", "/exports"):
        assert client.get(path).status_code == 403, path


def test_every_read_is_logged_once_without_data(db, client, filled, prescriber):
    login(client, prescriber)
    before = db.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1))
    client.get(f"/patients/{filled['patient'].handle}")
    entries = db.scalars(select(AuditEvent).where(AuditEvent.seq > before)).all()
    reads = [e for e in entries if e.action == "records:patient:read"]
    assert len(reads) == 1
    assert reads[0].target_type == "patient"
    assert reads[0].target_ref == filled["patient"].reference
    assert reads[0].actor_id == prescriber.id and reads[0].session_hash
    client.get(f"/submissions/{filled['follow_up'].handle}")
    read = db.scalar(select(AuditEvent).where(AuditEvent.action == "records:submission:read"))
    assert read.target_type == "submission"
    assert read.details["patient"] == filled["patient"].reference
    for entry in db.scalars(select(AuditEvent)):
        text = str(entry.details) + str(entry.target_ref)
        for value in helpers.DISTINCTIVE.values():
            if len(value) >= 5:  # "77" could be part of a timestamp
                assert value not in text


def test_a_read_stays_logged_when_a_savepoint_after_it_rolls_back(db, filled, prescriber):
    """A read is written at commit, and a savepoint that failed later in the same request
    does not take it away."""
    from portal.records.policy import patient_for

    before = db.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1))
    patient_for(db, prescriber, filled["patient"].handle)
    db.begin_nested().rollback()
    db.commit()
    reads = db.scalars(select(AuditEvent).where(AuditEvent.seq > before,
                                                AuditEvent.action == "records:patient:read"))
    assert [e.target_ref for e in reads] == [filled["patient"].reference]


def test_a_read_stays_logged_when_the_whole_transaction_rolls_back(db, filled, prescriber):
    """The request failed after the read: the read happened, its entry is written on its own
    once the transaction has ended."""
    from portal.records.policy import patient_for

    before = db.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1))
    patient_for(db, prescriber, filled["patient"].handle)
    db.rollback()
    reads = list(db.scalars(select(AuditEvent).where(
        AuditEvent.seq > before, AuditEvent.action == "records:patient:read")))
    assert [(e.target_ref, e.actor_id) for e in reads] == [
        (filled["patient"].reference, prescriber.id)]
    db.commit()
    assert db.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1)) == \
        before + 1


def test_the_policy_fails_closed(db, client, filled, prescriber, monkeypatch):
    login(client, prescriber)

    def broken(*_args, **_kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("policy store unavailable")

    monkeypatch.setattr("portal.records.policy.perimeter_for", broken)
    response = client.get(f"/patients/{filled['patient'].handle}")
    assert response.status_code == 403
    assert "ZQX-WK" not in response.get_data(as_text=True)


def test_a_healthcare_grant_in_pseudonymised_scope_hides_identity(db, client, site_a, filled):
    nurse = helpers.professional(db, "n.infirm", site_a, Role.HEALTHCARE_STAFF,
                                 Scope.PSEUDONYMISED)
    login(client, nurse)
    html = client.get(f"/patients/{filled['patient'].handle}").get_data(as_text=True)
    assert filled["patient"].case_number in html and "ZQX-WK" not in html
    assert db.scalar(select(Submission).where(Submission.form_key == "access")) is not None


def test_only_the_cli_and_system_jobs_act_without_a_grant(db, protocol):
    from portal.audit.services import Actor
    from portal.errors import Forbidden
    from portal.records.policy import view_for

    assert view_for(db, Actor("cli", "cli:tester")).shows_identity
    with pytest.raises(Forbidden):
        view_for(db, Actor("anonymous", "anonymous"))
    with pytest.raises(Forbidden):
        view_for(db, None)
