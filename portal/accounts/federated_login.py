"""Which account a federated identity opens, linking, and who keeps the local login (issue 22).

* The account is the one whose RPPS matches the RPPS claim, check digit verified
  (`portal.identifiers.normalise_rpps`, which also takes the national identifier "8" + RPPS).
  No account, two of them, or a disabled one: refused. Access itself still comes only from the
  person's grants (the authorizer asks `portal.access.policy` at every request).
* Linking: an account already linked must be linked to this subject. An account not linked yet
  that has a password and a second factor is linked only after one local login in the same
  browser (`LinkPending`); one without a password is linked at once.
* Establishments: with `FEDERATION_ESTABLISHMENT_CLAIM` set, a person holding healthcare
  grants must practise (per the provider's directory) in one of their grants' establishments,
  else the login is refused (`establishment`). The grants themselves are not narrowed.
* `local_login_refused`: the password path is closed to holders of a role listed in
  `FEDERATION_LOCAL_LOGIN_REFUSED_ROLES`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import clock
from portal.access.policy import valid_grants
from portal.accounts.actions import AccountAction
from portal.accounts.federation import FederationRefused, Identity
from portal.accounts.federation_settings import settings_of
from portal.accounts.models import User
from portal.accounts.services import void_tokens
from portal.audit.services import record
from portal.db import app_of
from portal.identifiers import is_valid_finess, normalise_finess, normalise_rpps
from portal.permissions import HEALTHCARE_ROLES, Role

#: a link waiting for a local login lasts this long
LINK_SECONDS = 600
#: the longest profession code kept in the audit entry
MAX_PROFESSION = 64


@dataclass(frozen=True)
class LinkPending:
    """A federated identity waiting for the local login that links it to `user_id`."""

    user_id: int
    subject: str
    started_at: str

    def as_dict(self) -> dict[str, object]:
        return {"user_id": self.user_id, "subject": self.subject, "started_at": self.started_at}

    @classmethod
    def from_dict(cls, value: object) -> LinkPending | None:
        if not isinstance(value, dict):
            return None
        try:
            return cls(int(value["user_id"]), str(value["subject"]), str(value["started_at"]))
        except (KeyError, TypeError, ValueError):
            return None

    def is_live(self) -> bool:
        try:
            age = (clock.now() - datetime.fromisoformat(self.started_at)).total_seconds()
        except ValueError:
            return False
        return 0 <= age <= LINK_SECONDS


@dataclass(frozen=True)
class Outcome:
    """The account the identity opens, or the link it waits for."""

    user: User
    #: set when a local login must come first
    link: LinkPending | None = None


def checked_rpps(identity: Identity) -> str:
    """Return the identity's RPPS, check digit verified.

    :raises FederationRefused: rpps_missing or rpps_invalid.
    """
    if not identity.rpps_claim:
        raise FederationRefused("rpps_missing", identity)
    rpps = normalise_rpps(identity.rpps_claim)
    if rpps is None:
        raise FederationRefused("rpps_invalid", identity)
    return rpps


def account_for(session: Session, identity: Identity) -> Outcome:
    """Return the account `identity` opens, linking it when it may be linked now.

    :raises FederationRefused: no_account, ambiguous_rpps, disabled, subject_mismatch, and the
        reasons of `checked_rpps`.
    """
    rpps = checked_rpps(identity)
    linked = session.scalar(select(User).where(User.federated_subject == identity.subject))
    candidates = list(session.scalars(select(User).where(User.rpps == rpps)))
    if linked is not None and linked not in candidates:
        # The subject is linked to an account whose RPPS has since changed: refuse both.
        raise FederationRefused("subject_mismatch", identity)
    if not candidates:
        raise FederationRefused("no_account", identity)
    if len(candidates) > 1:
        raise FederationRefused("ambiguous_rpps", identity)
    user = candidates[0]
    if user.is_disabled:
        raise FederationRefused("disabled", identity)
    _check_establishments(session, user, identity)
    if user.federated_subject is not None:
        if user.federated_subject != identity.subject:
            raise FederationRefused("subject_mismatch", identity)
        return Outcome(user)
    if user.password_hash is not None and user.totp_confirmed_at is not None:
        link = LinkPending(user.id, identity.subject, clock.now().isoformat())
        record(session, user, AccountAction.FEDERATION_LINK_PENDING, user, outcome="success")
        return Outcome(user, link)
    link_subject(session, user, identity.subject, after="federated_login")
    return Outcome(user)


def _finess_values(value: Any, under_finess_key: bool = False) -> Iterator[str]:
    """Every FINESS found in a claim: values of keys naming a FINESS, or the claim itself."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _finess_values(inner, under_finess_key or "finess" in str(key).lower())
    elif isinstance(value, list):
        for inner in value:
            yield from _finess_values(inner, under_finess_key)
    elif isinstance(value, str) and under_finess_key:
        candidate = normalise_finess(value)
        if is_valid_finess(candidate):
            yield candidate


