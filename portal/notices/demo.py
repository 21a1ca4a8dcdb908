"""Demo notices: the fictitious laboratory's slots, and version 1 of every notice published."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.access.models import AccessGrant, GrantStatus
from portal.access.policy import permissions_for
from portal.accounts.models import User
from portal.audit.services import Actor
from portal.notices import services
from portal.notices.catalog import Audience
from portal.permissions import Permission, Role

_DEMO_ACTOR = Actor("cli", "portal demo")

#: the fictitious laboratory; addresses use the reserved example.org domain (RFC 2606)
DEMO_SLOTS: dict[str, Any] = {
    "controller_name": "Laboratoire Exemple SAS",
    "controller_address": "12 rue des Lilas, 69007 Lyon, France\n"
                          "contact@example.org",
    "controller_in_eu": "yes",
    "dpo_contact": "Isabelle Laurent, déléguée à la protection des données\n"
                   "Laboratoire Exemple SAS, 12 rue des Lilas, 69007 Lyon, France\n"
                   "i.laurent@example.org",
    "transfers_outside_eu": "listed",
    "transfers": [{"recipient": "Exemple Pharma Inc.", "country": "US", "mechanism": "scc"}],
    "security_contact": "securite@example.org, +33 4 00 00 00 00",
}


def _demo_dpo(session: Session) -> User | None:
    """The demo DPO, when the accounts and access seeders gave them a valid grant."""
    candidates = session.scalars(
        select(User).join(AccessGrant, AccessGrant.user_id == User.id)
        .where(AccessGrant.role == Role.DPO.value, AccessGrant.status == GrantStatus.ACTIVE)
        .order_by(User.id)
    ).unique().all()
    for user in candidates:
        if Permission.NOTICE_MANAGE in permissions_for(session, user):
            return user
    return None


def seed_demo(app: Flask, session: Session) -> list[str]:
    """Publish version 1 of every notice with the demo laboratory's slots (idempotent)."""
    approver = _demo_dpo(session)
    actor: User | Actor = approver if approver is not None else _DEMO_ACTOR
    published = []
    for audience in Audience:
        if services.current_published(session, audience) is not None:
            continue
        draft = services.current_draft(session, audience) or services.start_draft(
            session, actor, audience)
        values = {**draft.slots, **{k: v for k, v in DEMO_SLOTS.items() if k in draft.slots}}
        services.update_draft(session, actor, draft, values)
        services.publish(session, actor, draft, material=True)
        published.append(audience.value)
    if not published:
        return ["Notices: already published."]
    who = approver.full_name if approver is not None else _DEMO_ACTOR.label
    return [f"Notices published (version 1, approved by {who}): {', '.join(published)}."]
