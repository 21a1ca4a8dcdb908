"""`portal access ...` through the CLI runner: the same services, audited as the CLI operator."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal import clock
from portal.access.models import AccessGrant, Establishment, GrantStatus
from portal.access.policy import permissions_for
from portal.accounts.models import UserSession
from portal.audit.models import AuditEvent
from portal.permissions import Permission, Role
from tests.access.helpers import grant, make_user


def _day(offset: int) -> str:
    return (clock.now() + timedelta(days=offset)).date().isoformat()


def _grants(db, user):
    db.expire_all()
    return db.scalars(select(AccessGrant).where(AccessGrant.user_id == user.id)).all()


def test_the_first_administrator_gets_their_grant_on_the_command_line(runner, db) -> None:
    first = make_user(db, "Zoe.Admin")
    db.commit()
    result = runner.invoke(args=["access", "grant", "zoe.admin", "administrator",
                                 "--scope", "aggregated", "--category", "other",
                                 "--until", _day(300)])
    assert result.exit_code == 0, result.output
    assert "administrator" in result.output and "active" in result.output
    assert Permission.GRANT_ADMIN in permissions_for(db, first)
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "access:grant:request")).one()
    assert event.actor_kind == "cli"


def test_a_grant_longer_than_365_days_is_refused_on_the_command_line(runner, db) -> None:
    person = make_user(db, "paul")
    db.commit()
    result = runner.invoke(args=["access", "grant", "paul", "pharmacovigilance", "--scope",
                                 "pseudonymised", "--category", "health", "--until", _day(366)])
    assert result.exit_code == 1
    assert "A grant lasts at most 365 days" in result.output
    assert _grants(db, person) == []


def test_establishment_member_and_healthcare_grant(runner, db, admin) -> None:
    doctor = make_user(db, "dr.house")
    db.commit()
    bad = runner.invoke(args=["access", "establishment", "add", "123456789", "Nowhere"])
    assert bad.exit_code == 1 and "FINESS" in bad.output
    ok = runner.invoke(args=["access", "establishment", "add", "750712184",
                             "Hôpital Exemple", "--city", "Paris"])
    assert ok.exit_code == 0, ok.output
    assert db.scalars(select(Establishment.name)).all() == ["Hôpital Exemple"]
    assert runner.invoke(args=["access", "member", "dr.house", "750712184"]).exit_code == 0
    listing = runner.invoke(args=["access", "establishment", "list"])
    assert "750712184  Hôpital Exemple  Paris  members=1" in listing.output

    pending = runner.invoke(args=["access", "grant", "dr.house", "prescriber", "--scope",
                                  "identifying", "--category", "health", "--until", _day(100),
                                  "--establishment", "750712184"])
    assert pending.exit_code == 0, pending.output
    assert "Waiting for a second administrator" in pending.output
    (made,) = _grants(db, doctor)
    assert made.status == GrantStatus.PENDING_APPROVAL
    self_approval = runner.invoke(args=["access", "approve", str(made.id), "--by", "dr.house"])
    assert self_approval.exit_code == 1
    approved = runner.invoke(args=["access", "approve", str(made.id), "--by", "alice.admin"])
    assert approved.exit_code == 0, approved.output
    (made,) = _grants(db, doctor)
    assert (made.status, made.approved_by_id) == (GrantStatus.ACTIVE, admin.id)
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "access:grant:approve")).one()
    assert (event.actor_label, event.details["via"]) == ("alice.admin", "cli")


def test_approved_by_on_the_grant_command(runner, db, admin) -> None:
    person = make_user(db, "dana.dpo")
    db.commit()
    result = runner.invoke(args=["access", "grant", "dana.dpo", "dpo", "--scope", "identifying",
                                 "--category", "health", "--until", _day(100),
                                 "--approved-by", "alice.admin"])
    assert result.exit_code == 0, result.output
    assert [g.status for g in _grants(db, person)] == ["active"]
    not_needed = runner.invoke(args=["access", "grant", "dana.dpo", "dpo", "--scope",
                                     "pseudonymised", "--category", "health", "--until",
                                     _day(100), "--approved-by", "alice.admin"])
    assert not_needed.exit_code == 1 and "only for identifying health data" in not_needed.output
    assert len(_grants(db, person)) == 1


def test_auditor_on_the_command_line(runner, db) -> None:
    make_user(db, "audrey")
    db.commit()
    base = ["access", "grant", "audrey", "auditor", "--scope", "pseudonymised", "--category",
            "health", "--until", _day(20)]
    missing = runner.invoke(args=base)
    assert missing.exit_code == 1 and "motivation" in missing.output
    ok = runner.invoke(args=[*base, "--motivation", "internal_procedures", "--reference",
                             "AUD-2026-07"])
    assert ok.exit_code == 0, ok.output
    assert "motivation=internal_procedures:AUD-2026-07" in ok.output


def test_revoke_ends_sessions_and_list_shows_it(runner, db) -> None:
    person = make_user(db, "pv.person")
    made = grant(db, person, Role.PHARMACOVIGILANCE)
    db.add(UserSession(id_hash="b" * 64, user_id=person.id, mfa_at=clock.now()))
    db.commit()
    listing = runner.invoke(args=["access", "list", "--login", "pv.person"])
    assert f"#{made.id}  pv.person  pharmacovigilance" in listing.output
    no_reason = runner.invoke(args=["access", "revoke", str(made.id)])
    assert no_reason.exit_code == 2
    result = runner.invoke(args=["access", "revoke", str(made.id), "--reason",
                                 "left_organisation"])
    assert result.exit_code == 0, result.output
    db.expire_all()
    assert db.get(UserSession, "b" * 64).revoked_at is not None
    assert "No grant." in runner.invoke(args=["access", "list", "--login", "pv.person"]).output
    assert "withdrawn" in runner.invoke(args=["access", "list", "--all"]).output
    assert runner.invoke(args=["access", "revoke", "99999", "--reason", "other"]).exit_code == 1


def test_review_and_expire_commands(runner, db, admin, tmp_path) -> None:
    start = clock.now()
    with clock.frozen(start) as frozen:
        person = make_user(db, "long.grant")
        made = grant(db, person, Role.PHARMACOVIGILANCE, actor=admin,
                     valid_from=start + timedelta(days=100), days=365)
        db.commit()
        assert "No grant is due for review." in runner.invoke(args=["access", "review"]).output
        frozen.tick(timedelta(days=366))
        target = tmp_path / "due.csv"
        result = runner.invoke(args=["access", "review", "--csv", str(target)])
        assert result.exit_code == 0, result.output
        assert f"Manager: alice.admin ({admin.full_name})" in result.output
        assert f"#{made.id}  long.grant" in result.output
        lines = target.read_text().splitlines()
        assert lines[0].startswith("manager_login,manager_name,grant_id")
        assert lines[1].startswith(f"alice.admin,{admin.full_name},{made.id},long.grant")
        frozen.tick(timedelta(days=30))
        expired = runner.invoke(args=["access", "expire"])
        assert expired.exit_code == 0, expired.output
        # Everyone is 396 days without a login here: their accounts are disabled too.
        assert "suspended for overdue review: 1" in expired.output
        assert "disabled accounts: 2" in expired.output
    db.expire_all()
    assert db.get(AccessGrant, made.id).status == GrantStatus.SUSPENDED
    actors = {e.actor_kind for e in db.scalars(select(AuditEvent).where(
        AuditEvent.action.in_(["access:grant:suspend", "access:review:export"])))}
    assert actors == {"cli"}
