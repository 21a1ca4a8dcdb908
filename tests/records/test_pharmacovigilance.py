"""Pharmacovigilance: what is new since the last visit, the hand-off, the serious-event mail."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import select, text

from portal import clock
from portal.audit.models import AuditEvent
from portal.permissions import Role
from portal.records import overview, submissions
from portal.records import pharmacovigilance as pharmacovigilance_area
from tests.helpers_auth import csrf_token, login, mail_body, outbox
from tests.records import helpers
from tests.servers import free_port


def _later(hours: float = 24) -> datetime:
    """A moment after the grants of the fixtures started."""
    return clock.now() + timedelta(hours=hours)


def _serious() -> dict[str, object]:
    return {**helpers.adverse_event_answers(), "serious": "yes",
            "seriousness_criteria": ["hospitalisation"]}


def _rows(page: str) -> list[str]:
    """The submission handles of the list's rows, in order."""
    return re.findall(r'href="/submissions/([^"/]+)"', page)


def _new(page: str) -> list[str]:
    return re.findall(r'<tr class="new">\s*<td>([0-9A-Z-]+)', page)


def _hand_off(client, handle: str, **back: str):  # noqa: ANN001, ANN202
    return client.post(f"/pharmacovigilance/{handle}/hand-off",
                       data={**csrf_token(client, "/pharmacovigilance"), **back})


def test_a_hand_off_records_who_and_when_and_leaves_the_to_do_list(
        db, client, prescriber, pharmacovigilance, site_a):
    patient = helpers.register(db, prescriber, site_a)
    first = helpers.submit(db, prescriber, patient, "adverse_event")
    second = helpers.submit(db, prescriber, patient, "adverse_event")
    with clock.frozen(_later()) as moment:
        login(client, pharmacovigilance)
        page = client.get("/pharmacovigilance").get_data(as_text=True)
        assert _rows(page) == [second.handle, first.handle]
        assert "Mark as handed off" in page
        response = _hand_off(client, first.handle, show="to_hand_off")
        assert response.status_code == 303
        assert response.headers["Location"].endswith("/pharmacovigilance?show=to_hand_off")
        page = client.get(response.headers["Location"]).get_data(as_text=True)
        assert "recorded as handed off" in page
        assert _rows(page) == [second.handle]
        everything = client.get("/pharmacovigilance?show=all").get_data(as_text=True)
        assert _rows(everything) == [second.handle, first.handle]
        assert "Handed off by p.vigie" in everything
        # Twice is once: one audit entry, naming who handed what off.
        _hand_off(client, first.handle)
        (entry,) = db.scalars(select(AuditEvent).where(
            AuditEvent.action == "records:event:hand_off")).all()
        assert (entry.actor_label, entry.target_ref) == ("p.vigie",
                                                         pharmacovigilance_area.event_ref(
                                                             db, first.id))
        assert entry.at == moment.at
        # Nothing in the entry or the table links the hand-off to the form or its patient.
        assert entry.target_type == "event"
        assert first.audit_ref not in str(entry.details)
        assert patient.audit_ref not in str(entry.details)
        (row,) = db.execute(text("SELECT * FROM event_hand_off")).mappings().all()
        assert "submission_id" not in row
        assert re.fullmatch(r"ev1_[0-9a-f]{32}", row["event_ref"])


def test_a_form_rectified_after_its_hand_off_is_to_hand_off_again(
        db, client, prescriber, pharmacovigilance, site_a):
    patient = helpers.register(db, prescriber, site_a)
    event = helpers.submit(db, prescriber, patient, "adverse_event")
    with clock.frozen(_later()):
        login(client, pharmacovigilance)
        _hand_off(client, event.handle)
        assert _rows(client.get("/pharmacovigilance").get_data(as_text=True)) == []
        submissions.rectify_with_answers(
            db, prescriber, event, {**helpers.adverse_event_answers(), "severity": "G3"},
            "late_information", event.version)
        db.commit()
        assert _rows(client.get("/pharmacovigilance").get_data(as_text=True)) == [event.handle]


def test_only_pharmacovigilance_hands_off(db, client, prescriber, site_a, protocol):
    patient = helpers.register(db, prescriber, site_a)
    event = helpers.submit(db, prescriber, patient, "adverse_event")
    login(client, prescriber)
    page = client.get("/pharmacovigilance").get_data(as_text=True)
    assert _rows(page) == [event.handle] and "Mark as handed off" not in page
    assert _hand_off(client, event.handle).status_code == 403
    assert _rows(client.get("/pharmacovigilance").get_data(as_text=True)) == [event.handle]


def test_the_list_marks_what_came_since_the_last_visit(
        db, client, prescriber, pharmacovigilance, site_a):
    patient = helpers.register(db, prescriber, site_a)
    other = helpers.register(db, prescriber, site_a, surname_letters="Yvo")
    seen = helpers.submit(db, prescriber, patient, "adverse_event")

    def look(path: str = "/pharmacovigilance") -> str:
        login(client, pharmacovigilance)  # idle sessions end: each visit logs in
        return client.get(path).get_data(as_text=True)

    with clock.frozen(_later()) as moment:
        # A first visit: everything is new.
        assert _new(look()) == [patient.case_number]
        moment.tick(timedelta(hours=3))
        fresh = helpers.submit(db, prescriber, other, "adverse_event")
        moment.tick(timedelta(hours=3))
        page = look()
        assert _rows(page) == [fresh.handle, seen.handle]
        assert _new(page) == [other.case_number]
        assert "since your last visit" in page
        # Handing it off within the same visit keeps the other marks.
        moment.tick(timedelta(minutes=5))
        _hand_off(client, fresh.handle)
        page = client.get("/pharmacovigilance?show=all").get_data(as_text=True)
        assert _new(page) == [other.case_number]
        # The next visit: nothing new.
        moment.tick(timedelta(hours=2))
        assert _new(look("/pharmacovigilance?show=all")) == []


