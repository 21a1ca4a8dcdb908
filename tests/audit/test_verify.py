"""verify(): the first modified, deleted, inserted or reordered entry, with its number."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit import verify as verify_module
from portal.audit.models import AuditEvent
from portal.audit.services import record
from portal.audit.verify import (
    DELETED,
    HEAD,
    INSERTED,
    MODIFIED,
    REORDERED,
    ExportedHead,
    verify,
)
from tests.audit.helpers import CLI, entries, shift_seq, swap_seq, tamper, write_entries

COUNT = 20


@pytest.fixture
def trail(db: Session) -> Session:
    write_entries(db, COUNT)
    return db


def _hash(db: Session, seq: int) -> bytes:
    return bytes(db.scalar(select(AuditEvent.hash).where(AuditEvent.seq == seq)))


def _broken(db: Session, **kwargs: object) -> tuple[int, str]:
    result = verify(db, **kwargs)
    assert result.problem is not None, "the chain was expected to be broken"
    return result.problem.seq, result.problem.kind


def test_an_intact_chain_verifies(trail: Session) -> None:
    result = verify(trail)
    assert result.ok
    assert (result.count, result.first_seq, result.last_seq) == (COUNT, 1, COUNT)


def test_an_empty_trail_verifies(db: Session) -> None:
    result = verify(db)
    assert result.ok and result.count == 0


def test_the_walk_goes_through_several_batches(trail: Session, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(verify_module, "BATCH", 3)
    assert verify(trail).count == COUNT
    tamper(trail, ["UPDATE audit_event SET actor_label = 'someone.else' WHERE seq = 17"])
    assert _broken(trail) == (17, MODIFIED)


@pytest.mark.parametrize("statement", [
    "UPDATE audit_event SET outcome = 'denied' WHERE seq = 7",
    "UPDATE audit_event SET target_ref = 'P99' WHERE seq = 7",
    "UPDATE audit_event SET details = '{\"n\": 8}' WHERE seq = 7",
    "UPDATE audit_event SET at = at + interval '1 second' WHERE seq = 7",
    "UPDATE audit_event SET actor_label = 'nobody' WHERE seq = 7",
])
def test_a_modified_field_is_reported_at_its_entry(trail: Session, statement: str) -> None:
    if "interval" in statement and trail.get_bind().dialect.name == "sqlite":
        statement = ("UPDATE audit_event SET at = datetime(at, '+1 second') || '.000000' "
                     "WHERE seq = 7")
    tamper(trail, [statement])
    assert _broken(trail) == (7, MODIFIED)


def test_a_modified_entry_with_a_recomputed_looking_hash_is_still_caught(trail: Session) -> None:
    tamper(trail, ["UPDATE audit_event SET outcome = 'denied', hash = :fake WHERE seq = 7"],
           fake=b"\x01" * 32)
    assert _broken(trail) == (7, MODIFIED)


def test_a_deleted_row_is_reported(trail: Session) -> None:
    tamper(trail, ["DELETE FROM audit_event WHERE seq = 7"])
    assert _broken(trail) == (7, DELETED)


def test_deleted_first_and_last_rows_are_reported(trail: Session) -> None:
    tamper(trail, [f"DELETE FROM audit_event WHERE seq = {COUNT}"])
    assert _broken(trail) == (COUNT, DELETED)
    tamper(trail, ["DELETE FROM audit_event WHERE seq = 1"])
    assert _broken(trail) == (1, DELETED)


def test_a_deletion_hidden_by_renumbering_is_reported(trail: Session) -> None:
    tamper(trail, ["DELETE FROM audit_event WHERE seq = 7", *shift_seq(8, -1),
                   "UPDATE audit_head SET seq = seq - 1"])
    assert _broken(trail) == (7, DELETED)


def test_an_inserted_row_is_reported(trail: Session) -> None:
    """A row slipped in at 8, the later ones renumbered, the head moved: caught at 8."""
    prev = _hash(trail, 7)
    tamper(trail, [
        *shift_seq(8, 1),
        "INSERT INTO audit_event (seq, at, actor_kind, actor_label, action, outcome, details, "
        "prev_hash, hash) SELECT 8, at, actor_kind, actor_label, action, outcome, details, "
        ":prev, :fake FROM audit_event WHERE seq = 7",
        "UPDATE audit_head SET seq = seq + 1",
    ], prev=prev, fake=b"\x02" * 32)
    assert _broken(trail) == (8, INSERTED)


def test_a_row_appended_behind_the_portal_is_reported(trail: Session) -> None:
    tamper(trail, [
        "INSERT INTO audit_event (seq, at, actor_kind, actor_label, action, outcome, details, "
        "prev_hash, hash) SELECT seq + 1, at, actor_kind, actor_label, action, outcome, "
        f"details, hash, :fake FROM audit_event WHERE seq = {COUNT}",
    ], fake=b"\x03" * 32)
    assert _broken(trail) == (COUNT + 1, INSERTED)


@pytest.mark.parametrize(("a", "b"), [(7, 8), (5, 12), (1, COUNT)])
def test_two_swapped_rows_are_reported_at_the_first(trail: Session, a: int, b: int) -> None:
    tamper(trail, swap_seq(a, b))
    assert _broken(trail) == (a, REORDERED)


def test_a_tampered_head_row_is_reported(trail: Session) -> None:
    tamper(trail, ["UPDATE audit_head SET last_hash = :fake"], fake=b"\x04" * 32)
    assert _broken(trail) == (COUNT, HEAD)


def test_the_wrong_key_breaks_the_first_entry(trail: Session, monkeypatch) -> None:  # noqa: ANN001
    ring = verify_module.keyring_of(trail)
    monkeypatch.setitem(ring.single, "audit", b"\x05" * 32)
    assert _broken(trail) == (1, MODIFIED)


def test_an_exported_head_is_found_unchanged(trail: Session) -> None:
    head = ExportedHead(10, _hash(trail, 10))
    assert verify(trail, head=head).ok
    assert _broken(trail, head=ExportedHead(10, b"\x06" * 32)) == (10, MODIFIED)


def test_a_trail_cut_below_an_exported_head_is_reported(trail: Session) -> None:
    """Someone deletes the newest entries and rewrites the head row: the exported head shows it."""
    head = ExportedHead(COUNT, _hash(trail, COUNT))
    kept = _hash(trail, 17)
    tamper(trail, ["DELETE FROM audit_event WHERE seq > 17",
                   "UPDATE audit_head SET seq = 17, last_hash = :kept"], kept=kept)
    assert verify(trail).ok  # the cut is invisible without the exported head
    assert _broken(trail, head=head) == (18, DELETED)


def test_entries_written_after_the_walk_began_are_not_a_break(trail: Session) -> None:
    record(trail, CLI, "records:patient:read", ("patient", "P21"))
    trail.commit()
    assert verify(trail).count == COUNT + 1
    assert len(entries(trail)) == COUNT + 1


def test_an_exported_head_is_read_from_its_json() -> None:
    head = ExportedHead.from_json({"seq": 3, "hash": "ab" * 32, "at": None})
    assert (head.seq, head.hash) == (3, b"\xab" * 32)
    for bad in ({}, {"seq": 1}, {"seq": "x", "hash": "ab" * 32}, {"seq": 1, "hash": "zz"},
                {"seq": 1, "hash": "ab"}, {"seq": -1, "hash": "ab" * 32}, []):
        with pytest.raises(ValueError, match="not an exported audit head"):
            ExportedHead.from_json(bad)