def practice_sites(identity: Identity, claim: str) -> frozenset[str]:
    """The FINESS numbers of the places where the provider says the person practises."""
    value = identity.claims.get(claim)
    # A plain FINESS or list of them counts as it is; in a structure (SubjectRefPro), only the
    # values of keys naming a FINESS do (a SIRET or a postcode is not a place of practice).
    plain = isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(v, str) for v in value))
    return frozenset(_finess_values(value, under_finess_key=plain))


def _check_establishments(session: Session, user: User, identity: Identity) -> None:
    claim = settings_of(app_of(session)).establishment_claim
    if not claim:
        return
    held = {establishment.finess for grant in valid_grants(session, user)
            if Role(grant.role) in HEALTHCARE_ROLES for establishment in grant.establishments}
    if held and not held & practice_sites(identity, claim):
        raise FederationRefused("establishment", identity)


def link_subject(session: Session, user: User, subject: str, *, after: str) -> None:
    """Link `user` to the federated `subject` (audited)."""
    user.federated_subject = subject
    user.federated_at = clock.now()
    session.flush()
    record(session, user, AccountAction.FEDERATION_LINK, user, after=after)


def finish_link(session: Session, user: User, pending: LinkPending | None) -> bool:
    """After a full local login of `user`, link the identity waiting for it, if any."""
    if pending is None or pending.user_id != user.id or not pending.is_live():
        return False
    if user.federated_subject is not None:
        return False
    taken = session.scalar(select(User.id).where(User.federated_subject == pending.subject))
    if taken is not None:
        return False
    link_subject(session, user, pending.subject, after="local_login")
    return True


def complete(session: Session, user: User, identity: Identity) -> None:
    """Record a federated login: the session rules then apply as to any other login.

    Pending activation and reset links die, as at a local login. The local password path's
    failure count and lock are left as they are: a federated login does not lift them.
    """
    user.last_login_at = clock.now()
    void_tokens(session, user)
    session.flush()
    profession = identity.profession
    if profession is not None and len(profession) > MAX_PROFESSION:
        profession = None
    record(session, user, AccountAction.LOGIN_FEDERATED, user, method="federation",
           acr=identity.acr[:MAX_PROFESSION], profession=profession)


def refuse(session: Session, reason: str, user: User | None = None) -> None:
    """Write the refusal of a federated login to the trail."""
    record(session, user, AccountAction.LOGIN_FEDERATED_REFUSED, user, outcome="denied",
           reason=reason)


def local_login_refused(session: Session, user: User) -> bool:
    """Tell whether `user` holds a role whose holders must log in through the federation."""
    settings = settings_of(app_of(session))
    if not settings.enabled or not settings.local_login_refused_roles:
        return False
    roles = {Role(grant.role) for grant in valid_grants(session, user)}
    return bool(roles & settings.local_login_refused_roles)
