"""Notification mails carry no health data; requests are purged after the retention period."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from portal import clock
from portal.audit.models import AuditEvent
from portal.rights import handling, retention, services
from portal.rights.models import (
    ExtensionReason,
    RequestKind,
    RightsAnswer,
    RightsRequest,
    RightsRequestEvent,
)
from tests.helpers_auth import mail_body, outbox
from tests.rights.helpers import (
    at,
)


def test_the_requester_is_mailed_without_health_data(app, db, doctor, dpo, patient) -> None:
    request = services.submit_request(db, doctor, kind=RequestKind.ACCESS,
                                      case_number=patient.case_number)
    services.extend(db, dpo, request, months=2, reason=ExtensionReason.COMPLEXITY)
    handling.answer_access(db, dpo, request)
    db.commit()
    mails = [m for m in outbox(app) if m["To"] == doctor.email]
    assert len(mails) == 2
    extended, answered = mails
    assert request.number in extended["Subject"] and request.number in answered["Subject"]
    body = mail_body(answered)
    assert f"/rights/r/{request.handle}" in body
    for mail in mails:
        text = mail["Subject"] + mail_body(mail)
        assert patient.case_number not in text
        assert "DUP" not in text and "40" not in text and "ECOG" not in text


def _mails_to(app, user) -> list:  # noqa: ANN001
    return [m for m in outbox(app) if m["To"] == user.email]


def test_a_notice_leaves_only_once_its_action_is_committed(app, db, doctor, dpo) -> None:  # noqa: ANN001
    request = services.submit_request(db, doctor, kind=RequestKind.ACCESS, for_self=True)
    db.commit()
    services.extend(db, dpo, request, months=2, reason=ExtensionReason.COMPLEXITY)
    assert _mails_to(app, doctor) == []
    db.rollback()  # the extension did not happen: nobody is told it did
    assert _mails_to(app, doctor) == []
    services.extend(db, dpo, db.get(RightsRequest, request.id), months=2,
                    reason=ExtensionReason.COMPLEXITY)
    db.commit()
    mails = _mails_to(app, doctor)
    assert len(mails) == 1 and request.number in mails[0]["Subject"]


def test_a_notice_queued_before_a_rolled_back_savepoint_still_leaves(app, db, doctor,  # noqa: ANN001
                                                                      dpo) -> None:
    request = services.submit_request(db, doctor, kind=RequestKind.ACCESS, for_self=True)
    db.commit()
    services.extend(db, dpo, request, months=2, reason=ExtensionReason.COMPLEXITY)
    savepoint = db.begin_nested()
    savepoint.rollback()
    db.commit()
    assert len(_mails_to(app, doctor)) == 1


def test_an_undeliverable_notice_keeps_the_action_and_is_audited(app, db, doctor, dpo) -> None:  # noqa: ANN001
    from tests.servers import free_port

    request = services.submit_request(db, doctor, kind=RequestKind.ACCESS, for_self=True)
    db.commit()
    from portal.outbox.services import send_due

    # nobody listens there; one attempt, then the sender gives the message up
    app.config.update(MAIL_URL=f"smtp+insecure://127.0.0.1:{free_port()}",
                      OUTBOX_MAX_ATTEMPTS=1)
    handling.answer_access(db, dpo, request)
    db.commit()
    assert send_due(app).given_up == 1
    db.expire_all()
    assert db.get(RightsRequest, request.id).answered_at is not None
    outcomes = [(e.outcome, e.details.get("notice")) for e in db.scalars(
        select(AuditEvent).where(AuditEvent.action == "rights:notice:mail")
        .order_by(AuditEvent.seq))]
    assert outcomes == [("success", "answered"), ("failure", "answered")]


def test_reminders_go_to_the_dpo_at_d7_d2_and_when_overdue(app, db, doctor, dpo) -> None:
    from portal.audit.services import cli_actor
    from portal.rights.reminders import send_reminders

    request = services.submit_request(db, doctor, kind=RequestKind.ACCESS, for_self=True)
    db.commit()
    due = request.due_on
    sent = []
    for days_before in (8, 7, 3, 2, -1):
        moment = clock.now().replace(year=due.year, month=due.month, day=due.day) \
            - timedelta(days=days_before)
        sent.append(send_reminders(db, cli_actor("cron"), moment))
        db.commit()
    assert sent == [0, 1, 0, 1, 1]
    mails = [m for m in outbox(app) if m["To"] == dpo.email]
    assert len(mails) == 3 and request.number in mail_body(mails[0])


def _finished(db, doctor, dpo, when):  # noqa: ANN001, ANN202
    with clock.frozen(when):
        request = services.submit_request(db, doctor, kind=RequestKind.ACCESS, for_self=True)
        handling.answer_access(db, dpo, request)
        services.close(db, dpo, request)
    db.commit()
    return request


def test_requests_are_kept_five_years_after_their_outcome_then_purged(app, db, doctor,
                                                                     dpo) -> None:
    now = clock.now()
    old = _finished(db, doctor, dpo, now - timedelta(days=5 * 366 + 2))
    recent = _finished(db, doctor, dpo, now - timedelta(days=5 * 365 - 30))
    open_request = services.submit_request(db, doctor, kind=RequestKind.ACCESS, for_self=True)
    db.commit()
    old_id, old_number = old.id, old.number
    assert [r.number for r in retention.expired(db)] == [old_number]
    purged = retention.purge_expired(db, dpo)
    db.commit()
    assert purged == [old_number]
    assert db.get(RightsRequest, old_id) is None
    for model in (RightsRequestEvent, RightsAnswer):
        assert db.scalar(select(func.count()).select_from(model).where(
            model.request_id == old_id)) == 0
    assert {r.id for r in db.scalars(select(RightsRequest))} == {recent.id, open_request.id}
    entry = db.scalar(select(AuditEvent).where(AuditEvent.action == "rights:request:purge"))
    assert entry is not None and entry.target_ref == old_number


def test_the_retention_period_is_configurable(app, db, doctor, dpo) -> None:
    app.config["RIGHTS_RETENTION_YEARS"] = 1
    request = _finished(db, doctor, dpo, clock.now() - timedelta(days=400))
    assert [r.id for r in retention.expired(db)] == [request.id]


def test_the_purge_command_lists_then_deletes(app, db, doctor, dpo, runner) -> None:
    old = _finished(db, doctor, dpo, at(2020, 3, 1))
    number = old.number
    result = runner.invoke(args=["rights", "purge", "--dry-run"])
    assert result.exit_code == 0 and f"1 request(s) would be deleted: {number}" in result.output
    result = runner.invoke(args=["rights", "purge"])
    assert f"1 request(s) deleted: {number}" in result.output
    result = runner.invoke(args=["rights", "purge"])
    assert "0 request(s) deleted." in result.output


def test_the_due_command_lists_open_requests(app, db, doctor, runner) -> None:
    request = services.submit_request(db, doctor, kind=RequestKind.ACCESS, for_self=True)
    db.commit()
    result = runner.invoke(args=["rights", "due"])
    assert result.exit_code == 0
    assert f"{request.due_on.isoformat()}  {request.number}  access" in result.output
