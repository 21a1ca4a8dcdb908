"""Reading the trail (SEC-JOU-3): auditors and the DPO only, every consultation logged."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal import clock
from portal.accounts.models import User
from portal.audit.checks import run_checks
from portal.audit.models import AuditEvent
from portal.audit.services import Actor, record
from tests.access.helpers import make_user
from tests.access.login import log_in
from tests.audit.helpers import CLI, entries

DAY = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def _seed(db: Session) -> User:
    """A prescriber's reads, a grant change by the operator, a refused access."""
    reader = make_user(db, "rita.reader")
    with clock.frozen(DAY) as frozen:
        record(db, reader, "records:patient:read", ("patient", "P-7QK2M9"))
        frozen.tick(timedelta(minutes=1))
        record(db, reader, "records:patient:read", ("patient", "P-3XW8L1"))
        frozen.tick(timedelta(days=1))
        record(db, CLI, "access:grant:withdraw", ("grant", "G7"), reason="left_organisation")
        frozen.tick(timedelta(days=1))
        record(db, reader, "records:patient:read", ("patient", "P-9ZZ000"), outcome="denied")
    db.commit()
    return reader


def _consultations(db: Session, action: str = "audit:events:read") -> list[AuditEvent]:
    return [e for e in entries(db) if e.action == action]


