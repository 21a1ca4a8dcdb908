"""record(): one entry per action, in the caller's transaction, with the listed fields only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask, g
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal import clock
from portal.audit.models import GENESIS_HASH, AuditEvent, AuditHead
from portal.audit.services import (
    SYSTEM,
    Actor,
    AuditError,
    chain_hash,
    current_head,
    entry_fields,
    record,
)
from portal.keys import keyring_of
from tests.access.helpers import make_user
from tests.audit.helpers import CLI, entries, raw_rows_text, tamper

#: what a follow-up form could hold about a patient: none of it may reach the trail
HEALTH_DATA = {
    "diagnosis": "Lymphome folliculaire de grade 3A",
    "weight": "73.5",
    "adverse_event": "Neutropenie febrile",
    "initials": "JDU",
    "birth": "1957-03-14",
}


def _count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(AuditEvent)) or 0


def test_an_entry_holds_the_listed_fields(app: Flask, db: Session) -> None:
    user = make_user(db, "claire.martin")
    moment = datetime(2026, 5, 4, 9, 30, 15, 123456, tzinfo=UTC)
    with app.test_request_context("/records/P-7QK2M9", environ_base={"REMOTE_ADDR": "203.0.113.7"}):
        g.audit_session_hash = "a" * 64
        with clock.frozen(moment):
            record(db, user, "records:patient:read", ("patient", "P-7QK2M9"), form="initiation")
    db.commit()

    [entry] = entries(db)
    assert entry.seq == 1
    assert entry.at == moment and entry.at.utcoffset() == timedelta(0)
    assert (entry.actor_kind, entry.actor_id) == ("user", user.id)
    assert entry.actor_label == "claire.martin"
    assert entry.session_hash == "a" * 64
    assert entry.action == "records:patient:read"
    assert (entry.target_type, entry.target_ref) == ("patient", "P-7QK2M9")
    assert entry.outcome == "success"
    assert entry.client_address == "203.0.113.7"
    assert entry.details == {"form": "initiation"}
    assert entry.prev_hash == GENESIS_HASH
    assert entry.hash == chain_hash(keyring_of(db).key("audit"), GENESIS_HASH, entry_fields(entry))


def test_a_change_carrying_health_data_leaves_none_of_it_in_the_trail(
    app: Flask, db: Session
) -> None:
    """The area's change holds health data; its entry only holds the opaque reference."""
    user = make_user(db, "claire.martin")
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "198.51.100.4"}):
        submission = {"ref": "S-000042", **HEALTH_DATA}
        record(db, user, "records:submission:create", ("submission", submission["ref"]),
               patient="P-7QK2M9", fields=len(HEALTH_DATA))
    db.commit()

    dump = raw_rows_text(db)
    assert "S-000042" in dump and "P-7QK2M9" in dump
    for value in HEALTH_DATA.values():
        assert value not in dump


def test_outside_a_request_there_is_no_address_nor_session(db: Session) -> None:
    record(db, SYSTEM, "access:grant:expire", ("grant", "G4"))
    record(db, None, "accounts:login:failure", outcome="failure")
    db.commit()
    system, anonymous = entries(db)
    assert (system.actor_kind, system.actor_label, system.client_address) == ("system", "system",
                                                                             None)
    assert system.session_hash is None
    assert (anonymous.actor_kind, anonymous.actor_id, anonymous.outcome) == ("anonymous", None,
                                                                             "failure")


def test_a_rolled_back_change_leaves_no_entry(db: Session) -> None:
    make_user(db, "rolled.back")
    record(db, CLI, "accounts:user:create", ("user", "U1"))
    db.rollback()
    assert _count(db) == 0
    assert current_head(db).seq == 0


def test_a_committed_change_has_exactly_one_entry(db: Session) -> None:
    user = make_user(db, "kept.user")
    record(db, CLI, "accounts:user:create", user)
    db.commit()
    [entry] = entries(db)
    assert (entry.action, entry.target_type, entry.target_ref) == (
        "accounts:user:create", "user", f"U{user.id}")


def test_numbers_are_gap_free_and_each_entry_links_to_the_previous(db: Session) -> None:
    for n in range(5):
        record(db, CLI, "records:patient:read", ("patient", f"P{n}"))
    db.commit()
    record(db, CLI, "records:patient:read", ("patient", "lost"))
    db.rollback()  # its number is given back with the rest of the transaction
    record(db, CLI, "records:patient:read", ("patient", "P5"))
    db.commit()
    rows = entries(db)
    assert [e.seq for e in rows] == [1, 2, 3, 4, 5, 6]
    assert [e.target_ref for e in rows][-1] == "P5"
    for previous, entry in zip(rows, rows[1:], strict=False):
        assert entry.prev_hash == previous.hash
    head = db.get(AuditHead, 1)
    assert (head.seq, head.last_hash) == (6, rows[-1].hash)


def test_create_all_creates_the_head_row(db: Session, postgres_schema: str | None) -> None:
    if postgres_schema is not None:
        pytest.skip("on PostgreSQL the tables are emptied between tests (see test_ddl.py)")
    head = db.get(AuditHead, 1)
    assert (head.seq, head.last_hash) == (0, GENESIS_HASH)


def test_a_missing_head_row_is_created_again(db: Session) -> None:
    tamper(db, ["DELETE FROM audit_head"])
    record(db, CLI, "records:patient:read", ("patient", "P1"))
    db.commit()
    assert [e.seq for e in entries(db)] == [1]


@pytest.mark.parametrize("action", [
    "records", "records:patient", "records:patient:read:more", "Records:patient:read",
    "records:patient:read ", "records::read", "records:patient:read\n", "1records:x:y",
    "records:patient:" + "r" * 90,
])
def test_malformed_actions_are_refused(db: Session, action: str) -> None:
    with pytest.raises(AuditError, match="is not <area>:<subject>:<action>"):
        record(db, CLI, action)
    assert _count(db) == 0


def test_an_unknown_outcome_is_refused(db: Session) -> None:
    with pytest.raises(AuditError, match="outcome"):
        record(db, CLI, "records:patient:read", outcome="ok")


@pytest.mark.parametrize(("details", "message"), [
    ({"values": [1, 2]}, "must be a scalar"),
    ({"data": {"weight": 73}}, "must be a scalar"),
    ({"comment": "x" * 121}, "too long"),
    ({"comment": "first line\nforged line"}, "control characters"),
    ({"Weight": 1}, "short lower-case code"),
    ({"ratio": float("nan")}, "finite"),
    ({f"k{n}": n for n in range(17)}, "at most 16"),
])
def test_non_scalar_long_or_odd_details_are_refused(
    db: Session, details: dict[str, object], message: str
) -> None:
    with pytest.raises(AuditError, match=message):
        record(db, CLI, "records:patient:read", ("patient", "P1"), **details)
    assert _count(db) == 0


@pytest.mark.parametrize("target", [("patient", "P" * 97), ("t" * 33, "P1"), ("patient", ""),
                                    ("patient", "P1\nP2")])
def test_odd_targets_are_refused(db: Session, target: tuple[str, str]) -> None:
    with pytest.raises(AuditError, match="target"):
        record(db, CLI, "records:patient:read", target)


def test_a_detail_of_120_characters_is_accepted(db: Session) -> None:
    record(db, Actor("cli", "cli:ops"), "records:patient:read", ("patient", "P1"), code="c" * 120)
    db.commit()
    assert entries(db)[0].details == {"code": "c" * 120}
