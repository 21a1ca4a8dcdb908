"""Rights requests (referential section 11), their transitions, suspensions and answers.

The workflow lives in the database as much as in the code: a request's state, kind, requester
and channel are closed lists, and each state carries the columns it needs (CheckConstraints),
so that a row that skips a step cannot be stored even by a raw INSERT.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import date, datetime
from typing import cast

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import User
from portal.db import Base, UTCDateTime, bool_false, created_at
from portal.records.models import Patient


class RequestKind(enum.StrEnum):
    """The right invoked."""

    ACCESS = "access"
    RECTIFICATION = "rectification"
    LIMITATION = "limitation"
    # Section 11.3: recorded and answered with a templated refusal.
    OPPOSITION = "opposition"
    ERASURE = "erasure"
    PORTABILITY = "portability"

    @property
    def applies(self) -> bool:
        """True for the rights that apply to this processing (access, rectification, limitation)."""
        return self in APPLICABLE_KINDS


APPLICABLE_KINDS = frozenset({RequestKind.ACCESS, RequestKind.RECTIFICATION,
                              RequestKind.LIMITATION})
NOT_APPLICABLE_KINDS = frozenset(RequestKind) - APPLICABLE_KINDS


class RequesterType(enum.StrEnum):
    """Who exercises the right (section 11.4 to 11.6)."""

    PATIENT_VIA_DOCTOR = "patient_via_doctor"
    PATIENT_DIRECT = "patient_direct"
    RELATIVE = "relative"
    LEGAL_REPRESENTATIVE = "legal_representative"
    PROFESSIONAL_SELF = "professional_self"


class Channel(enum.StrEnum):
    """How the request reached the laboratory."""

    PORTAL = "portal"
    EMAIL = "email"
    POST = "post"
    #: the public request form, without an account (the requester is unverified)
    WEB = "web"


class RequestState(enum.StrEnum):
    """Where a request stands."""

    #: arrived through the public form: nobody has checked who wrote it yet
    UNVERIFIED = "unverified"
    RECEIVED = "received"
    IDENTITY_PENDING = "identity_pending"
    IN_PROGRESS = "in_progress"
    EXTENDED = "extended"
    ANSWERED = "answered"
    REFUSED = "refused"
    CLOSED = "closed"


S = RequestState
#: the allowed transitions; anything else is refused by the services
TRANSITIONS: dict[RequestState, frozenset[RequestState]] = {
    # Nothing is handled before the requester's identity is checked (or the request refused).
    S.UNVERIFIED: frozenset({S.IDENTITY_PENDING, S.REFUSED}),
    S.RECEIVED: frozenset({S.IDENTITY_PENDING, S.IN_PROGRESS, S.EXTENDED, S.ANSWERED,
                           S.REFUSED}),
    S.IDENTITY_PENDING: frozenset({S.IN_PROGRESS, S.REFUSED}),
    S.IN_PROGRESS: frozenset({S.IDENTITY_PENDING, S.EXTENDED, S.ANSWERED, S.REFUSED}),
    S.EXTENDED: frozenset({S.ANSWERED, S.REFUSED}),
    S.ANSWERED: frozenset({S.CLOSED}),
    S.REFUSED: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
}
#: states in which the art. 12(3) clock matters
OPEN_STATES = frozenset({S.UNVERIFIED, S.RECEIVED, S.IDENTITY_PENDING, S.IN_PROGRESS, S.EXTENDED})


class RefusalReason(enum.StrEnum):
    """Why a request is refused; each has its own letter template."""

    #: opposition, erasure or portability: they do not apply (section 11.3)
    NOT_APPLICABLE = "not_applicable"
    #: a relative's request would reveal what medical secrecy covers (section 11.5)
    MEDICAL_SECRECY = "medical_secrecy"
    #: the identity could not be confirmed through the physician or centre named
    IDENTITY_UNCONFIRMED = "identity_unconfirmed"
    #: manifestly unfounded or excessive (art. 12(5)); needs a written justification
    UNFOUNDED_OR_EXCESSIVE = "unfounded_or_excessive"
    #: no data about the requester is processed in the portal
    NO_DATA = "no_data"


class ExtensionReason(enum.StrEnum):
    """The two grounds of art. 12(3) for two more months."""

    COMPLEXITY = "complexity"
    NUMBER_OF_REQUESTS = "number_of_requests"


class RelativeBasis(enum.StrEnum):
    """On what ground a relative asks (section 11.5; art. L1110-4 CSP after a death)."""

    #: a person affected by the patient's taking of the drug, about their own data
    AFFECTED_PERSON = "affected_person"
    #: heir, partner or PACS partner after death: to know the causes of death
    CAUSES_OF_DEATH = "causes_of_death"
    #: ... to defend the memory of the deceased
    DEFEND_MEMORY = "defend_memory"
    #: ... to assert their own rights
    ASSERT_RIGHTS = "assert_rights"


def _in(column: str, values: enum.EnumMeta) -> str:
    listed = ", ".join(f"'{member.value}'" for member in cast(Iterable[enum.Enum], values))
    return f"{column} IN ({listed})"


_APPLICABLE = ", ".join(f"'{k.value}'" for k in sorted(APPLICABLE_KINDS))


#: the open states, as SQL (the inbox's partial indexes and its query use the same text)
OPEN_SQL = "state IN ({})".format(", ".join(f"'{st.value}'" for st in sorted(OPEN_STATES)))


class RightsRequest(Base):
    """One request to exercise a right, from receipt to closure, kept as evidence."""

    __tablename__ = "rights_request"
    __table_args__ = (
        CheckConstraint(_in("kind", RequestKind), name="kind_known"),
        CheckConstraint(_in("requester_type", RequesterType), name="requester_known"),
        CheckConstraint(_in("channel", Channel), name="channel_known"),
        CheckConstraint(_in("state", RequestState), name="state_known"),
        CheckConstraint(
            f"refusal_reason IS NULL OR {_in('refusal_reason', RefusalReason)}",
            name="refusal_reason_known",
        ),
        CheckConstraint(
            f"extension_reason IS NULL OR {_in('extension_reason', ExtensionReason)}",
            name="extension_reason_known",
        ),
        CheckConstraint(
            f"relative_basis IS NULL OR {_in('relative_basis', RelativeBasis)}",
            name="relative_basis_known",
        ),
        # The portal channel is the professionals' own: they are authenticated submitters.
        CheckConstraint("channel <> 'portal' OR submitted_by_id IS NOT NULL",
                        name="portal_has_submitter"),
        # A professional's own data, or a patient named by a case (resolved or to review);
        # the public form may come without a case number (the DPO finds it with the centre).
        CheckConstraint(
            "(requester_type = 'professional_self' AND subject_user_id IS NOT NULL "
            "AND patient_id IS NULL) OR (requester_type <> 'professional_self' "
            "AND (patient_id IS NOT NULL OR case_index IS NOT NULL OR channel = 'web'))",
            name="subject_named",
        ),
        # A patient writing directly names the physician or centre that confirms identity
        # (on the public form, in words the DPO reads in the sealed details).
        CheckConstraint(
            "requester_type <> 'patient_direct' OR via_professional_id IS NOT NULL "
            "OR via_establishment_id IS NOT NULL OR channel = 'web'",
            name="direct_names_confirmer",
        ),
        CheckConstraint("requester_type <> 'relative' OR relative_basis IS NOT NULL",
                        name="relative_has_basis"),
        CheckConstraint("original_due_on <= due_on", name="due_not_before_original"),
        # Extended: one extension, 1 or 2 months, with its reason and new due date.
        CheckConstraint(
            "state <> 'extended' OR extension_recorded_at IS NOT NULL",
            name="extended_recorded",
        ),
        CheckConstraint(
            "(extension_recorded_at IS NULL AND extension_reason IS NULL "
            "AND extension_months IS NULL AND extended_due_on IS NULL) OR "
            "(extension_recorded_at IS NOT NULL AND extension_reason IS NOT NULL "
            "AND extension_months BETWEEN 1 AND 2 AND extended_due_on > original_due_on)",
            name="extension_complete",
        ),
        CheckConstraint("state <> 'answered' OR answered_at IS NOT NULL",
                        name="answered_has_time"),
        CheckConstraint(
            "state <> 'refused' OR (refused_at IS NOT NULL AND refusal_reason IS NOT NULL)",
            name="refused_has_reason",
        ),
        CheckConstraint(
            "state <> 'closed' OR (closed_at IS NOT NULL AND "
            "(answered_at IS NOT NULL OR refused_at IS NOT NULL))",
            name="closed_after_outcome",
        ),
        CheckConstraint("answered_at IS NULL OR refused_at IS NULL", name="one_outcome"),
        # Only access, rectification and limitation can be answered (section 11.3).
        CheckConstraint(f"answered_at IS NULL OR kind IN ({_APPLICABLE})",
                        name="answer_only_applicable"),
        # Art. 12(5): a refusal as unfounded or excessive is written down.
        CheckConstraint(
            "refusal_reason IS NULL OR refusal_reason <> 'unfounded_or_excessive' "
            "OR refusal_justification IS NOT NULL",
            name="unfounded_justified",
        ),
        # Nothing is disclosed to a patient writing directly before confirmation (RGT-04).
        CheckConstraint(
            "requester_type <> 'patient_direct' OR answered_at IS NULL "
            "OR identity_confirmed_at IS NOT NULL",
            name="direct_confirmed_before_answer",
        ),
        # Section 11.5: a relative's answer is checked against medical secrecy.
        CheckConstraint(
            "requester_type <> 'relative' OR answered_at IS NULL "
            "OR secrecy_checked_at IS NOT NULL",
            name="relative_secrecy_checked",
        ),
        # A request the portal could not link by itself (a case outside the professional's
        # perimeter, a letter, the public form) is answered only once the DPO has linked the
        # case, confirmed the identity and confirmed the requester's relation to the case.
        CheckConstraint(
            "answered_at IS NULL OR NOT manual_review OR (review_cleared_at IS NOT NULL "
            "AND identity_confirmed_at IS NOT NULL AND relation_confirmed_at IS NOT NULL)",
            name="reviewed_before_answer",
        ),
        # A doctor without a portal account is identified before anything is disclosed.
        CheckConstraint(
            "doctor_rpps IS NULL OR answered_at IS NULL OR identity_confirmed_at IS NOT NULL",
            name="doctor_confirmed_before_answer",
        ),
        CheckConstraint(
            "limitation_applied_at IS NULL OR kind = 'limitation'", name="limitation_kind"
        ),
        # Art. 18(3): the requester is informed before the limitation is lifted.
        CheckConstraint(
            "limitation_lifted_at IS NULL OR (limitation_applied_at IS NOT NULL "
            "AND lift_notified_at IS NOT NULL AND lift_notified_at <= limitation_lifted_at)",
            name="lift_after_notice",
        ),
        Index("ix_rights_request_state_due", "state", "due_on"),
        # Keyset pages of the DPO's inbox (queries.py), over the open requests only: closed
        # ones pile up for years and must not slow the page down.
        Index("ix_rights_request_open_due", "due_on", "id",
              sqlite_where=text(OPEN_SQL), postgresql_where=text(OPEN_SQL)),
        Index("ix_rights_request_open_received", "received_at", "id",
              sqlite_where=text(OPEN_SQL), postgresql_where=text(OPEN_SQL)),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: opaque random reference used in URLs
    handle: Mapped[str] = mapped_column(String(32), unique=True)
    #: a RequestKind value
    kind: Mapped[str] = mapped_column(String(16))
    #: a RequesterType value
    requester_type: Mapped[str] = mapped_column(String(24))
    #: a Channel value
    channel: Mapped[str] = mapped_column(String(8))
    #: a RequestState value
    state: Mapped[str] = mapped_column(String(20), index=True)
    #: the patient concerned, once the case is matched; the case reference stays if the
    #: patient row goes at the end of its retention
    patient_id: Mapped[int | None] = mapped_column(
        ForeignKey("patient.id", ondelete="SET NULL"), index=True
    )
    #: keyed blind index of the case number the requester typed (never stored in clear: the
    #: typed value is in the sealed details); matches requests naming the same case
    case_index: Mapped[str | None] = mapped_column(String(64), index=True)
    #: the professional whose own data is asked about
    subject_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: the professional who submitted it in the portal; the answer goes to them
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: the person who recorded it (the DPO for a letter or an e-mail)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: the physician through whom identity is confirmed and the answer sent (direct requests)
    via_professional_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: the centre through which identity is confirmed, when no physician is named
    via_establishment_id: Mapped[int | None] = mapped_column(ForeignKey("establishment.id"))
    #: RPPS number (check digit verified) of a doctor of the patient's choice who has no
    #: portal account; the doctor's name is in the sealed details
    doctor_rpps: Mapped[str | None] = mapped_column(String(11))
    #: a RelativeBasis value, for a relative
    relative_basis: Mapped[str | None] = mapped_column(String(24))
    #: when the request was received (the art. 12(3) clock starts)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: one month after receipt (end-of-month rule), before any suspension or extension
    original_due_on: Mapped[date] = mapped_column(Date)
    #: the current due date: suspensions that ended and the extension included
    due_on: Mapped[date] = mapped_column(Date)
    #: identity confirmed (through the named physician or centre, or on a reasonable doubt)
    identity_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    identity_confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: set when the submitter named a case outside their establishments: the DPO reviews it
    manual_review: Mapped[bool_false]
    review_cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    review_cleared_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: the DPO confirmed that the requester acts for this patient (their doctor of choice,
    #: their relative, their representative), when the portal could not tell by itself
    relation_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    relation_confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: the one extension: when its notice was recorded, why, by how much, new due date
    extension_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    extension_reason: Mapped[str | None] = mapped_column(String(24))
    extension_months: Mapped[int | None] = mapped_column(Integer)
    extended_due_on: Mapped[date | None] = mapped_column(Date)
    #: section 11.5: the DPO checked that a relative's answer reveals nothing under secrecy
    secrecy_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    secrecy_checked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    refused_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    refused_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: a RefusalReason value
    refusal_reason: Mapped[str | None] = mapped_column(String(32))
    #: the DPO's written justification (art. 12(5)); never logged
    refusal_justification: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: limitation: when the records were frozen, when the requester was told of the lifting,
    #: and when it was lifted
    limitation_applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lift_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    limitation_lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[created_at]

    patient: Mapped[Patient | None] = relationship()
    submitted_by: Mapped[User | None] = relationship(foreign_keys=[submitted_by_id])
    subject_user: Mapped[User | None] = relationship(foreign_keys=[subject_user_id])
    via_professional: Mapped[User | None] = relationship(foreign_keys=[via_professional_id])
    events: Mapped[list[RightsRequestEvent]] = relationship(
        back_populates="request", order_by="RightsRequestEvent.id",
        cascade="all, delete-orphan", passive_deletes=True,
    )
    suspensions: Mapped[list[RightsSuspension]] = relationship(
        back_populates="request", order_by="RightsSuspension.id",
        cascade="all, delete-orphan", passive_deletes=True,
    )
    answer: Mapped[RightsAnswer | None] = relationship(
        back_populates="request", cascade="all, delete-orphan", passive_deletes=True,
    )
    details: Mapped[RightsRequestDetails | None] = relationship(
        back_populates="request", cascade="all, delete-orphan", passive_deletes=True,
    )

    audit_type = "rights_request"

    @property
    def audit_ref(self) -> str:
        return self.number

    @property
    def number(self) -> str:
        """The reference people quote: DR- and the id on six digits."""
        return f"DR-{self.id:06d}"

    @property
    def kind_enum(self) -> RequestKind:
        return RequestKind(self.kind)

    @property
    def state_enum(self) -> RequestState:
        return RequestState(self.state)

    @property
    def is_open(self) -> bool:
        return self.state_enum in OPEN_STATES

    @property
    def outcome_at(self) -> datetime | None:
        """When it was answered or refused (the start of its retention period)."""
        return self.answered_at or self.refused_at

    def __repr__(self) -> str:
        return f"<RightsRequest {self.id} {self.kind} {self.state}>"


class RightsRequestEvent(Base):
    """One transition of a request: from, to, who, when and why (a reason code)."""

    __tablename__ = "rights_request_event"
    __table_args__ = (
        CheckConstraint(_in("to_state", RequestState), name="to_state_known"),
        CheckConstraint(f"from_state IS NULL OR {_in('from_state', RequestState)}",
                        name="from_state_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("rights_request.id", ondelete="CASCADE"), index=True
    )
    #: None for the creation of the request
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    #: who made the transition (None for the CLI or a system job)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: the login or operator label, kept when the account goes
    actor_label: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: why: a short code (e.g. identity_confirmed, extension_complexity, not_applicable)
    reason: Mapped[str] = mapped_column(String(40))

    request: Mapped[RightsRequest] = relationship(back_populates="events")


class RightsSuspension(Base):
    """A period during which the art. 12(3) clock stood still (identity pending)."""

    __tablename__ = "rights_suspension"
    __table_args__ = (
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ordered"),
        # At most one open suspension per request.
        Index("uq_rights_suspension_open", "request_id", unique=True,
              sqlite_where=text("ended_at IS NULL"), postgresql_where=text("ended_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("rights_request.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    request: Mapped[RightsRequest] = relationship(back_populates="suspensions")


class RightsAnswer(Base):
    """The assembled access answer, sealed: art. 15 information and the copy of the data.

    The copy holds health data, so it is stored like a submission: AES-256-GCM under its own
    data key, wrapped by the key-encryption key, bound to this row's handle.
    """

    __tablename__ = "rights_answer"
    __table_args__ = (UniqueConstraint("request_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("rights_request.id", ondelete="CASCADE"))
    #: opaque random reference, also the associated data of the ciphertext
    handle: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[created_at]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: version of the key-encryption key wrapping the data key
    kek_version: Mapped[int] = mapped_column(Integer)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    #: the answer as JSON, sealed
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    #: SHA-256 of the JSON: proves later which answer was sent
    digest: Mapped[str] = mapped_column(String(64))
    #: when the requesting professional first opened it
    first_disclosed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    request: Mapped[RightsRequest] = relationship(back_populates="answer")


class RightsRequestDetails(Base):
    """What a person typed about a request (case number, references, names, contact), sealed.

    Nothing typed is kept in clear: the values are sealed like a submission, under their own
    data key wrapped by the key-encryption key and bound to this row's handle and its request,
    for the DPO to read; the request keeps only a keyed blind index of the case number.
    """

    __tablename__ = "rights_request_details"
    __table_args__ = (UniqueConstraint("request_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("rights_request.id", ondelete="CASCADE"))
    #: opaque random reference, part of the associated data of the ciphertext
    handle: Mapped[str] = mapped_column(String(32), unique=True)
    kek_version: Mapped[int] = mapped_column(Integer)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    #: the typed values as JSON, sealed
    payload: Mapped[bytes] = mapped_column(LargeBinary)

    request: Mapped[RightsRequest] = relationship(back_populates="details")