def test_a_serious_adverse_event_mails_every_pharmacovigilance_person(
        app, db, prescriber, pharmacovigilance, aggregated, site_a):
    colleague = helpers.lab_person(db, "p.second", Role.PHARMACOVIGILANCE)
    patient = helpers.register(db, prescriber, site_a)
    helpers.submit(db, prescriber, patient, "adverse_event")  # not serious: no mail
    assert outbox(app) == []
    event = helpers.submit(db, prescriber, patient, "adverse_event", _serious())
    serious_mail = select(AuditEvent).where(AuditEvent.action == "records:event:serious_mail")
    # Queued with the submission, not yet sent: no entry claims a mail left (issue 26).
    assert db.scalars(serious_mail).all() == []
    mails = outbox(app)
    assert sorted(m["To"] for m in mails) == sorted([pharmacovigilance.email, colleague.email])
    for mail in mails:
        body = mail_body(mail)
        assert f"A serious adverse event was recorded for case {patient.case_number}" in body
        assert "/pharmacovigilance" in body
        # Nothing of the event itself: no MedDRA code, criterion, date or causality.
        for detail in ("10019211", "hospital", "possibly", "G2",
                       helpers.adverse_event_answers()["onset_date"]):
            assert detail not in body and detail not in mail["Subject"]
    # The sender wrote one entry per mail it actually sent, naming the event opaquely.
    entries = db.scalars(serious_mail).all()
    assert sorted(e.details["recipient"] for e in entries) == sorted(
        [pharmacovigilance.audit_ref, colleague.audit_ref])
    for entry in entries:
        assert entry.outcome == "success" and entry.actor_kind == "system"
        assert entry.target_ref == pharmacovigilance_area.event_ref(db, event.id)
        assert patient.audit_ref not in str(entry.details)
        assert patient.case_number not in str(entry.details)


def test_a_serious_event_mail_given_up_is_audited_as_a_failure_by_the_sender(
        app, db, prescriber, pharmacovigilance, site_a):
    from portal.outbox.services import send_due

    app.config.update(MAIL_URL=f"smtp+insecure://127.0.0.1:{free_port()}",  # nobody there
                      OUTBOX_MAX_ATTEMPTS=1)
    patient = helpers.register(db, prescriber, site_a)
    event = helpers.submit(db, prescriber, patient, "adverse_event", _serious())
    report = send_due(app)
    assert (report.sent, report.given_up) == (0, 1)
    (entry,) = db.scalars(select(AuditEvent).where(
        AuditEvent.action == "records:event:serious_mail")).all()
    assert entry.outcome == "failure" and entry.details["recipient"] == pharmacovigilance.audit_ref
    assert entry.target_ref == pharmacovigilance_area.event_ref(db, event.id)


def test_no_mail_for_a_serious_event_that_was_not_committed(
        app, db, prescriber, pharmacovigilance, site_a):
    patient = helpers.register(db, prescriber, site_a)
    answers = helpers.valid(db, "adverse_event", _serious())
    ref = submissions.current_form(db, patient, "adverse_event")
    submissions.submit(db, prescriber, patient, ref, answers, submissions.new_token())
    db.rollback()
    assert outbox(app) == []


def test_the_mail_speaks_the_recipients_language(app, db, prescriber, pharmacovigilance, site_a):
    pharmacovigilance.locale = "fr"
    db.commit()
    patient = helpers.register(db, prescriber, site_a)
    helpers.submit(db, prescriber, patient, "adverse_event", _serious())
    (mail,) = outbox(app)
    assert mail["Subject"] == "Effet indésirable grave enregistré"
    assert f"Un effet indésirable grave a été enregistré pour le cas {patient.case_number}" \
        in mail_body(mail)


def test_an_event_rectified_to_serious_is_mailed_once(app, db, prescriber, pharmacovigilance,
                                                      site_a):
    patient = helpers.register(db, prescriber, site_a)
    event = helpers.submit(db, prescriber, patient, "adverse_event")
    serious = helpers.valid(db, "adverse_event", _serious())
    submissions.rectify_with_answers(db, prescriber, event, serious, "late_information",
                                     event.version)
    db.commit()
    assert [m["To"] for m in outbox(app)] == [pharmacovigilance.email]
    # Still serious after another change: no second mail.
    submissions.rectify_with_answers(db, prescriber, event, {**serious, "severity": "G3"},
                                     "late_information", event.version)
    db.commit()
    assert len(outbox(app)) == 1


def test_a_page_of_forms_to_hand_off_skips_any_number_of_handed_off_ones(
        db, prescriber, pharmacovigilance, site_a):
    # The list reads a page, then twice as many forms each time, until the page is full: the
    # newest five forms are handed off, so the two older ones need three reads of a 2-row page.
    patient = helpers.register(db, prescriber, site_a)
    forms = [helpers.submit(db, prescriber, patient, "adverse_event") for _ in range(7)]
    with clock.frozen(_later()):
        for submission in forms[2:]:
            pharmacovigilance_area.hand_off(db, pharmacovigilance, submission)
        db.commit()
        page = overview.event_page(db, pharmacovigilance, page_size=2)
        assert [row.submission.handle for row in page.rows] == [forms[1].handle, forms[0].handle]
        assert page.next_after is None
        everything = overview.event_page(db, pharmacovigilance, page_size=2, show="all")
        assert [row.submission.handle for row in everything.rows] == [forms[6].handle,
                                                                      forms[5].handle]
        assert everything.next_after is not None