def test_an_anonymous_visitor_is_sent_to_the_login_page(client: FlaskClient) -> None:
    response = client.get("/audit/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize("path", ["/audit/", "/audit/export.csv", "/audit/alerts"])
def test_someone_without_the_audit_permission_is_refused(
    client: FlaskClient, db: Session, pharmacist: User, path: str
) -> None:
    _seed(db)
    log_in(client, db, pharmacist)
    response = client.get(path)
    assert response.status_code == 403
    assert b"P-7QK2M9" not in response.data
    assert _consultations(db) == [] and _consultations(db, "audit:events:export") == []


@pytest.mark.parametrize("person", ["dpo", "auditor"])
def test_the_dpo_and_auditors_read_the_trail_and_their_reading_is_logged(
    request: pytest.FixtureRequest, client: FlaskClient, db: Session, person: str
) -> None:
    reader = _seed(db)
    viewer = request.getfixturevalue(person)
    log_in(client, db, viewer)
    response = client.get("/audit/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for ref in ("P-7QK2M9", "P-3XW8L1", "G7", "P-9ZZ000", "rita.reader", "denied"):
        assert ref in page
    [consultation] = _consultations(db)
    assert (consultation.actor_id, consultation.actor_label) == (viewer.id, viewer.login)
    assert consultation.session_hash is not None
    assert consultation.details["shown"] >= 4
    assert reader.login not in consultation.details.values()


def test_the_trail_is_filtered_by_person_record_action_and_period(
    client: FlaskClient, db: Session, dpo: User
) -> None:
    reader = _seed(db)
    log_in(client, db, dpo)

    def shown(**args: str) -> set[str]:
        response = client.post("/audit/", data=args)
        assert response.status_code == 200
        text = response.get_data(as_text=True)
        # As the record cell shows it ("<type> <ref></td>"): a bare "G7" could also occur by
        # chance inside a random token of the page.
        return {ref for ref in ("P-7QK2M9", "P-3XW8L1", "G7", "P-9ZZ000")
                if f" {ref}</td>" in text}

    assert shown(person="rita.reader") == {"P-7QK2M9", "P-3XW8L1", "P-9ZZ000"}
    assert shown(person=f"U{reader.id}") == {"P-7QK2M9", "P-3XW8L1", "P-9ZZ000"}
    assert shown(person="RITA.Reader") == {"P-7QK2M9", "P-3XW8L1", "P-9ZZ000"}
    assert shown(person=CLI.label) == {"G7"}
    assert shown(record="P-3XW8L1") == {"P-3XW8L1"}
    assert shown(action="access:") == {"G7"}
    assert shown(action="records:patient:read", outcome="denied") == {"P-9ZZ000"}
    assert shown(date_from="2026-03-11", date_to="2026-03-11") == {"G7"}
    assert shown(date_to="2026-03-10") == {"P-7QK2M9", "P-3XW8L1"}
    last = _consultations(db)[-1]
    assert last.details["filter_date_to"] == "2026-03-10"


@pytest.mark.parametrize(("args", "field", "message"), [
    ({"action": "records;DROP TABLE"}, "action", "Use lower-case letters"),
    ({"date_from": "2026-03-12", "date_to": "2026-03-10"}, "date_to", "before its start"),
    ({"date_from": "12/03/2026"}, "date_from", "date"),
    ({"person": "x" * 65}, "person", "64"),
    ({"record": "P1\u0007"}, "record", "Control characters"),
])
def test_bad_filters_are_explained_and_nothing_is_shown(
    client: FlaskClient, db: Session, dpo: User, args: dict[str, str], field: str, message: str
) -> None:
    _seed(db)
    log_in(client, db, dpo)
    response = client.post("/audit/?lang=en", data=args)
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    errors = text.split(f'id="{field}-errors"', 1)[1].split("</ul>", 1)[0]
    assert message in errors
    assert "P-7QK2M9" not in text
    assert _consultations(db) == []


@pytest.mark.parametrize("args", [{"before": "abc"}, {"after": "-1"}, {"before": "9" * 30}])
def test_bad_page_keys_are_a_bad_request(
    client: FlaskClient, db: Session, dpo: User, args: dict[str, str]
) -> None:
    log_in(client, db, dpo)
    assert client.get("/audit/", query_string=args).status_code == 400


def test_the_trail_is_paged_newest_first(client: FlaskClient, db: Session, dpo: User) -> None:
    for n in range(1, 61):
        record(db, CLI, "records:patient:read", ("patient", f"PAGE{n:03d}"))
    db.commit()
    log_in(client, db, dpo)
    first = client.post("/audit/", data={"action": "records:"}).get_data(as_text=True)
    assert "PAGE060" in first and "PAGE011" in first and "PAGE010" not in first
    assert "Older entries" in first and "Newer entries" not in first
    seq_11 = next(e.seq for e in entries(db) if e.target_ref == "PAGE011")
    older = client.post("/audit/", data={"action": "records:", "before": seq_11})
    text = older.get_data(as_text=True)
    assert "PAGE010" in text and "PAGE001" in text and "PAGE011" not in text
    assert "Newer entries" in text and "Older entries" not in text
    newer = client.post("/audit/", data={"action": "records:", "after": seq_11 - 1})
    text = newer.get_data(as_text=True)
    assert "PAGE011" in text and "PAGE060" in text and "PAGE010" not in text


def test_the_csv_export_holds_the_filtered_entries_and_is_logged(
    client: FlaskClient, db: Session, dpo: User
) -> None:
    _seed(db)
    record(db, Actor("cli", "=HYPERLINK(\"http://x\")"), "records:patient:read",
           ("patient", "P-7QK2M9"))
    db.commit()
    log_in(client, db, dpo)
    response = client.post("/audit/export.csv", data={"record": "P-7QK2M9"})
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["target_ref"] for r in rows] == ["P-7QK2M9", "P-7QK2M9"]
    assert rows[0]["at_utc"] == DAY.isoformat()
    assert rows[1]["actor_label"].startswith("'=")  # no formula in a spreadsheet
    [export] = _consultations(db, "audit:events:export")
    assert export.details["row_count"] == 2 and export.details["filter_record"] == "P-7QK2M9"
    assert export.actor_id == dpo.id


def test_the_alerts_page_lists_the_alerts_and_warns_when_checks_are_overdue(
    client: FlaskClient, db: Session, dpo: User
) -> None:
    stranger = make_user(db, "sam.nogrant")
    db.commit()
    with clock.frozen(DAY):
        record(db, stranger, "records:patient:read", ("patient", "P-1"))
    db.commit()
    log_in(client, db, dpo)
    before = client.get("/audit/alerts").get_data(as_text=True)
    assert "have never run" in before and "No alert." in before
    assert "have never run" in client.get("/audit/").get_data(as_text=True)

    run_checks(db, CLI)
    db.commit()
    after = client.get("/audit/alerts")
    assert after.status_code == 200
    text = after.get_data(as_text=True)
    assert "have never run" not in text and "overdue" not in text
    assert "Activity while the person held no valid access grant" in text
    assert "sam.nogrant" in text
    assert [e.details["page"] for e in _consultations(db, "audit:alerts:read")] == [1, 1]

    with clock.frozen(clock.now() + timedelta(days=61)):
        log_in(client, db, dpo)
        late = client.get("/audit/alerts").get_data(as_text=True)
    assert "are overdue" in late


def test_the_menu_shows_the_trail_to_the_dpo_only(
    client: FlaskClient, db: Session, dpo: User, pharmacist: User, app: Flask
) -> None:
    log_in(client, db, dpo)
    assert 'href="/audit/"' in client.get("/").get_data(as_text=True)
    other = app.test_client()
    log_in(other, db, pharmacist)
    assert 'href="/audit/"' not in other.get("/").get_data(as_text=True)


def test_the_logging_notice_says_what_is_logged_and_for_how_long(app: Flask) -> None:
    from flask import render_template

    app.config["AUDIT_RETENTION_DAYS"] = 200
    with app.test_request_context("/"):
        text = render_template("audit/_logging_notice.html")
    assert "Your actions on this portal are logged" in text
    assert "kept for 200 days" in text
    assert "never health data" in text
