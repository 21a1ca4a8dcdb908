"""What people type about a request is never kept in clear, and a disguised NIR is refused."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from portal import clock
from portal.db import Base
from portal.rights import references, services
from portal.rights.models import RightsRequest, RightsRequestDetails
from tests.helpers_auth import login

NIR = "185057800608491"
#: the same NIR as people (or a pasted document) may write it
DISGUISED = {
    "full-width digits": "".join(chr(ord(c) + 0xFEE0) for c in NIR),
    "zero-width spaces": "\u200b".join(NIR),
    "Arabic-Indic digits": "".join(chr(0x660 + int(c)) for c in NIR),
    "underscores": "1_85_05_78_006_084_91",
    "slashes": "1/85/05/78/006/084/91",
    "narrow no-break spaces": "1\u202f85\u202f05\u202f78\u202f006\u202f084\u202f91",
    "word joiners and full-width": "\u2060".join(chr(ord(c) + 0xFEE0) for c in NIR),
}


@pytest.mark.parametrize("disguise", sorted(DISGUISED))
def test_a_disguised_nir_is_refused_in_every_typed_field(disguise) -> None:  # noqa: ANN001
    value = DISGUISED[disguise]
    assert references.holds_identifier(value)
    assert references.holds_identifier(value, reference=False)


def test_ordinary_references_pass() -> None:
    for value in ("7K3M-9QXA", "COURRIER-2026-114", "jean.dupont@example.org",
                  "12 rue de la Paix 75012 Paris, 06 12 34 56 78", "Dr Marie Curie, CHU de Lyon"):
        assert not references.holds_identifier(value, reference=False), value
    assert not references.holds_identifier("7K3M-9QXA")


def test_full_width_and_zero_width_case_numbers_are_the_same_case() -> None:
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in "7k3m9qxa")
    assert references.clean_case_reference(full_width) == "7K3M-9QXA"
    assert references.clean_case_reference("7K3M\u200b-\u200b9QXA") == "7K3M-9QXA"
    assert references.clean_case_reference(" 7k3m 9qxa ") == "7K3M-9QXA"


@pytest.fixture
def as_doctor(app, doctor):  # noqa: ANN001, ANN201
    client = app.test_client()
    login(client, doctor)
    return client


@pytest.fixture
def as_dpo(app, dpo):  # noqa: ANN001, ANN201
    client = app.test_client()
    login(client, dpo)
    return client


@pytest.mark.parametrize("disguise", ["full-width digits", "zero-width spaces", "slashes"])
def test_the_prescribers_form_refuses_a_disguised_nir(as_doctor, db, disguise) -> None:  # noqa: ANN001
    response = as_doctor.post("/rights/new?lang=en", data={
        "subject": "patient", "case_number": DISGUISED[disguise], "kind": "access"})
    assert response.status_code == 200
    assert "social security number" in response.text
    assert db.scalars(select(RightsRequest)).all() == []


def _record_form(doctor: Any, **changes: str) -> dict[str, str]:
    data = {"kind": "access", "requester_type": "patient_direct", "channel": "post",
            "received_on": clock.now().date().isoformat(), "case_number": "ZQ7W-4RTY",
            "via_professional": doctor.login, "via_establishment": "", "relative_basis": "",
            "correspondence_ref": "COURRIER-2026-114", "doctor_rpps": "", "doctor_name": ""}
    data.update(changes)
    return data


@pytest.mark.parametrize("field", ["correspondence_ref", "case_number"])
def test_the_dpos_record_form_refuses_a_nir_in_any_reference(as_dpo, db, doctor,  # noqa: ANN001
                                                             field) -> None:
    for value in (NIR, DISGUISED["full-width digits"]):
        response = as_dpo.post("/rights/dpo/record?lang=en",
                               data=_record_form(doctor, **{field: value}))
        assert response.status_code == 200
        assert "social security number" in response.text
    assert db.scalars(select(RightsRequest)).all() == []


def _raw_database_text(session: Session) -> str:
    """Every value of every table, as the database holds it (bytes read as Latin-1)."""
    parts = []
    for table in Base.metadata.sorted_tables:
        for row in session.execute(text(f'SELECT * FROM "{table.name}"')):
            for value in row:
                if isinstance(value, bytes | memoryview):
                    parts.append(bytes(value).decode("latin-1"))
                elif value is not None:
                    parts.append(str(value))
    return "\n".join(parts)


def test_no_typed_reference_is_stored_in_clear(as_doctor, as_dpo, db, doctor) -> None:
    typed_case = "QX4K-7MWP"  # no patient has it: nothing else in the database holds it
    response = as_doctor.post("/rights/new", data={
        "subject": "patient", "case_number": typed_case.lower(), "kind": "access"})
    assert response.status_code == 302
    response = as_dpo.post("/rights/dpo/record", data=_record_form(
        doctor, case_number="WR9T-3KZD", correspondence_ref="REG-LETTRE-58213"))
    assert response.status_code == 302
    db.expire_all()
    raw = _raw_database_text(db)
    for typed in (typed_case, "QX4K7MWP", "WR9T-3KZD", "WR9T3KZD", "REG-LETTRE-58213"):
        assert typed not in raw and typed.lower() not in raw, typed
    # The DPO still reads them, from the sealed details.
    letter = db.scalar(select(RightsRequest).where(RightsRequest.channel == "post"))
    assert references.read_details(db, letter) == {
        "case_reference": "WR9T-3KZD", "correspondence_ref": "REG-LETTRE-58213"}
    page = as_dpo.get(f"/rights/r/{letter.handle}?lang=en")
    assert "REG-LETTRE-58213" in page.text and "WR9T-3KZD" in page.text
    # ... and requests naming the same case are matched by the blind index only.
    again = services.submit_request(db, doctor, kind="rectification",
                                    case_number="qx4k 7mwp")
    first = db.scalar(select(RightsRequest).where(RightsRequest.id != again.id,
                                                  RightsRequest.channel == "portal"))
    assert again.case_index == first.case_index and len(again.case_index) == 64


def test_the_doctor_does_not_see_their_typed_case_number_echoed_back(as_doctor, db) -> None:
    as_doctor.post("/rights/new", data={"subject": "patient", "case_number": "QX4K-7MWP",
                                        "kind": "access"})
    listing = as_doctor.get("/rights/?lang=en")
    assert "QX4K-7MWP" not in listing.text
    assert "the case is being checked" in listing.text


def test_sealed_details_moved_to_another_request_do_not_open(db, doctor) -> None:
    from portal.sealing import IntegrityCheckFailed

    first = services.submit_request(db, doctor, kind="access", case_number="QX4K-7MWP")
    second = services.submit_request(db, doctor, kind="access", case_number="WR9T-3KZD")
    db.flush()
    a, b = (db.scalar(select(RightsRequestDetails).where(RightsRequestDetails.request_id == r.id))
            for r in (first, second))
    a.payload, b.payload = b.payload, a.payload
    with pytest.raises(IntegrityCheckFailed):
        references.read_details(db, first)
