"""Walking the chain: report the first modified, deleted, inserted or reordered entry.

The table is streamed in sequence order (server-side cursor on PostgreSQL), one row in memory at
a time; only when a break is found are up to `LOOKAHEAD` following rows read to tell what kind
of break it is. Without the audit key nobody can write an entry that verifies, so:

- a gap in the numbering is a deletion;
- an entry whose predecessor (by `prev_hash`) comes later in the table is a reordering;
- an entry followed by the true successor of the previous entry is an insertion;
- an entry that is genuine under a higher sequence number means entries were deleted and the
  rest renumbered;
- anything else that fails its HMAC is a modification.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.audit.models import GENESIS_HASH, AuditCheckpoint, AuditEvent, AuditHead
from portal.audit.services import canonical, chain_hash
from portal.keys import keyring_of

#: rows read after a break to classify it
LOOKAHEAD = 1000
#: rows fetched per round trip while streaming
BATCH = 5000

MODIFIED = "modified"
DELETED = "deleted"
INSERTED = "inserted"
REORDERED = "reordered"
CHECKPOINT = "checkpoint"
HEAD = "head"

CHECKPOINT_LABEL = b"aac-portal audit checkpoint v1\x00"


@dataclass(frozen=True)
class ExportedHead:
    """A chain head kept elsewhere: the trail must still contain it unchanged."""

    seq: int
    hash: bytes
    #: how the reports name it: "exported head" (`--head FILE`) or "anchored head"
    origin: str = field(default="exported head", compare=False)

    @classmethod
    def from_json(cls, data: Any) -> ExportedHead:
        """Read the JSON written by `portal audit head`; ValueError when it is not one."""
        try:
            seq = int(data["seq"])
            digest = bytes.fromhex(str(data["hash"]))
        except (KeyError, TypeError, ValueError):
            raise ValueError("not an exported audit head: it needs seq and hash") from None
        if seq < 0 or len(digest) != 32:
            raise ValueError("not an exported audit head: bad seq or hash length")
        return cls(seq, digest)


@dataclass(frozen=True)
class Break:
    """The first place where the chain does not hold."""

    seq: int
    kind: str
    reason: str


@dataclass
class VerifyResult:
    """What a walk of the chain found."""

    count: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    checkpoint_seq: int | None = None
    problem: Break | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None


def checkpoint_fields(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    """Return the MAC-protected fields of a purge checkpoint."""
    return {
        "seq": checkpoint.seq,
        "hash": bytes(checkpoint.hash).hex(),
        "created_at": checkpoint.created_at.isoformat(timespec="microseconds"),
        "actor_kind": checkpoint.actor_kind,
        "actor_label": checkpoint.actor_label,
        "retention_days": checkpoint.retention_days,
        "deleted": checkpoint.deleted,
    }


def checkpoint_mac(key: bytes, checkpoint: AuditCheckpoint) -> bytes:
    """Return the MAC of a checkpoint under the audit key."""
    return hmac.new(key, CHECKPOINT_LABEL + canonical(checkpoint_fields(checkpoint)),
                    hashlib.sha256).digest()


def latest_checkpoint(session: Session) -> AuditCheckpoint | None:
    """Return the checkpoint of the most recent purge, if any."""
    return session.scalars(
        select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)
    ).first()


#: the columns read while walking, in this order
_FIELDS = ("seq", "at", "actor_kind", "actor_id", "actor_label", "session_hash", "action",
           "target_type", "target_ref", "outcome", "client_address", "details")
_COLUMNS = [AuditEvent.__table__.c[name] for name in (*_FIELDS, "prev_hash", "hash")]


class _Entry:
    """One row of the walk, read by position (much faster than by name)."""

    __slots__ = ("seq", "fields", "prev_hash", "hash")

    def __init__(self, row: Any) -> None:
        fields = dict(zip(_FIELDS, row, strict=False))
        fields["at"] = fields["at"].isoformat(timespec="microseconds")
        self.seq: int = fields["seq"]
        self.fields = fields
        self.prev_hash = bytes(row[12])
        self.hash = bytes(row[13])


def _genuine(key: bytes, entry: _Entry, seq: int | None = None) -> bool:
    fields = entry.fields if seq is None else {**entry.fields, "seq": seq}
    return hmac.compare_digest(chain_hash(key, entry.prev_hash, fields), entry.hash)


def _diagnose(
    key: bytes, row: _Entry, rest: Iterator[_Entry], expected_seq: int, expected_prev: bytes,
    head_seq: int | None,
) -> Break:
    if row.seq > expected_seq:
        missing = (f"entry {expected_seq} is missing" if row.seq == expected_seq + 1
                   else f"entries {expected_seq} to {row.seq - 1} are missing")
        return Break(expected_seq, DELETED, missing)
    if head_seq is not None and row.seq > head_seq:
        return Break(row.seq, INSERTED, f"entry {row.seq} lies beyond the chain head {head_seq}")
    prev = row.prev_hash
    if _genuine(key, row):
        return Break(row.seq, MODIFIED, "the entry does not follow the previous one")
    following = [next_row for _, next_row in zip(range(LOOKAHEAD), rest, strict=False)]
    if any(r.hash == prev for r in following):
        return Break(row.seq, REORDERED, "the entry that precedes it comes after it")
    if any(r.prev_hash == expected_prev for r in following):
        return Break(row.seq, INSERTED, "the true successor of the previous entry comes later")
    if prev != expected_prev:
        for shift in range(1, LOOKAHEAD + 1):
            if _genuine(key, row, row.seq + shift):
                return Break(row.seq, DELETED,
                             f"the entry was number {row.seq + shift}: entries were deleted "
                             "and the rest renumbered")
    return Break(row.seq, MODIFIED, "the entry was changed after it was written")


def verify(
    session: Session, head: ExportedHead | None = None, *,
    anchors: Sequence[ExportedHead] = (),
) -> VerifyResult:
    """Walk the whole chain from the latest purge checkpoint; stop at the first break.

    :param head: an exported head the trail must still contain unchanged.
    :param anchors: the genuine anchors kept outside the database (anchor.py), each checked the
        same way; those the purge has passed are skipped without a note.
    """
    key = keyring_of(session).key("audit")
    result = VerifyResult()
    checkpoint = latest_checkpoint(session)
    expected_seq, expected_prev = 1, GENESIS_HASH
    if checkpoint is not None:
        result.checkpoint_seq = checkpoint.seq
        if not hmac.compare_digest(checkpoint_mac(key, checkpoint), bytes(checkpoint.mac)):
            result.problem = Break(checkpoint.seq, CHECKPOINT,
                                   "the purge checkpoint was not written by the portal")
            return result
        expected_seq, expected_prev = checkpoint.seq + 1, bytes(checkpoint.hash)
    leftover = session.scalar(select(func.min(AuditEvent.seq)).where(AuditEvent.seq < expected_seq))
    if leftover is not None:
        result.problem = Break(leftover, INSERTED,
                               "the entry lies before the purge checkpoint")
        return result

    head_row = session.execute(select(AuditHead.seq, AuditHead.last_hash)).first()
    head_seq = int(head_row.seq) if head_row is not None else None
    # Old anchors behind the checkpoint are expected: only the explicit head gets a note.
    heads = [kept for kept in anchors if checkpoint is None or kept.seq >= checkpoint.seq]
    if head is not None:
        heads.insert(0, head)
    wanted: dict[int, list[ExportedHead]] = {}
    for kept in heads:
        _check_exported_head_before_walk(kept, checkpoint, result)
        if result.problem:
            return result
        wanted.setdefault(kept.seq, []).append(kept)

    # Core on the session's connection: same transaction, no ORM row processing.
    stream = session.connection().execute(
        select(*_COLUMNS).where(AuditEvent.seq >= expected_seq).order_by(AuditEvent.seq)
        .execution_options(yield_per=BATCH)
    )
    try:
        rows = map(_Entry, stream)
        for row in rows:
            if (row.seq != expected_seq or row.prev_hash != expected_prev
                    or not _genuine(key, row)):
                result.problem = _diagnose(key, row, rows, expected_seq, expected_prev, head_seq)
                return result
            if row.seq in wanted:
                for kept in wanted[row.seq]:
                    if row.hash != kept.hash:
                        result.problem = Break(row.seq, MODIFIED,
                                               f"the entry differs from the {kept.origin}")
                        return result
            if result.first_seq is None:
                result.first_seq = row.seq
            result.last_seq = row.seq
            result.count += 1
            expected_prev = row.hash
            expected_seq += 1
    finally:
        stream.close()

    _check_tail(session, result, expected_seq, expected_prev, heads)
    return result


def _check_exported_head_before_walk(
    head: ExportedHead, checkpoint: AuditCheckpoint | None, result: VerifyResult
) -> None:
    if checkpoint is None or head.seq > checkpoint.seq:
        return
    if head.seq == checkpoint.seq and bytes(checkpoint.hash) != head.hash:
        result.problem = Break(head.seq, MODIFIED,
                               f"the purge checkpoint differs from the {head.origin}")
    elif head.seq < checkpoint.seq:
        result.notes.append(f"the {head.origin} {head.seq} was purged; it cannot be checked")


def _check_tail(
    session: Session, result: VerifyResult, next_seq: int, last_hash: bytes,
    heads: list[ExportedHead],
) -> None:
    last_seq = next_seq - 1
    for kept in sorted(heads, key=lambda h: h.seq, reverse=True):
        if kept.seq > last_seq:
            result.problem = Break(next_seq, DELETED,
                                   f"the trail ends before the {kept.origin} {kept.seq}")
            return
    # Read the head row again: entries committed during the walk moved it forward legitimately.
    head_row = session.execute(select(AuditHead.seq, AuditHead.last_hash)).first()
    if head_row is None:
        if last_seq > 0:
            result.problem = Break(last_seq, HEAD, "the chain head row is missing")
        return
    if head_row.seq > last_seq:
        newer = session.scalar(select(func.min(AuditEvent.seq)).where(AuditEvent.seq > last_seq))
        if newer is None:
            result.problem = Break(next_seq, DELETED,
                                   f"the trail ends before the chain head {head_row.seq}")
        return
    if head_row.seq < last_seq:
        result.problem = Break(head_row.seq + 1, INSERTED,
                               f"entries lie beyond the chain head {head_row.seq}")
        return
    if bytes(head_row.last_hash) != last_hash:
        result.problem = Break(last_seq, HEAD, "the chain head does not match the last entry")
