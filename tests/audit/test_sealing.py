"""Entries written unsealed and sealed after commit: every tampering class caught, in both parts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from portal import clock
from portal.audit.sealer import seal
from portal.audit.services import GAP_ACTION, record
from portal.audit.verify import DELETED, INSERTED, MODIFIED, UNSEALED, verify
from tests.audit.helpers import CLI, entries, swap_seq, tamper, write_entries


@pytest.fixture
def app_config(app_config: dict[str, object]) -> dict[str, object]:
    """No sealing after commit: the tests decide when the sealer runs."""
    return {**app_config, "AUDIT_SEAL_AFTER_COMMIT": False}


@pytest.fixture
def half_sealed(app: Flask, db: Session) -> Session:
    """Entries 1-5 sealed, 6-10 written and committed but not sealed yet."""
    write_entries(db, 5)
    assert seal(app).sealed == 5
    write_entries(db, 5)
    return db


def _postgres(db: Session) -> bool:
    return db.connection().dialect.name == "postgresql"


def test_entries_wait_unsealed_with_their_own_mac_then_the_sealer_chains_them(
        app: Flask, half_sealed: Session) -> None:
    rows = entries(half_sealed)
    assert [e.hash is None for e in rows] == [False] * 5 + [True] * 5
    assert all(e.mac is not None for e in rows)
    result = verify(half_sealed)
    assert result.ok, result.problem
    assert (result.count, result.sealed_seq, result.unsealed) == (10, 5, 5)
    sealed = seal(app)
    assert (sealed.sealed, sealed.head_seq) == (5, 10)
    rows = entries(half_sealed)
    assert all(e.hash is not None for e in rows)
    for previous, entry in zip(rows, rows[1:], strict=False):
        assert entry.prev_hash == previous.hash
    again = verify(half_sealed)
    assert again.ok and (again.sealed_seq, again.unsealed) == (10, 0)


def test_the_portal_cannot_change_an_unsealed_entry_beyond_sealing_it(half_sealed: Session) -> None:
    for statement in ("UPDATE audit_event SET target_ref = 'P99' WHERE seq = 7",
                      "UPDATE audit_event SET hash = :h, prev_hash = :h, outcome = 'denied' "
                      "WHERE seq = 7",
                      "UPDATE audit_event SET hash = :h WHERE seq = 3",
                      "DELETE FROM audit_event WHERE seq = 8"):
        with pytest.raises(DBAPIError, match="append-only"):
            half_sealed.execute(text(statement), {"h": b"\x01" * 32})
        half_sealed.rollback()


@pytest.mark.parametrize("where", ["sealed", "unsealed"])
def test_an_edited_entry_is_caught(half_sealed: Session, where: str) -> None:
    seq = 3 if where == "sealed" else 8
    tamper(half_sealed, [f"UPDATE audit_event SET target_ref = 'P99' WHERE seq = {seq}"])
    problem = verify(half_sealed).problem
    assert problem is not None and (problem.seq, problem.kind) == (seq, MODIFIED)


@pytest.mark.parametrize("where", ["sealed", "unsealed"])
def test_swapped_entries_are_caught(half_sealed: Session, where: str) -> None:
    a, b = (2, 3) if where == "sealed" else (7, 8)
    tamper(half_sealed, swap_seq(a, b))
    problem = verify(half_sealed).problem
    assert problem is not None and problem.seq == a


def test_a_forged_unsealed_entry_is_caught(half_sealed: Session) -> None:
    tamper(half_sealed, [
        "INSERT INTO audit_event (seq, at, actor_kind, actor_label, action, outcome, details, mac)"
        " SELECT 11, at, actor_kind, actor_label, action, outcome, details, mac"
        " FROM audit_event WHERE seq = 10"])
    problem = verify(half_sealed).problem
    assert problem is not None and (problem.seq, problem.kind) == (11, MODIFIED)


def test_a_sealed_entry_after_unsealed_ones_is_caught(half_sealed: Session) -> None:
    tamper(half_sealed, ["UPDATE audit_event SET hash = :h, prev_hash = :h WHERE seq = 9"],
           h=b"\x02" * 32)
    problem = verify(half_sealed).problem
    assert problem is not None and (problem.seq, problem.kind) == (9, INSERTED)


def test_a_deleted_unsealed_entry_is_caught(app: Flask, half_sealed: Session) -> None:
    tamper(half_sealed, ["DELETE FROM audit_event WHERE seq = 7"])
    if not _postgres(half_sealed):
        # SQLite's counter rolls back with its entry: a missing number was deleted.
        problem = verify(half_sealed).problem
        assert problem is not None and (problem.seq, problem.kind) == (7, DELETED)
        assert seal(app).waiting_for == 7  # and the sealer never papers over it
        return
    # PostgreSQL: a transaction may still hold the number, until the gap delay has passed...
    result = verify(half_sealed)
    assert result.ok and result.pending_gaps == [7]
    assert seal(app).waiting_for == 7
    # ...then the sealer records it as a gap, which verify lists for ever after.
    with clock.frozen(clock.now() + timedelta(minutes=2)):
        sealed = seal(app)
        assert (sealed.gaps, sealed.head_seq) == (1, 10)
        result = verify(half_sealed)
    assert result.ok and result.gaps == [7]
    assert [e.action for e in entries(half_sealed) if e.seq == 7] == [GAP_ACTION]


def test_a_truncated_unsealed_tail_is_caught(half_sealed: Session) -> None:
    tamper(half_sealed, ["DELETE FROM audit_event WHERE seq > 8"])
    result = verify(half_sealed)
    if _postgres(half_sealed):
        # Numbers 9 and 10 were given out: they show as gaps once anything is written after.
        assert "numbers 9 to 10 are given out" in " ".join(result.notes)
        record(half_sealed, CLI, "records:patient:read", ("patient", "P11"))
        half_sealed.commit()
        assert verify(half_sealed).pending_gaps == [9, 10]
    else:
        assert result.problem is not None
        assert (result.problem.seq, result.problem.kind) == (9, DELETED)


def test_a_truncated_sealed_part_is_caught(half_sealed: Session) -> None:
    tamper(half_sealed, ["DELETE FROM audit_event WHERE seq > 3"])
    problem = verify(half_sealed).problem
    assert problem is not None and problem.kind == DELETED


def test_an_entry_left_unsealed_too_long_fails_verify(half_sealed: Session) -> None:
    with clock.frozen(clock.now() + timedelta(minutes=31)):
        problem = verify(half_sealed).problem
        assert problem is not None and (problem.seq, problem.kind) == (6, UNSEALED)
        assert verify(half_sealed, sealer_deadline=False).ok


def test_the_sealer_refuses_an_entry_whose_mac_fails(app: Flask, half_sealed: Session) -> None:
    tamper(half_sealed, ["UPDATE audit_event SET outcome = 'denied' WHERE seq = 8"])
    result = seal(app)
    assert (result.head_seq, result.refused_seq) == (7, 8)


def test_a_rolled_back_number_is_voided_not_a_gap(app: Flask, db: Session) -> None:
    write_entries(db, 2)
    record(db, CLI, "records:patient:read", ("patient", "lost"))
    db.rollback()
    write_entries(db, 1)
    assert seal(app).gaps == 0
    result = verify(db)
    assert result.ok and result.gaps == [] and result.pending_gaps == []
    assert "lost" not in [e.target_ref for e in entries(db)]


def test_seal_command_and_duty(app: Flask, runner, half_sealed: Session) -> None:  # noqa: ANN001
    done = runner.invoke(args=["audit", "seal"])
    assert done.exit_code == 0, done.output
    assert "Sealed 5 entries; the chain head is at 10." in done.output
    write_entries(half_sealed, 2)
    ran = runner.invoke(args=["jobs", "run", "--only", "audit-seal"])
    assert ran.exit_code == 0, ran.output
    assert verify(half_sealed).unsealed == 0
