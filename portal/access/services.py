"""Establishments, memberships and time-limited grants: the rules of section 8 and SEC-HAB.

Every function takes the session and the acting person (a `User`, or an `Actor` for the CLI
operator and system jobs), checks that the actor may act through the one policy
(`grant_lifecycle.require`), applies the rules, writes one audit entry through
`grant_lifecycle.audit` and flushes. Nothing here commits. The review and expiry jobs live in
review.py and the records perimeter in policy.py; both are re-exported here, so that other
areas import one module.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from portal import clock
from portal.access.actions import AccessAction
from portal.access.grant_lifecycle import (  # noqa: F401 - re-exported
    Acting,
    audit,
    end_grant,
    needs_approval,
    reactivate,
    require,
    review_anchor,
    review_due_at,
    role_reaches_health,
    user_id_of,
)
from portal.access.limits import (  # noqa: F401 - re-exported
    END_REASONS,
    MAX_AUDITOR_DAYS,
    MAX_GRANT_DAYS,
    MOTIVATIONS,
    PROTOCOL_KEY,
    REFERENCE,
    REVIEW_DECISIONS,
    REVIEW_GRACE,
    REVIEW_PERIOD,
)
from portal.access.models import AccessGrant, Category, Establishment, GrantStatus, Scope
from portal.access.policy import (  # noqa: F401 - re-exported
    Perimeter,
    establishment_ids_for,
    perimeter_for,
    scope_for,
)
from portal.access.review import (  # noqa: F401 - re-exported
    ExpiryReport,
    ReviewGroup,
    expire,
    grants_due_for_review,
    inactivity_days,
    review_grant,
)
from portal.accounts.models import User
from portal.audit.lookups import GrantPeriod
from portal.errors import BadRequest, Conflict, Forbidden
from portal.identifiers import is_valid_finess, looks_like_nir_or_ins, normalise_finess
from portal.permissions import HEALTHCARE_ROLES, Permission, Role

# --- establishments --------------------------------------------------------------------------


def create_establishment(session: Session, actor: Acting, finess: str, name: str,
                         city: str | None = None) -> Establishment:
    """Register an establishment by its FINESS number.

    :raises BadRequest: invalid FINESS number or empty name.
    :raises Conflict: the FINESS number is already registered.
    """
    require(session, actor, Permission.GRANT_ADMIN)
    finess = normalise_finess(finess or "")
    if not is_valid_finess(finess):
        raise BadRequest(_("This FINESS number is not valid: 9 characters with a correct check "
                           "key are expected."))
    name = (name or "").strip()
    if not name or len(name) > 160:
        raise BadRequest(_("The establishment needs a name of at most 160 characters."))
    city = (city or "").strip() or None
    if city is not None and len(city) > 80:
        raise BadRequest(_("The city name is limited to 80 characters."))
    if session.scalar(select(Establishment.id).where(Establishment.finess == finess)):
        raise Conflict(_("An establishment with this FINESS number already exists."))
    establishment = Establishment(finess=finess, name=name, city=city)
    session.add(establishment)
    session.flush()
    audit(session, actor, AccessAction.ESTABLISHMENT_CREATE, establishment)
    return establishment


def establishment_by_finess(session: Session, finess: str) -> Establishment | None:
    """Return the establishment with this FINESS number, or None."""
    return session.scalar(
        select(Establishment).where(Establishment.finess == normalise_finess(finess or ""))
    )


def add_member(session: Session, actor: Acting, user: User,
               establishment: Establishment) -> None:
    """Record that a person works in an establishment.

    :raises Conflict: the person is already a member.
    """
    require(session, actor, Permission.GRANT_ADMIN)
    if user in establishment.members:
        raise Conflict(_("%(name)s is already a member of this establishment.",
                         name=user.full_name))
    establishment.members.append(user)
    session.flush()
    audit(session, actor, AccessAction.MEMBER_ADD, establishment, user=user.audit_ref)


def remove_member(session: Session, actor: Acting, user: User,
                  establishment: Establishment) -> None:
    """Remove a person from an establishment that no current grant of theirs covers.

    :raises Conflict: not a member, or a grant not yet ended still covers the establishment.
    """
    require(session, actor, Permission.GRANT_ADMIN)
    if user not in establishment.members:
        raise Conflict(_("%(name)s is not a member of this establishment.", name=user.full_name))
    covering = [
        g for g in grants_of(session, user)
        if g.status in {GrantStatus.ACTIVE, GrantStatus.PENDING_APPROVAL, GrantStatus.SUSPENDED}
        and establishment in g.establishments
    ]
    if covering:
        raise Conflict(_("Withdraw the grants covering this establishment first (%(ids)s).",
                         ids=", ".join(f"#{g.id}" for g in covering)))
    establishment.members.remove(user)
    session.flush()
    audit(session, actor, AccessAction.MEMBER_REMOVE, establishment, user=user.audit_ref)


def memberships_of(session: Session, user: User) -> list[Establishment]:
    """Return the establishments a person belongs to."""
    from portal.access.models import membership

    return list(session.scalars(
        select(Establishment)
        .join(membership, membership.c.establishment_id == Establishment.id)
        .where(membership.c.user_id == user.id)
        .order_by(Establishment.name)
    ))


# --- grants ----------------------------------------------------------------------------------


class GrantRefused(BadRequest):
    """A grant request breaks one or more rules: `problems` holds (form field or None,
    message) for each, so that a page shows every one at once; the message joins them."""

    def __init__(self, problems: list[tuple[str | None, str]]) -> None:
        super().__init__(" ".join(message for _field, message in problems))
        self.problems = problems


@dataclass(frozen=True)
class GrantRequest:
    """What a grant request asks for, as typed (a form, the command line, a test).

    `grant_problems` and `request_grant` both take one; `normalised` gives the checked values.
    """

    user: User
    role: Role | str
    scope: Scope | str
    category: Category | str
    valid_from: datetime
    valid_until: datetime | None
    establishments: Iterable[Establishment] = ()
    protocol_key: str | None = None
    motivation: str | None = None
    motivation_reference: str | None = None

    def normalised(self) -> GrantRequest:
        """The same request with enum values, establishments once each, blanks as None.

        :raises BadRequest: unknown role, scope or category.
        """
        try:
            role, scope, category = Role(self.role), Scope(self.scope), Category(self.category)
        except ValueError:
            raise BadRequest(_("Unknown role, scope or category.")) from None
        return replace(
            self, role=role, scope=scope, category=category,
            establishments=tuple(dict.fromkeys(self.establishments)),
            protocol_key=_blank_to_none(self.protocol_key),
            motivation=_blank_to_none(self.motivation),
            motivation_reference=_blank_to_none(self.motivation_reference),
        )


def _blank_to_none(text: str | None) -> str | None:
    return (text or "").strip() or None


def grant_problems(session: Session, actor: Acting,
                   wanted: GrantRequest) -> list[tuple[str | None, str]]:
    """Return every rule of section 8 or SEC-HAB a grant request breaks: (field, message).

    The grant page asks for them even when its own form refused some values, so that the
    person sees every error at once; `request_grant` refuses a request that breaks any.

    :raises BadRequest: unknown role, scope or category.
    :raises Forbidden: a grant to oneself.
    """
    return _grant_problems(session, actor, wanted.normalised())


def _grant_problems(session: Session, actor: Acting,
                    wanted: GrantRequest) -> list[tuple[str | None, str]]:
    user, role, valid_from, valid_until = (wanted.user, wanted.role, wanted.valid_from,
                                           wanted.valid_until)
    category, protocol_key, establishments = (wanted.category, wanted.protocol_key,
                                              list(wanted.establishments))
    motivation, reference = wanted.motivation, wanted.motivation_reference
    if isinstance(actor, User) and actor.id == user.id:
        raise Forbidden(_("You cannot grant access to yourself: ask another administrator."))
    problems: list[tuple[str | None, str]] = []
    if user.is_disabled:
        problems.append((None, _("This account is disabled: it cannot receive a grant.")))
    dates_ok = False
    if valid_until is None:
        problems.append(("valid_until", _("The end date is mandatory.")))
    elif valid_from.tzinfo is None or valid_until.tzinfo is None:
        problems.append((None, _("Dates must carry a time zone.")))
    elif valid_until <= valid_from:
        problems.append(("valid_until", _("The end date must come after the start date.")))
    elif valid_until <= clock.now():
        problems.append(("valid_until", _("The end date is already past.")))
    elif valid_until - valid_from > timedelta(days=MAX_GRANT_DAYS):
        problems.append(("valid_until", _("A grant lasts at most %(days)d days: choose an "
                                          "earlier end date.", days=MAX_GRANT_DAYS)))
    else:
        dates_ok = True
    if category == Category.HEALTH and not role_reaches_health(Role(role)):
        problems.append(("category", _("This role never sees health data: choose the "
                                       "\"other data\" category.")))
    if protocol_key is not None and not PROTOCOL_KEY.fullmatch(protocol_key):
        problems.append(("protocol_key", _("The protocol key is not valid.")))
    if role == Role.ARCHIVIST:
        problems.extend(_archivist_problems(valid_from, valid_until, dates_ok, motivation,
                                            reference))
    elif role == Role.AUDITOR:
        if dates_ok and valid_until - valid_from > timedelta(days=MAX_AUDITOR_DAYS):  # type: ignore[operator]
            problems.append(("valid_until", _("Auditor access lasts at most %(days)d days.",
                                              days=MAX_AUDITOR_DAYS)))
        if motivation not in MOTIVATIONS:
            problems.append(("motivation", _("Auditor access needs a motivation chosen from "
                                             "the list.")))
        if (not reference or not REFERENCE.fullmatch(reference)
                or looks_like_nir_or_ins(reference)):
            problems.append(("motivation_reference", _(
                "Auditor access needs a reference number (letters, digits, dots, slashes and "
                "hyphens, at most 64 characters).")))
    elif motivation or reference:
        problems.append(("motivation" if motivation else "motivation_reference",
                         _("Only auditor access carries a motivation and a reference.")))
    if role in HEALTHCARE_ROLES:
        if not establishments:
            problems.append(("establishments",
                             _("Healthcare staff need at least one establishment.")))
        else:
            members = {e.id for e in memberships_of(session, user)}
            outside = [e for e in establishments if e.id not in members]
            if outside:
                problems.append(("establishments", _(
                    "%(name)s is not a member of %(establishments)s.", name=user.full_name,
                    establishments=", ".join(e.name for e in outside))))
    elif establishments:
        problems.append(("establishments", _("Only healthcare staff have establishments in "
                                             "their perimeter.")))
    return problems


def _archivist_problems(valid_from: datetime, valid_until: datetime | None, dates_ok: bool,
                        motivation: str | None, reference: str | None
                        ) -> list[tuple[str | None, str]]:
    """An archivist reads the intermediate archive like an auditor reads: ad hoc, motivated."""
    problems: list[tuple[str | None, str]] = []
    if dates_ok and valid_until - valid_from > timedelta(days=MAX_AUDITOR_DAYS):  # type: ignore[operator]
        problems.append(("valid_until", _("Archivist access lasts at most %(days)d days.",
                                          days=MAX_AUDITOR_DAYS)))
    if motivation not in MOTIVATIONS:
        problems.append(("motivation", _("Archivist access needs a motivation chosen from the "
                                         "list.")))
    if not reference or not REFERENCE.fullmatch(reference) or looks_like_nir_or_ins(reference):
        problems.append(("motivation_reference", _(
            "Archivist access needs a reference number (letters, digits, dots, slashes and "
            "hyphens, at most 64 characters).")))
    return problems


def request_grant(session: Session, actor: Acting, wanted: GrantRequest) -> AccessGrant:
    """Create a grant; directly identifying health data wait for a second administrator.

    :raises GrantRefused: rules of section 8 or SEC-HAB are broken (each one is named).
    :raises BadRequest: unknown role, scope or category.
    :raises Forbidden: the actor may not manage grants, or grants to themselves.
    """
    require(session, actor, Permission.GRANT_ADMIN)
    wanted = wanted.normalised()
    problems = _grant_problems(session, actor, wanted)
    if problems:
        raise GrantRefused(problems)
    role, scope, category = Role(wanted.role), Scope(wanted.scope), Category(wanted.category)
    assert wanted.valid_until is not None  # a request without an end date has a problem
    establishments = list(wanted.establishments)
    pending = needs_approval(scope, category)
    grant = AccessGrant(
        user_id=wanted.user.id, role=role.value, scope=scope.value, category=category.value,
        protocol_key=wanted.protocol_key, valid_from=wanted.valid_from,
        valid_until=wanted.valid_until,
        status=GrantStatus.PENDING_APPROVAL if pending else GrantStatus.ACTIVE,
        requested_by_id=user_id_of(actor), motivation=wanted.motivation,
        motivation_reference=wanted.motivation_reference, establishments=establishments,
    )
    session.add(grant)
    session.flush()
    audit(session, actor, AccessAction.GRANT_REQUEST, grant, user=wanted.user.audit_ref,
          role=role.value, scope=scope.value, category=category.value,
          protocol=wanted.protocol_key, valid_from=wanted.valid_from.isoformat(),
          valid_until=wanted.valid_until.isoformat(), establishments=len(establishments),
          motivation=wanted.motivation, reference=wanted.motivation_reference,
          status=grant.status)
    return grant


def approve_grant(session: Session, approver: Acting, grant: AccessGrant,
                  via: str | None = None) -> None:
    """Approve a pending grant as the second administrator (maker-checker, SEC-HAB-3b).

    :param via: "cli" when the command line operator records the approver's decision.

    :raises Forbidden: the approver asked for it, or it is their own grant.
    :raises Conflict: the grant is not waiting for approval.
    """
    require(session, approver, Permission.GRANT_ADMIN)
    if not isinstance(approver, User):
        raise Forbidden(_("A grant is approved by a named administrator."))
    if grant.status != GrantStatus.PENDING_APPROVAL:
        raise Conflict(_("This grant is not waiting for approval."))
    if approver.id == grant.requested_by_id:
        raise Forbidden(_("You asked for this grant: another administrator must approve it."))
    if approver.id == grant.user_id:
        raise Forbidden(_("You cannot approve a grant to yourself."))
    if grant.valid_until <= clock.now():
        raise Conflict(_("This grant has already ended: ask for a new one."))
    grant.status = GrantStatus.ACTIVE
    grant.approved_by_id = approver.id
    grant.approved_at = clock.now()
    session.flush()
    audit(session, approver, AccessAction.GRANT_APPROVE, grant, user=f"U{grant.user_id}",
           **({"via": via} if via else {}))


def withdraw_grant(session: Session, actor: Acting, grant: AccessGrant, reason: str) -> None:
    """Withdraw a grant (or refuse a pending one); the person's open sessions end at once.

    :raises BadRequest: unknown reason.
    :raises Conflict: the grant has already ended.
    """
    require(session, actor, Permission.GRANT_ADMIN)
    if reason not in END_REASONS or reason == "review_overdue":
        raise BadRequest(_("Choose a reason from the list."))
    if grant.status in {GrantStatus.WITHDRAWN, GrantStatus.EXPIRED}:
        raise Conflict(_("This grant has already ended."))
    sessions = end_grant(session, grant, GrantStatus.WITHDRAWN, reason)
    session.flush()
    audit(session, actor, AccessAction.GRANT_WITHDRAW, grant, user=f"U{grant.user_id}",
           reason=reason, sessions_ended=sessions)


def suspend_grant(session: Session, actor: Acting, grant: AccessGrant, reason: str) -> None:
    """Suspend an active grant until it is reinstated; the person's sessions end at once.

    :raises Conflict: the grant is not active.
    """
    require(session, actor, Permission.GRANT_ADMIN)
    if reason not in END_REASONS:
        raise BadRequest(_("Choose a reason from the list."))
    if grant.status != GrantStatus.ACTIVE:
        raise Conflict(_("Only an active grant can be suspended."))
    sessions = end_grant(session, grant, GrantStatus.SUSPENDED, reason)
    grant.suspended_for_review = reason == "review_overdue"
    session.flush()
    audit(session, actor, AccessAction.GRANT_SUSPEND, grant, user=f"U{grant.user_id}",
           reason=reason, sessions_ended=sessions)


def reinstate_grant(session: Session, actor: Acting, grant: AccessGrant) -> None:
    """Lift a suspension decided by an administrator (an overdue review is lifted by review).

    :raises Conflict: not suspended, suspended for review, or already past its end date.
    """
    require(session, actor, Permission.GRANT_ADMIN)
    if grant.status != GrantStatus.SUSPENDED:
        raise Conflict(_("Only a suspended grant can be reinstated."))
    if grant.suspended_for_review:
        raise Conflict(_("This grant was suspended because its review is overdue: review it."))
    if grant.valid_until <= clock.now():
        raise Conflict(_("This grant has already ended: ask for a new one."))
    reactivate(grant)
    session.flush()
    audit(session, actor, AccessAction.GRANT_REINSTATE, grant, user=f"U{grant.user_id}")


def grants_of(session: Session, user: User) -> list[AccessGrant]:
    """Return every grant of a person, newest first."""
    return list(session.scalars(
        select(AccessGrant).where(AccessGrant.user_id == user.id)
        .options(selectinload(AccessGrant.establishments))
        .order_by(AccessGrant.created_at.desc(), AccessGrant.id.desc())
    ))


def pending_grants(session: Session) -> list[AccessGrant]:
    """Return the grants waiting for a second administrator, oldest first."""
    return list(session.scalars(
        select(AccessGrant).where(AccessGrant.status == GrantStatus.PENDING_APPROVAL)
        .options(selectinload(AccessGrant.establishments), selectinload(AccessGrant.user))
        .order_by(AccessGrant.created_at, AccessGrant.id)
    ))


def grant_periods(session: Session, user_id: int) -> list[GrantPeriod]:
    """Every access grant a person ever held, as the audit's outside-grant rule weighs them."""
    rows = session.execute(
        select(AccessGrant.status, AccessGrant.valid_from, AccessGrant.valid_until,
               AccessGrant.created_at, AccessGrant.approved_at, AccessGrant.ended_at)
        .where(AccessGrant.user_id == user_id)
    ).all()
    return [GrantPeriod(row.status == GrantStatus.PENDING_APPROVAL, row.valid_from,
                        row.valid_until, row.created_at, row.approved_at, row.ended_at)
            for row in rows]
