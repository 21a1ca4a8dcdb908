"""Patients and their submissions: everything a person typed is stored sealed (SEC-CRY-1).

In clear stay only what the portal itself generates or needs to find rows: opaque handles, the
case number, the establishment, the form key (as an opaque keyed code: which form a patient has
is itself health data), statuses, timestamps, who acted, and the keyed blind index that warns of
a probable duplicate. Identification letters, birth data, weight and height (a patient's
`identity`) and every answer (a submission revision's `payload`) are sealed with AES-256-GCM
under their own data key, wrapped by a versioned key-encryption key.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.access.models import Establishment
from portal.db import Base, UTCDateTime, created_at
from portal.protocols.models import ProtocolVersion
from portal.records.form_codes import FormKey


class Patient(Base):
    """A patient followed under a protocol, known to people by an opaque case number."""

    __tablename__ = "patient"
    __table_args__ = (
        CheckConstraint(
            "(limited_at IS NULL AND limitation_reason IS NULL) OR "
            "(limited_at IS NOT NULL AND limitation_reason IS NOT NULL)",
            name="limitation_has_reason",
        ),
        # Keyset pages of the patient lists, newest or oldest first (overview.py): across
        # every establishment, and inside one establishment's perimeter.
        Index("ix_patient_created", "created_at", "id"),
        Index("ix_patient_establishment_created", "establishment_id", "created_at", "id"),
        # An index rather than a constraint: SQLite adds and drops it in place (migration
        # 90d1ce2934e4), without copying the table the submissions point at.
        Index("ix_patient_reference", "reference", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: random URL handle: addresses carry nothing else about a patient
    handle: Mapped[str] = mapped_column(String(32), unique=True)
    #: the opaque case number shown on pages and in exports (random, not a sequence)
    case_number: Mapped[str] = mapped_column(String(16), unique=True)
    #: the case's opaque reference (`portal.sealing.case_reference`): the only name of the case
    #: in audit entries, so that none of them holds the case number once the case is purged
    reference: Mapped[str] = mapped_column(String(40))
    #: the protocol the patient is followed under
    protocol_key: Mapped[str] = mapped_column(String(64), index=True)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id"), index=True)
    #: sealed JSON: identification letters, sex, birth month/year (day if paediatric), weight,
    #: height
    identity: Mapped[bytes] = mapped_column(LargeBinary)
    #: the identity's data key, wrapped by key-encryption key `kek_version`
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    kek_version: Mapped[int] = mapped_column(Integer, index=True)
    #: HMAC-SHA-256 over letters, birth month/year, sex and establishment (duplicate warning)
    duplicate_index: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[created_at]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: right to limitation (section 11): while set, nothing can be filled or changed
    limited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    limited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: a LimitationReason code
    limitation_reason: Mapped[str | None] = mapped_column(String(32))
    #: the rights request behind the limitation (e.g. DR-000012), when there is one
    limitation_request_ref: Mapped[str | None] = mapped_column(String(32))

    establishment: Mapped[Establishment] = relationship()

    audit_type = "patient"

    @property
    def audit_ref(self) -> str:
        return self.reference

    @property
    def is_limited(self) -> bool:
        return self.limited_at is not None

    def __repr__(self) -> str:
        return f"<Patient {self.id} {self.case_number}>"


class Submission(Base):
    """One filled protocol form of a patient: a draft, then a submitted record with revisions.

    `version` is the optimistic concurrency counter: every change bumps it, and a change made
    from a page showing an older version is refused (the second editor gets a conflict page).
    """

    __tablename__ = "submission"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'submitted')", name="status_known"),
        CheckConstraint("status = 'draft' OR submitted_at IS NOT NULL", name="submitted_has_date"),
        # A form that is not repeatable exists once per patient (drafts included): two tabs
        # opening the same initiation cannot create two of them.
        UniqueConstraint("patient_id", "singleton_key"),
        # Keyset pages of the pharmacovigilance review list, by submission time.
        Index("ix_submission_submitted", "submitted_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: random URL handle; also part of the associated data of the sealed revisions
    handle: Mapped[str] = mapped_column(String(32), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    #: the protocol version the form was filled against (it always re-renders with it)
    protocol_version_id: Mapped[int] = mapped_column(ForeignKey("protocol_version.id"))
    #: stored as its keyed code, never in clear (`portal.records.form_codes`)
    form_key: Mapped[str] = mapped_column(FormKey(), index=True)
    #: the form key for a non-repeatable form, None for repeatable ones (see the constraint)
    singleton_key: Mapped[str | None] = mapped_column(FormKey())
    #: draft | submitted
    status: Mapped[str] = mapped_column(String(12))
    #: optimistic concurrency counter
    version: Mapped[int] = mapped_column(Integer, default=1)
    #: number of the current revision
    revision_number: Mapped[int] = mapped_column(Integer, default=1)
    #: the follow-up an adverse-event or pregnancy form was opened from
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("submission.id"))
    created_at: Mapped[created_at]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    patient: Mapped[Patient] = relationship()
    protocol_version: Mapped[ProtocolVersion] = relationship()
    revisions: Mapped[list[SubmissionRevision]] = relationship(
        back_populates="submission", order_by="SubmissionRevision.number"
    )

    __mapper_args__ = {"version_id_col": version}

    audit_type = "submission"

    @property
    def audit_ref(self) -> str:
        return f"S{self.id}"

    @property
    def is_draft(self) -> bool:
        return self.status == "draft"

    def __repr__(self) -> str:
        return f"<Submission {self.id} {self.form_key} {self.status}>"


class SubmissionRevision(Base):
    """One stored state of a submission's answers, sealed; earlier revisions are kept."""

    __tablename__ = "submission_revision"
    __table_args__ = (
        UniqueConstraint("submission_id", "number"),
        CheckConstraint("kind IN ('draft', 'original', 'rectification')", name="kind_known"),
        CheckConstraint("kind <> 'rectification' OR reason IS NOT NULL",
                        name="rectification_has_reason"),
        Index("ix_submission_revision_kek", "kek_version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id"))
    #: 1 for the first state, then one more per rectification
    number: Mapped[int] = mapped_column(Integer)
    #: draft (raw inputs, not validated) | original | rectification
    kind: Mapped[str] = mapped_column(String(16))
    #: a RectificationReason code, mandatory for a rectification
    reason: Mapped[str | None] = mapped_column(String(32))
    #: the rights request a rectification answers (e.g. DR-000012)
    request_ref: Mapped[str | None] = mapped_column(String(32))
    #: initiation forms: the version of the patient information note the prescriber attested
    notice_version: Mapped[str | None] = mapped_column(String(32))
    #: the idempotency token of the request that wrote this state: a resent request is a no-op
    token: Mapped[str] = mapped_column(String(64), unique=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: the author's login (or the CLI operator), kept for the history
    author_label: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[created_at]
    #: sealed JSON of the answers (or of the raw inputs of a draft)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    #: the payload's data key, wrapped by key-encryption key `kek_version`
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    kek_version: Mapped[int] = mapped_column(Integer)
    #: follow-ups: "early" or "late" when the professional confirmed a visit date outside its
    #: visit's window (None: inside, or nothing to check)
    visit_window: Mapped[str | None] = mapped_column(String(8))
    #: the `severity: warning` checks (unusual values) the professional confirmed on saving
    #: this state, by check key, comma-separated (None: none)
    confirmed_checks: Mapped[str | None] = mapped_column(String(1000))

    submission: Mapped[Submission] = relationship(back_populates="revisions")

    audit_type = "submission"

    @property
    def audit_ref(self) -> str:
        return f"S{self.submission_id}"


class EventHandOff(Base):
    """An adverse-event or pregnancy form handed off to the pharmacovigilance system.

    The portal only records the hand-off (who, when, which revision): the case is managed in
    the pharmacovigilance system. A form rectified afterwards is to hand off again.

    The row names its form by `event_ref`, a keyed opaque code of the submission
    (`pharmacovigilance.event_ref`), never by its id: a link from this table to a submission
    would tell whoever reads the database, without any key, that the patient had an event.
    """

    __tablename__ = "event_hand_off"
    __table_args__ = (UniqueConstraint("event_ref", "revision_number",
                                       name="uq_event_hand_off_revision"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: `ev1_` and 128 bits of an HMAC of the submission id (SEC-CRY-3a: its own derived key)
    event_ref: Mapped[str] = mapped_column(String(36), index=True)
    #: the revision of the form that was handed off
    revision_number: Mapped[int] = mapped_column(Integer)
    handed_off_at: Mapped[datetime] = mapped_column(UTCDateTime())
    handed_off_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: the login (or CLI operator) who handed it off, kept if the account goes
    handed_off_by_label: Mapped[str] = mapped_column(String(128))


class EventListVisit(Base):
    """When a person last looked at the pharmacovigilance list (to mark what is new)."""

    __tablename__ = "event_list_visit"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    #: the last time the list was shown to the person
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: the end of the visit before the current one: what came after it is new
    previous_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ScheduleState(Base):
    """Where a case's visit schedule stands, kept as data (`portal.records.schedule_state`).

    One row per case with a submitted initiation, follow-up or discontinuation, written in
    the transaction that stores, rectifies or ends the schedule; a case without one has
    nothing the schedule reads yet. The clear columns say only when the next visit is due,
    which the overview filters on; the schedule's inputs (visit dates, treatment start and
    stop, the visits' forms) are sealed in `facts`, so that a page showing the schedule opens
    one value instead of every form of the case.
    """

    __tablename__ = "schedule_state"

    #: its own key, as every sealed table has (the key rotation pages on it)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), unique=True)
    #: the protocol version whose definition computed the clear columns
    protocol_version_id: Mapped[int] = mapped_column(ForeignKey("protocol_version.id"))
    #: the first visit not done yet (None: the schedule ended, or nothing is left to do)
    next_visit: Mapped[str | None] = mapped_column(String(16))
    #: the form of that visit, as its keyed code
    next_form_key: Mapped[str | None] = mapped_column(FormKey())
    #: that visit's window (None with no initiation yet: the first visit is due at once)
    window_start: Mapped[date | None] = mapped_column(Date())
    window_end: Mapped[date | None] = mapped_column(Date())
    #: a discontinuation ended the schedule
    ended: Mapped[bool] = mapped_column(Boolean, default=False)
    #: a form of the case failed its integrity check when the state was rebuilt
    failed: Mapped[bool] = mapped_column(Boolean, default=False)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: sealed JSON: the schedule's inputs, one entry per submitted form it reads
    facts: Mapped[bytes | None] = mapped_column(LargeBinary)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    kek_version: Mapped[int | None] = mapped_column(Integer, index=True)

    @property
    def overdue_since(self) -> date | None:
        """The first day the next visit is overdue."""
        return self.window_end + timedelta(days=1) if self.window_end is not None else None
