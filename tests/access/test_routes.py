"""The administration pages, as an administrator and as others see them."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal import clock
from portal.access import services
from portal.access.models import AccessGrant, Category, Establishment, GrantStatus, Scope
from portal.audit.models import AuditEvent
from portal.permissions import Role
from tests.access.helpers import FINESS_B, grant, make_user
from tests.access.login import log_in


@pytest.fixture
def as_admin(app, db, admin):  # noqa: ANN201
    client = app.test_client()
    log_in(client, db, admin)
    return client


def _day(offset: int) -> str:
    return (clock.now() + timedelta(days=offset)).date().isoformat()


def test_an_administrator_registers_an_establishment(as_admin, db) -> None:
    page = as_admin.get("/access/establishments")
    assert page.status_code == 200
    assert "Centre hospitalier" not in page.text
    response = as_admin.post("/access/establishments", data={
        "finess": "750712184", "name": "Centre hospitalier Exemple", "city": "Paris"})
    assert response.status_code == 302
    page = as_admin.get(response.headers["Location"])
    assert "Centre hospitalier Exemple" in page.text and "750712184" in page.text


def test_an_invalid_finess_is_shown_on_the_form(as_admin, db) -> None:
    response = as_admin.post("/access/establishments", data={"finess": "750712185",
                                                             "name": "Hôpital"})
    assert response.status_code == 400
    assert "This FINESS number is not valid" in response.text
    assert db.scalars(select(Establishment)).all() == []


def test_members_are_added_by_login(as_admin, db, establishment) -> None:
    doctor = make_user(db, "dr.martin")
    db.commit()
    url = f"/access/establishments/{establishment.id}"
    assert as_admin.post(url, data={"login": "nobody"}).status_code == 400
    assert as_admin.post(url, data={"login": "DR.MARTIN"}).status_code == 302
    page = as_admin.get(url)
    assert doctor.full_name in page.text
    again = as_admin.post(url, data={"login": "dr.martin"})
    assert again.status_code == 400 and "already a member" in again.text


def test_a_grant_is_requested_through_the_form(as_admin, db) -> None:
    person = make_user(db)
    db.commit()
    url = f"/access/people/{person.id}/grants/new"
    assert as_admin.get(url).status_code == 200
    data = {"role": "pharmacovigilance", "scope": "pseudonymised", "category": "health",
            "valid_until": _day(366)}
    refused = as_admin.post(url, data=data)
    assert refused.status_code == 400
    assert "A grant lasts at most 365 days" in refused.text
    data["valid_until"] = _day(200)
    assert as_admin.post(url, data=data).status_code == 302
    made = db.scalars(select(AccessGrant).where(AccessGrant.user_id == person.id)).one()
    assert (made.role, made.status) == ("pharmacovigilance", "active")
    page = as_admin.get(f"/access/people/{person.id}")
    assert "Pharmacovigilance" in page.text and "Pseudonymised records" in page.text


def test_an_auditor_grant_without_motivation_is_refused_on_the_form(as_admin, db) -> None:
    person = make_user(db)
    db.commit()
    response = as_admin.post(f"/access/people/{person.id}/grants/new", data={
        "role": "auditor", "scope": "pseudonymised", "category": "health",
        "valid_until": _day(10)})
    assert response.status_code == 400
    assert "Auditor access needs a motivation" in response.text


def test_maker_checker_on_the_pages(app, db, admin, admin2, as_admin) -> None:
    person = make_user(db)
    db.commit()
    as_admin.post(f"/access/people/{person.id}/grants/new", data={
        "role": "dpo", "scope": "identifying", "category": "health", "valid_until": _day(100)})
    made = db.scalars(select(AccessGrant).where(AccessGrant.user_id == person.id)).one()
    assert made.status == GrantStatus.PENDING_APPROVAL
    page = as_admin.get("/access/people")
    assert "Another administrator must approve it." in page.text
    assert f"/access/grants/{made.id}/approve" not in page.text
    assert as_admin.post(f"/access/grants/{made.id}/approve").status_code == 403
    db.refresh(made)
    assert made.status == GrantStatus.PENDING_APPROVAL

    checker = app.test_client()
    log_in(checker, db, admin2)
    page = checker.get("/access/people")
    assert f"/access/grants/{made.id}/approve" in page.text
    assert checker.post(f"/access/grants/{made.id}/approve",
                        data={"back": "people"}).status_code == 302
    db.refresh(made)
    assert (made.status, made.approved_by_id) == (GrantStatus.ACTIVE, admin2.id)


def test_withdrawal_refuses_the_person_s_next_request(app, db, as_admin) -> None:
    person = make_user(db)
    made = grant(db, person, Role.PHARMACOVIGILANCE)
    db.commit()
    theirs = app.test_client()
    log_in(theirs, db, person)
    assert theirs.get("/access/people").status_code == 403  # logged in, not an administrator
    response = as_admin.post(f"/access/grants/{made.id}/withdraw",
                             data={"reason": "left_organisation"})
    assert response.status_code == 302
    after = theirs.get("/access/people")
    # The session is gone: back to the login page, not even a 403.
    assert after.status_code in (302, 303) and "/login" in after.headers["Location"]


def test_a_withdrawal_without_reason_is_a_400(as_admin, db) -> None:
    made = grant(db, make_user(db), Role.PHARMACOVIGILANCE)
    db.commit()
    assert as_admin.post(f"/access/grants/{made.id}/withdraw").status_code == 400
    db.refresh(made)
    assert made.status == GrantStatus.ACTIVE


def test_unknown_grant_is_a_404(as_admin) -> None:
    assert as_admin.post("/access/grants/987654/withdraw",
                         data={"reason": "other"}).status_code == 404
    assert as_admin.get("/access/people/987654").status_code == 404


def test_the_review_page_groups_by_manager_and_records_decisions(app, db, admin, admin2) -> None:
    start = clock.now()
    with clock.frozen(start) as frozen:
        first = grant(db, make_user(db), Role.PHARMACOVIGILANCE, actor=admin,
                      valid_from=start + timedelta(days=100), days=365)
        second = grant(db, make_user(db), Role.MEDICAL_AFFAIRS, Scope.AGGREGATED, actor=admin2,
                       valid_from=start + timedelta(days=100), days=365)
        db.commit()
        frozen.tick(timedelta(days=370))
        reviewer = make_user(db, "carla.review")
        grant(db, reviewer, Role.ADMINISTRATOR, Scope.AGGREGATED, Category.OTHER)
        for person in (first.user, second.user):
            person.last_login_at = clock.now()
        db.commit()
        client = app.test_client()
        log_in(client, db, reviewer)
        page = client.get("/access/review")
        assert page.status_code == 200
        # Each grant's number in its own cell (a bare "#7" could be part of a colour or a link).
        assert page.text.index(f"Managed by {admin.full_name}") < page.text.index(
            f"<td>#{first.id}</td>") < page.text.index(f"Managed by {admin2.full_name}") < \
            page.text.index(f"<td>#{second.id}</td>")
        exported = client.get("/access/review.csv")
        assert exported.mimetype == "text/csv"
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert [(r["manager_login"], r["grant_id"]) for r in rows] == [
            ("alice.admin", str(first.id)), ("bruno.admin", str(second.id))]
        assert client.post(f"/access/review/{first.id}/keep").status_code == 302
        assert client.post(f"/access/review/{second.id}/revoke").status_code == 302
        db.expire_all()
        assert (first.last_review_decision, first.last_reviewed_by_id) == ("keep", reviewer.id)
        assert (second.status, second.last_review_decision) == (GrantStatus.WITHDRAWN, "revoke")
        assert "No grant is due for review." in client.get("/access/review").text
        actions = list(db.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))
        assert actions[-3:] == ["access:review:export", "access:grant:review",
                                "access:grant:review"]
        export = db.scalars(select(AuditEvent).where(
            AuditEvent.action == "access:review:export")).one()
        # The audit area counts exported rows by this detail.
        assert export.details["row_count"] == 2


def test_a_review_change_narrows_the_grant(app, db, admin, admin2, establishment) -> None:
    from tests.access.helpers import make_establishment

    other = make_establishment(db, FINESS_B, "CHU Autre")
    doctor = make_user(db)
    for e in (establishment, other):
        services.add_member(db, admin, doctor, e)
    made = grant(db, doctor, Role.PRESCRIBER, Scope.IDENTIFYING, actor=admin,
                 establishments=(establishment, other), approver=admin2)
    db.commit()
    client = app.test_client()
    log_in(client, db, admin2)
    url = f"/access/review/{made.id}/change"
    form = client.get(url)
    assert form.status_code == 200 and "CHU Autre" in form.text
    widened = client.post(url, data={"scope": "identifying", "category": "health",
                                     "valid_until": _day(200), "establishments": [other.id]})
    assert widened.status_code == 400 and "cannot extend" in widened.text
    response = client.post(url, data={"scope": "pseudonymised", "category": "health",
                                      "valid_until": _day(30), "establishments": [other.id]})
    assert response.status_code == 302
    db.expire_all()
    assert (made.scope, [e.id for e in made.establishments]) == ("pseudonymised", [other.id])


@pytest.mark.parametrize("path", ["/access/establishments", "/access/people",
                                  "/access/review", "/access/review.csv"])
def test_people_without_the_permissions_are_refused(app, db, path) -> None:
    supply = make_user(db)
    grant(db, supply, Role.SUPPLY, Scope.AGGREGATED, Category.OTHER)
    db.commit()
    client = app.test_client()
    log_in(client, db, supply)
    assert client.get(path).status_code == 403
    denied = db.scalars(select(AuditEvent).where(AuditEvent.outcome == "denied")).all()
    assert len(denied) == 1 and denied[0].actor_id == supply.id


def test_the_menu_shows_the_access_pages_to_administrators_only(app, db, as_admin) -> None:
    page = as_admin.get("/access/people")
    assert 'href="/access/establishments"' in page.text
    assert 'href="/access/review"' in page.text
    supply = make_user(db)
    grant(db, supply, Role.SUPPLY, Scope.AGGREGATED, Category.OTHER)
    db.commit()
    client = app.test_client()
    log_in(client, db, supply)
    assert 'href="/access/people"' not in client.get("/").text


def test_withdrawal_ends_a_session_opened_through_the_real_login(app, db, as_admin) -> None:
    from tests.helpers_auth import login
    from tests.helpers_auth import make_user as make_account

    person = make_account(db, "r.vigie", role=Role.PHARMACOVIGILANCE)
    client = app.test_client()
    login(client, person)
    before = client.get("/account")
    assert before.status_code in (200, 302)
    assert "/login" not in before.headers.get("Location", "")
    (made,) = services.grants_of(db, person)
    assert as_admin.post(f"/access/grants/{made.id}/withdraw",
                         data={"reason": "security_incident"}).status_code == 302
    after = client.get("/account")
    assert after.status_code == 302 and "/login" in after.headers["Location"]


def test_people_search_and_who_asked(app, db, admin, admin2, as_admin) -> None:
    make_user(db, "jean_dupont")
    other = make_user(db, "jeanxdupont")
    grant(db, other, Role.DPO, Scope.IDENTIFYING, Category.HEALTH, actor=admin2)
    db.commit()
    page = as_admin.post("/access/people", data={"q": "jean_"})  # searched by POST only
    assert "jean_dupont" in page.text and "<td>jeanxdupont</td>" not in page.text
    # The pending request names its maker.
    assert f"<td>{admin2.full_name}</td>" in page.text
