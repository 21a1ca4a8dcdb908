"""The accountability registers (REC-01 to REC-09): versions, rules and generated content.

Every edit adds a version (`save`), audited, allowed to the DPO and administrators only (and to
the command line). The record of processing is generated at each reading from what the portal
knows (configuration, protocol versions in force, grants, the processors list, the DPIA) plus
what the DPO typed; a deviation from the referential makes it "not conforming" until an
authorisation reference covers that very deviation (REC-02). The processors list is the one
source of the transfers: the record, the notices and the DPIA triggers all read it.
"""

from __future__ import annotations

import enum
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import has_app_context
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import clock
from portal.access.models import AccessGrant, GrantStatus
from portal.access.policy import permissions_for
from portal.accounts.models import User
from portal.accounts.origins import origins_of
from portal.audit.services import Actor, actor_fields, record
from portal.db import app_of
from portal.errors import BadRequest, Conflict, Forbidden, NotFound
from portal.export_purposes import ResearchCover
from portal.notices.catalog import Audience, audience_title
from portal.notices.services import current_published
from portal.notices.transfers import is_third_country
from portal.outbox.services import enqueue
from portal.permissions import Permission, Role
from portal.protocols.builder import current_locale
from portal.protocols.loader import LoadedProtocol
from portal.protocols.models import ProtocolVersion
from portal.protocols.schema import SENSITIVE_CATEGORIES, Protocol
from portal.protocols.services import ReleaseBlocked, current_version, loaded
from portal.records.models import Patient
from portal.records.reading import HIDDEN_IDENTIFIERS
from portal.registers.models import BreachAlert, BreachLetter, RegisterKind, RegisterVersion


class RegisterAction(enum.StrEnum):
    """Audit actions of the registers area."""

    SAVE = "registers:entry:save"
    DRAFT_FROM_ALERT = "registers:breach:draft"
    CLOCK_ALERT = "registers:breach:clock_alert"
    LETTERS_SEND = "registers:breach:letters"
    DPIA_TO_REVIEW = "registers:dpia:to_review"
    RELEASE_BLOCKED = "registers:dpia:release_blocked"
    LETTER_READ = "registers:letter:read"
    EXPORT = "registers:register:export"


class RegisterRefused(BadRequest):
    """An entry cannot be saved as it is: each problem names its field."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(" ".join(problems.values()))
        self.problems = problems


# --- versions -----------------------------------------------------------------------------------


def may_manage(session: Session, actor: Any) -> bool:
    """True for the command line and for people holding the register permission."""
    if isinstance(actor, Actor):
        return actor.kind in ("cli", "system")
    return Permission.REGISTER_MANAGE in permissions_for(session, actor)


def latest(session: Session, kind: RegisterKind, item_no: int = 1) -> RegisterVersion | None:
    """Return an item as it stands (its newest version), or None."""
    return session.scalars(
        select(RegisterVersion).where(RegisterVersion.kind == kind,
                                      RegisterVersion.item_no == item_no)
        .order_by(RegisterVersion.number.desc()).limit(1)
    ).first()


def history(session: Session, kind: RegisterKind, item_no: int = 1) -> list[RegisterVersion]:
    """Return every version of an item, newest first."""
    return list(session.scalars(
        select(RegisterVersion).where(RegisterVersion.kind == kind,
                                      RegisterVersion.item_no == item_no)
        .order_by(RegisterVersion.number.desc())
    ))


def version(session: Session, kind: RegisterKind, item_no: int, number: int) -> RegisterVersion:
    """Return one version of an item.

    :raises NotFound: there is no such version.
    """
    found = session.scalars(select(RegisterVersion).where(
        RegisterVersion.kind == kind, RegisterVersion.item_no == item_no,
        RegisterVersion.number == number)).first()
    if found is None:
        raise NotFound()
    return found


def items(session: Session, kind: RegisterKind) -> list[RegisterVersion]:
    """Return the newest version of every item of a register, by item number."""
    newest = (select(RegisterVersion.item_no, func.max(RegisterVersion.number).label("n"))
              .where(RegisterVersion.kind == kind).group_by(RegisterVersion.item_no)
              .subquery())
    return list(session.scalars(
        select(RegisterVersion).join(newest, (RegisterVersion.item_no == newest.c.item_no)
                                     & (RegisterVersion.number == newest.c.n))
        .where(RegisterVersion.kind == kind).order_by(RegisterVersion.item_no)
    ))


def _save(session: Session, actor: Any, kind: RegisterKind, item_no: int | None,
          data: dict[str, Any], status: str, *, expected_number: int | None = None,
          check: bool = True) -> RegisterVersion:
    if check and not may_manage(session, actor):
        raise Forbidden()
    if item_no is None:
        item_no = int(session.scalar(select(func.coalesce(func.max(RegisterVersion.item_no), 0))
                                     .where(RegisterVersion.kind == kind)) or 0) + 1
    current = latest(session, kind, item_no)
    number = (current.number if current else 0) + 1
    if expected_number is not None and current is not None and current.number != expected_number:
        raise Conflict(_("This entry changed since you opened it: reload the page and check "
                         "it again."))
    _kind, author_id, label = actor_fields(actor)
    saved = RegisterVersion(kind=kind, item_no=item_no, number=number, status=status,
                            data=dict(data), author_id=author_id, author_label=label[:200])
    try:
        with session.begin_nested():
            session.add(saved)
            session.flush()
    except IntegrityError:
        raise Conflict(_("Someone saved this entry at the same time: reload the page.")) from None
    record(session, actor, RegisterAction.SAVE, saved, status=status)
    return saved


def _text(value: Any) -> str:
    return str(value if value is not None else "").strip()


# --- processors and transfers ---------------------------------------------------------------


class ProcessorRole(enum.StrEnum):
    """What a processor does for the laboratory."""

    HOST = "host"
    MAIL = "mail"
    BACKUP = "backup"
    SUPPORT = "support"
    #: people working on the portal from outside the EU (referential 12.4)
    REMOTE_ACCESS = "remote_access"
    OTHER = "other"


PROCESSOR_ROLE_LABELS = {
    ProcessorRole.HOST: _l("Host (health-data hosting)"),
    ProcessorRole.MAIL: _l("Mail provider"),
    ProcessorRole.BACKUP: _l("Backup site"),
    ProcessorRole.SUPPORT: _l("Maintenance and support"),
    ProcessorRole.REMOTE_ACCESS: _l("Remote access to the portal from outside the EU"),
    ProcessorRole.OTHER: _l("Other processor"),
}

#: the Chapter V mechanisms (the notices' own list, so that both say the same)
MECHANISMS = ("adequacy", "scc", "bcr", "art49")

PROCESSOR_FIELDS = ("name", "role", "country", "location", "contract_start", "contract_end",
                    "guarantees", "hds_certificate", "mechanism", "mechanism_document",
                    "ended")


def is_transfer(data: dict[str, Any]) -> bool:
    """True when a processor's location is outside the EU and the EEA."""
    return is_third_country(_text(data.get("country")).upper())


def active_processors(session: Session) -> list[RegisterVersion]:
    """Return the processors the laboratory works with now (not ended)."""
    return [p for p in items(session, RegisterKind.PROCESSOR) if not p.data.get("ended")]


def transfers(session: Session) -> list[RegisterVersion]:
    """Return the processors outside the EU: the transfers of Chapter V."""
    return [p for p in active_processors(session) if is_transfer(p.data)]


def transfer_rows(session: Session) -> list[dict[str, str]] | None:
    """The transfers as the notices list them (recipient, country code, mechanism); None while
    no processor is recorded (the register is not kept yet: the notices keep their own)."""
    if not items(session, RegisterKind.PROCESSOR):
        return None
    return [{"recipient": _text(p.data.get("name")), "country": _text(p.data.get("country")),
             "mechanism": _text(p.data.get("mechanism"))} for p in transfers(session)]


def transfer_mechanisms(session: Session) -> dict[str, str]:
    """{country: Chapter V mechanism} of the transfers recorded, as the login checks read it
    (an access from outside the EU counts only from a country listed here, 12.4)."""
    found: dict[str, str] = {}
    for entry in transfers(session):
        country, mechanism = _text(entry.data.get("country")), _text(entry.data.get("mechanism"))
        if country and mechanism:
            found.setdefault(country, mechanism)
    return found


def remote_access_countries(session: Session) -> list[tuple[str, str]]:
    """(country, mechanism or "") of every access entry outside the EU the settings declare."""
    known = transfer_mechanisms(session)
    return [(country, known.get(country, ""))
            for country in origins_of(app_of(session)).entries_outside_eu()]


def save_processor(session: Session, actor: Any, item_no: int | None, data: dict[str, Any],
                   expected_number: int | None = None) -> RegisterVersion:
    """Save a processor (a new one, or a new version of one); a new processor or a new
    transfer marks the DPIA to review (REC-08).

    :raises RegisterRefused: a name, role or country is missing, or a transfer has no mechanism.
    """
    clean: dict[str, Any] = {key: _text(data.get(key)) for key in PROCESSOR_FIELDS
                             if key != "ended"}
    clean["country"] = clean["country"].upper()
    clean["ended"] = bool(data.get("ended"))
    problems: dict[str, str] = {}
    if not clean["name"]:
        problems["name"] = _("Give the processor's name.")
    if clean["role"] not in set(ProcessorRole):
        problems["role"] = _("Choose what the processor does.")
    if len(clean["country"]) != 2 or not clean["country"].isalpha():
        problems["country"] = _("Give the country as its two-letter code (FR, DE, US).")
    elif is_transfer(clean) and clean["mechanism"] not in MECHANISMS:
        problems["mechanism"] = _("A processor outside the EU is a transfer: choose its "
                                  "Chapter V mechanism.")
    if not is_transfer(clean) and "mechanism" not in problems:
        clean["mechanism"] = ""
    if problems:
        raise RegisterRefused(problems)
    before = latest(session, RegisterKind.PROCESSOR, item_no) if item_no else None
    if item_no is not None and before is None:
        raise NotFound()
    saved = _save(session, actor, RegisterKind.PROCESSOR, item_no, clean,
                  "ended" if clean["ended"] else "active", expected_number=expected_number)
    if clean["ended"]:
        return saved
    if before is None or before.data.get("ended"):
        mark_dpia_to_review(session, actor, {"code": "new_processor", "name": clean["name"],
                                              "ref": saved.reference})
        if is_transfer(clean):
            mark_dpia_to_review(session, actor, {"code": "new_transfer", "name": clean["name"],
                                                  "country": clean["country"]})
    elif is_transfer(clean) and (not is_transfer(before.data)
                                 or before.data.get("country") != clean["country"]):
        mark_dpia_to_review(session, actor, {"code": "new_transfer", "name": clean["name"],
                                              "country": clean["country"]})
    return saved


# --- DPIA (art. 35) ---------------------------------------------------------------------------

DPIA_SECTIONS = ("description", "necessity", "risks", "measures")
DPIA_FIELDS = (*DPIA_SECTIONS, "dpo_advice", "persons_views", "signed_off_by",
               "next_review_at", "residual_high", "prior_consultation_ref", "reference")
DPIA_SECTION_LABELS = {
    "description": _l("(a) Systematic description of the processing and its purposes"),
    "necessity": _l("(b) Necessity and proportionality"),
    "risks": _l("(c) Risks to the rights and freedoms of the persons"),
    "measures": _l("(d) Measures envisaged to address the risks"),
}


#: why the DPIA is to review, stored as a code and its values, so that each reader reads it in
#: his own language
REVIEW_REASONS = {
    "new_processor": _l("New processor %(name)s (%(ref)s)."),
    "new_transfer": _l("New transfer outside the EU: %(name)s in %(country)s."),
    "protocol_categories": _l("Protocol %(protocol)s adds data categories: %(cats)s; it is put "
                              "in force only once the impact assessment is approved again."),
    "edited": _l("Edited after its approval."),
}


def reason_text(reason: Any) -> str:
    """A stored reason to review the DPIA, in the reader's language."""
    if isinstance(reason, dict) and reason.get("code") in REVIEW_REASONS:
        values = {k: v for k, v in reason.items() if k != "code"}
        return str(REVIEW_REASONS[reason["code"]]) % values
    return str(reason)


def display_data(saved: RegisterVersion) -> dict[str, Any]:
    """A version's data as the pages show it (the DPIA's reasons in the reader's language)."""
    data = dict(saved.data)
    if "review_reasons" in data:
        data["review_reasons"] = [reason_text(r) for r in data["review_reasons"] or []]
    if "pending_releases" in data:
        data["pending_releases"] = [str(p.get("protocol", "")) if isinstance(p, dict) else str(p)
                                    for p in data["pending_releases"] or []]
    return data


class DpiaStatus(enum.StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    TO_REVIEW = "to_review"


@dataclass
class DpiaState:
    """The DPIA as it stands and, when it must be reviewed, why."""

    current: RegisterVersion | None
    status: DpiaStatus
    reasons: list[str]


def _categories_of(definition: Protocol, found: dict[str, list[str]]) -> None:
    for form in definition.forms:
        for _si, _fi, _section, fld in form.iter_fields():
            found[str(fld.category)].append(f"{definition.key}.{form.key}.{fld.key}")


def protocol_categories(session: Session) -> dict[str, list[str]]:
    """Return, for each data category of the protocol versions in force, its field keys."""
    found: dict[str, list[str]] = defaultdict(list)
    for installed in session.scalars(select(ProtocolVersion).where(
            ProtocolVersion.is_current.is_(True)).order_by(ProtocolVersion.protocol_key)):
        _categories_of(loaded(installed).definition, found)
    return dict(sorted(found.items()))


def check_protocol_release(session: Session, actor: Any, protocol: LoadedProtocol) -> None:
    """Refuse to put in force a protocol version adding data categories the approved DPIA does
    not cover (REC-08); mark the DPIA to review with the reason, once per version.

    The protocols area calls this before an install changes anything. Until a DPIA has been
    approved once there is nothing to protect: the DPIA itself is the work to do.

    :raises ReleaseBlocked: the DPO must re-approve the DPIA first.
    """
    current = latest(session, RegisterKind.DPIA)
    approved = current.data.get("approved_categories") if current else None
    if current is None or approved is None:
        return
    found: dict[str, list[str]] = defaultdict(list)
    _categories_of(protocol.definition, found)
    added = sorted(set(found) - set(approved))
    if not added:
        return
    definition = protocol.definition
    label = f"{definition.key} {definition.version}"
    cats = ", ".join(added)
    pending = list(current.data.get("pending_releases") or [])
    if not any(p.get("content_hash") == protocol.content_hash for p in pending):
        pending.append({"protocol": label, "content_hash": protocol.content_hash,
                        "categories": added})
        mark_dpia_to_review(session, actor, {"code": "protocol_categories",
                                             "protocol": label, "cats": cats},
                            pending_releases=pending)
    record(session, actor, RegisterAction.RELEASE_BLOCKED, current, protocol=label,
           categories=cats)
    raise ReleaseBlocked(_(
        "the protocol version %(protocol)s adds data categories (%(cats)s) that the approved "
        "impact assessment does not cover. The DPO must review it and approve it again in the "
        "registers; then install this version again.", protocol=label, cats=cats))


def dpia_state(session: Session) -> DpiaState:
    """Return the DPIA's status: stored reasons, plus the categories added by a protocol
    version since the approval (read from the versions in force, so no area has to warn)."""
    current = latest(session, RegisterKind.DPIA)
    if current is None:
        return DpiaState(None, DpiaStatus.DRAFT, [])
    reasons = [reason_text(r) for r in current.data.get("review_reasons") or []]
    approved = current.data.get("approved_categories")
    if approved is not None and current.status != DpiaStatus.DRAFT:
        added = sorted(set(protocol_categories(session)) - set(approved))
        if added:
            reasons.append(_("A protocol version in force adds data categories: %(cats)s.",
                             cats=", ".join(added)))
    status = DpiaStatus(current.status)
    if reasons and status == DpiaStatus.APPROVED:
        status = DpiaStatus.TO_REVIEW
    return DpiaState(current, status, reasons)


def save_dpia(session: Session, actor: Any, data: dict[str, Any], *, approve: bool,
              expected_number: int | None = None) -> RegisterVersion:
    """Save the DPIA; approving it needs sections (a)-(d), the DPO's advice, the sign-off and
    the next review date (REC-07), and clears the reasons to review it.

    :raises RegisterRefused: approval asked with something missing.
    """
    clean: dict[str, Any] = {key: _text(data.get(key)) for key in DPIA_FIELDS}
    clean["residual_high"] = bool(data.get("residual_high"))
    problems: dict[str, str] = {}
    if clean["next_review_at"]:
        try:
            datetime.strptime(clean["next_review_at"], "%Y-%m-%d")
        except ValueError:
            problems["next_review_at"] = _("Give the review date as YYYY-MM-DD.")
    state = dpia_state(session)
    if approve:
        for key in (*DPIA_SECTIONS, "dpo_advice", "signed_off_by", "next_review_at"):
            if not clean[key] and key not in problems:
                problems[key] = _("Required to approve the impact assessment.")
        clean["approved_at"] = clock.now().isoformat()
        # What the DPO approves covers the versions waiting for this approval (REC-08).
        waiting = {c for p in (state.current.data.get("pending_releases") or [])
                   for c in p.get("categories") or []} if state.current else set()
        clean["approved_categories"] = sorted(set(protocol_categories(session)) | waiting)
        clean["pending_releases"] = []
        clean["review_reasons"] = []
        status = DpiaStatus.APPROVED
    else:
        previous = state.current.data if state.current else {}
        for key in ("approved_at", "approved_categories", "pending_releases"):
            if key in previous:
                clean[key] = previous[key]
        clean["review_reasons"] = list(previous.get("review_reasons") or [])
        status = DpiaStatus.TO_REVIEW if state.reasons else (
            DpiaStatus(state.current.status) if state.current else DpiaStatus.DRAFT)
        if status == DpiaStatus.APPROVED:
            status = DpiaStatus.TO_REVIEW  # an edit after the approval needs a new one
            clean["review_reasons"] = [{"code": "edited"}]
    if clean["residual_high"] and approve and not clean["prior_consultation_ref"]:
        problems["prior_consultation_ref"] = _("The residual risk stays high: give the "
                                               "reference of the prior consultation of the "
                                               "CNIL (article 36).")
    if problems:
        raise RegisterRefused(problems)
    return _save(session, actor, RegisterKind.DPIA, 1, clean, status,
                 expected_number=expected_number)


def mark_dpia_to_review(session: Session, actor: Any, reason: dict[str, Any], *,
                        pending_releases: list[dict[str, Any]] | None = None) -> None:
    """Add a reason to review the DPIA (a new version, so the DPO sees when and why)."""
    current = latest(session, RegisterKind.DPIA)
    data = dict(current.data) if current else {}
    data["review_reasons"] = [*list(data.get("review_reasons") or []), reason]
    if pending_releases is not None:
        data["pending_releases"] = pending_releases
    status = DpiaStatus.DRAFT if current is None or current.status == DpiaStatus.DRAFT else (
        DpiaStatus.TO_REVIEW)
    saved = _save(session, actor, RegisterKind.DPIA, 1, data, status, check=False)
    record(session, actor, RegisterAction.DPIA_TO_REVIEW, saved)


# --- record of processing (art. 30) -------------------------------------------------------------

PROCESSING_FIELDS = ("controller_contact", "joint_controller", "eu_representative", "dpo_name",
                     "dpo_contact", "extra_purposes", "retention_patients",
                     "retention_deviation", "security_extra", "cnil_declaration_ref",
                     "cnil_declaration_date", "authorisation_ref")

#: the purposes of the referential (RS-004): anything else is a deviation
RS004_PURPOSES = (
    _l("Collection of the data on access to the treatment, its initiation, follow-up and stop "
       "(article L5121-12-1 of the public health code)"),
    _l("Management of the contact details of the healthcare professionals involved"),
    _l("Periodic summary reports to the ANSM and their summaries"),
)
DEFAULT_RETENTION = _l("Active base: until the last summary report of the product, then "
                       "intermediate archive for the legal period; then deletion.")
SECURITY_MEASURES = (
    _l("Hosting by a certified health-data host (HDS)"),
    _l("Personal accounts with a password and a second factor (TOTP)"),
    _l("Role-based access, grants limited in time and perimeter, yearly review"),
    _l("Encryption of identities and answers at rest, keys outside the database; TLS in "
       "transit"),
    _l("Audit trail chained and anchored outside the database, automatic anomaly checks"),
    _l("Pseudonymised exports; identifiers refused in free text"),
)
CATEGORY_LABELS = {
    "identification": _l("identification (letters, sex, month and year of birth)"),
    "health": _l("health data"),
    "treatment": _l("treatment"),
    "efficacy": _l("efficacy"),
    "safety": _l("safety (adverse events)"),
    "administrative": _l("administrative"),
    "affected_person": _l("affected persons (pregnancy of a partner)"),
    "professional": _l("professional contact data"),
    "ethnic_origin": _l("ethnic origin"),
    "genetic": _l("genetic data"),
    "sex_life": _l("sex life"),
    "substance_use": _l("substance use"),
}


@dataclass
class Deviation:
    """A way the processing goes beyond the referential (REC-02)."""

    code: str
    text: str


@dataclass
class Section:
    """One item of the record: its letter, title and lines."""

    key: str
    title: str
    lines: list[str]


@dataclass
class ProcessingRecord:
    """The record of processing as it stands now (generated plus typed)."""

    current: RegisterVersion | None
    typed: dict[str, Any]
    sections: list[Section]
    deviations: list[Deviation]
    unauthorised: list[Deviation]
    generated_at: datetime = field(default_factory=clock.now)

    @property
    def conforming(self) -> bool:
        return not self.unauthorised


def deviations(session: Session, typed: dict[str, Any]) -> list[Deviation]:
    """Return what goes beyond the referential: sensitive categories in the protocols in force,
    purposes and retention the DPO declared beyond it."""
    found = []
    categories = protocol_categories(session)
    for category in sorted(set(categories) & {str(c) for c in SENSITIVE_CATEGORIES}):
        found.append(Deviation(f"category:{category}", _(
            "Extra data category %(cat)s (%(fields)s).", cat=str(CATEGORY_LABELS[category]),
            fields=", ".join(categories[category]))))
    if _text(typed.get("extra_purposes")):
        found.append(Deviation("purpose", _("Purpose beyond the referential: %(text)s",
                                            text=_text(typed.get("extra_purposes")))))
    if _text(typed.get("retention_deviation")):
        found.append(Deviation("retention", _("Retention longer than the referential: "
                                              "%(text)s",
                                              text=_text(typed.get("retention_deviation")))))
    return found


def _recipients(session: Session) -> list[str]:
    now = clock.now()
    counts = Counter(session.scalars(select(AccessGrant.role).join(
        User, User.id == AccessGrant.user_id).where(
        AccessGrant.status == GrantStatus.ACTIVE, AccessGrant.valid_from <= now,
        AccessGrant.valid_until >= now, User.disabled_at.is_(None))))
    lines = [_("%(role)s: %(n)d person(s) with a valid grant", role=role, n=n)
             for role, n in sorted(counts.items())]
    lines.append(_("ANSM: aggregated summary reports only"))
    for processor in active_processors(session):
        role: Any = processor.data.get("role")
        lines.append(_("Processor %(name)s (%(role)s), %(country)s",
                       name=processor.data.get("name"),
                       role=str(PROCESSOR_ROLE_LABELS.get(role, "")),
                       country=processor.data.get("country")))
    return lines


def processing_record(session: Session) -> ProcessingRecord:
    """Build the record of processing (REC-01): items (a)-(g) and the domain fields."""
    app = app_of(session)
    current = latest(session, RegisterKind.PROCESSING)
    typed = dict(current.data) if current else {}
    categories = protocol_categories(session)
    persons = [_("patients treated under the compassionate access"),
               _("healthcare professionals (prescribers, hospital pharmacists, staff)"),
               _("users of the laboratory")]
    if "affected_person" in categories:
        persons.insert(1, _("affected persons (pregnant partners)"))
    found_transfers = transfers(session)
    dpia = dpia_state(session)
    versions = session.scalars(select(ProtocolVersion).order_by(
        ProtocolVersion.protocol_key, ProtocolVersion.id)).all()
    hosts = [p for p in active_processors(session) if p.data.get("role") == ProcessorRole.HOST]
    sections = [
        Section("a", _("(a) Controller, joint controller, EU representative and DPO"), [
            _("Controller: %(name)s", name=app.config["CONTROLLER_NAME"]),
            _("Contact: %(text)s", text=_text(typed.get("controller_contact")) or "—"),
            _("Joint controller: %(text)s", text=_text(typed.get("joint_controller")) or
              _("none")),
            _("EU representative: %(text)s", text=_text(typed.get("eu_representative")) or
              _("none (established in the EU)")),
            _("DPO: %(name)s, %(contact)s", name=_text(typed.get("dpo_name")) or "—",
              contact=_text(typed.get("dpo_contact")) or "—"),
        ]),
        Section("b", _("(b) Purposes"), [str(p) for p in RS004_PURPOSES] + (
            [_("Declared beyond the referential: %(text)s",
               text=_text(typed.get("extra_purposes")))]
            if _text(typed.get("extra_purposes")) else [])),
        Section("c", _("(c) Categories of persons and of personal data"), [
            _("Persons: %(list)s", list="; ".join(persons))] + [
            _("Data: %(cat)s (%(n)d fields)", cat=str(CATEGORY_LABELS.get(cat, cat)),
              n=len(keys)) for cat, keys in categories.items()]),
        Section("d", _("(d) Categories of recipients, including in third countries"),
                _recipients(session)),
        Section("e", _("(e) Transfers outside the EU and their safeguards"), [
            _("%(name)s, %(country)s: %(mechanism)s (%(doc)s)", name=p.data.get("name"),
              country=p.data.get("country"), mechanism=p.data.get("mechanism"),
              doc=p.data.get("mechanism_document") or "—") for p in found_transfers]
            or [_("No transfer outside the EU")]),
        Section("f", _("(f) Time limits for erasure"), [
            _("Patients' and professionals' data: %(text)s",
              text=_text(typed.get("retention_patients")) or str(DEFAULT_RETENTION)),
            _("Audit trail: %(n)d days", n=int(app.config["AUDIT_RETENTION_DAYS"])),
            _("Rights requests and their files: %(n)d years after the answer",
              n=int(app.config["RIGHTS_RETENTION_YEARS"])),
        ] + ([_("Declared beyond the referential: %(text)s",
                text=_text(typed.get("retention_deviation")))]
             if _text(typed.get("retention_deviation")) else [])),
        Section("g", _("(g) Security measures (article 32)"), [str(m) for m in SECURITY_MEASURES]
                + ([_text(typed.get("security_extra"))]
                   if _text(typed.get("security_extra")) else [])),
        Section("domain", _("Referential and documents"), [
            _("Declaration of conformity to the referential: %(ref)s of %(date)s",
              ref=_text(typed.get("cnil_declaration_ref")) or "—",
              date=_text(typed.get("cnil_declaration_date")) or "—"),
            _("Protocol (PUT-SP) versions covered: %(list)s",
              list=", ".join(f"{v.protocol_key} {v.version_label}"
                             + (" *" if v.is_current else "") for v in versions) or "—"),
            _("Impact assessment: %(ref)s, %(status)s, approved %(date)s",
              ref=(dpia.current.data.get("reference") if dpia.current else "") or "—",
              status=dpia.status.value,
              date=((dpia.current.data.get("approved_at") or "—")[:10]
                    if dpia.current else "—")),
            _("Processors: %(list)s", list=", ".join(
                f"{p.reference} {p.data.get('name')}" for p in active_processors(session))
              or "—"),
            _("Health-data hosting certification of the host: %(text)s", text="; ".join(
                f"{p.data.get('name')}: {p.data.get('hds_certificate') or '—'}" for p in hosts)
              or "—"),
            _("CNIL authorisation reference: %(ref)s",
              ref=_text(typed.get("authorisation_ref")) or "—"),
            # A research reuse is a distinct processing (5.4): its formalities, listed here.
            _("Research formalities in force: %(list)s", list="; ".join(
                f"{state.entry.reference} {_text(state.entry.data.get('reference'))} "
                f"({_text(state.entry.data.get('protocol_key'))})"
                for state in research_states(session) if state.in_force) or "—"),
        ]),
    ]
    found = deviations(session, typed)
    covered = set(typed.get("authorised_deviations") or []) if _text(
        typed.get("authorisation_ref")) else set()
    unauthorised = [d for d in found if d.code not in covered]
    return ProcessingRecord(current, typed, sections, found, unauthorised)


def save_processing(session: Session, actor: Any, data: dict[str, Any],
                    expected_number: int | None = None) -> RegisterVersion:
    """Save what the DPO typed; an authorisation reference covers the deviations shown now."""
    clean: dict[str, Any] = {key: _text(data.get(key)) for key in PROCESSING_FIELDS}
    found = deviations(session, clean)
    clean["authorised_deviations"] = [d.code for d in found] if clean["authorisation_ref"] else []
    status = "conforming" if clean["authorisation_ref"] or not found else "not_conforming"
    return _save(session, actor, RegisterKind.PROCESSING, 1, clean, status,
                 expected_number=expected_number)


# --- breaches (art. 33/34) ----------------------------------------------------------------------

NATURES = ("confidentiality", "integrity", "availability")
RISKS = ("none", "risk", "high")
PHASES = ("initial", "complementary")
COMMUNICATIONS = ("", "prescribers", "exception")
BREACH_TEXT_FIELDS = ("title", "person_categories", "record_categories", "consequences",
                      "measures", "contact", "risk", "risk_justification", "cnil_reference",
                      "cnil_phase", "delay_reason", "communication", "exception_invoked",
                      "source")
BREACH_TIME_FIELDS = ("detected_at", "aware_at", "processor_notified_at", "cnil_notified_at")
DEADLINE = timedelta(hours=72)
ALERT_HOURS = (24, 48, 66)


class BreachStatus(enum.StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    text = _text(value)
    return datetime.fromisoformat(text) if text else None


def breach_time(data: dict[str, Any], key: str) -> datetime | None:
    """Return a stored time of a breach (aware UTC), or None."""
    return _when(data.get(key))


def save_breach(session: Session, actor: Any, item_no: int | None, data: dict[str, Any], *,
                status: BreachStatus = BreachStatus.OPEN,
                expected_number: int | None = None) -> RegisterVersion:
    """Save a breach entry (kept for every breach, notified or not: art. 33(5)).

    After 72 hours from awareness, a reason for the delay is required unless the breach is
    assessed as unlikely to result in a risk (REC-04).

    :raises RegisterRefused: an awareness time, a nature or a delay reason is missing.
    """
    clean: dict[str, Any] = {key: _text(data.get(key)) for key in BREACH_TEXT_FIELDS}
    problems: dict[str, str] = {}
    for key in BREACH_TIME_FIELDS:
        value = data.get(key)
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError("breach times are aware")
            clean[key] = value.isoformat()
        else:
            clean[key] = _text(value)
    clean["nature"] = [n for n in NATURES if n in (data.get("nature") or [])]
    for key in ("persons_approx", "records_approx"):
        value = _text(data.get(key))
        if value and not value.isdigit():
            problems[key] = _("A number, even approximate.")
        clean[key] = int(value) if value.isdigit() else None
    clean["cases"] = sorted({_text(c).upper() for c in (data.get("cases") or []) if _text(c)})
    clean["cnil_notified"] = bool(data.get("cnil_notified"))
    previous = latest(session, RegisterKind.BREACH, item_no) if item_no is not None else None
    if item_no is not None and previous is None:
        raise NotFound()
    if data.get("alert_id") is not None:
        clean["alert_id"] = int(data["alert_id"])
    elif previous is not None and previous.data.get("alert_id") is not None:
        clean["alert_id"] = previous.data["alert_id"]  # the triage keeps its origin
    if previous is not None and not clean["source"]:
        clean["source"] = previous.data.get("source") or ""
    aware = _when(clean["aware_at"])
    if aware is None:
        problems["aware_at"] = _("Give the time the laboratory became aware of the breach: it "
                                 "starts the 72-hour clock.")
    if status != BreachStatus.DRAFT and not clean["nature"]:
        problems["nature"] = _("Choose the nature of the breach.")
    if clean["risk"] and clean["risk"] not in RISKS:
        problems["risk"] = _("Unknown risk level.")
    if clean["cnil_notified"]:
        if not clean["cnil_notified_at"]:
            problems["cnil_notified_at"] = _("Give the time of the notification to the CNIL.")
        if clean["cnil_phase"] not in PHASES:
            problems["cnil_phase"] = _("Say whether the notification is initial or "
                                       "complementary.")
    if clean["communication"] not in COMMUNICATIONS:
        problems["communication"] = _("Unknown communication choice.")
    if clean["communication"] == "exception" and not clean["exception_invoked"]:
        problems["exception_invoked"] = _("Say which exception of article 34(3) applies.")
    # A draft is still to be triaged (an audit alert may be old): the rule binds when the DPO
    # opens or closes it.
    if (status != BreachStatus.DRAFT and aware is not None and not clean["delay_reason"]
            and clean["risk"] != "none"):
        notified = _when(clean["cnil_notified_at"]) if clean["cnil_notified"] else None
        moment = notified or clock.now()
        if moment - aware > DEADLINE:
            problems["delay_reason"] = _("More than 72 hours have passed since awareness: give "
                                         "the reasons for the delay (article 33(1)).")
    if problems:
        raise RegisterRefused(problems)
    return _save(session, actor, RegisterKind.BREACH, item_no, clean, status,
                 expected_number=expected_number)


@dataclass
class BreachClock:
    """Where a breach stands on its 72-hour clock."""

    breach: RegisterVersion
    aware_at: datetime
    elapsed: timedelta
    alerts: list[int]

    @property
    def hours(self) -> int:
        return int(self.elapsed.total_seconds() // 3600)

    @property
    def overdue(self) -> bool:
        return self.elapsed > DEADLINE

    @property
    def deadline(self) -> datetime:
        return self.aware_at + DEADLINE


def running_clocks(session: Session) -> list[BreachClock]:
    """Return the breaches whose clock runs: not closed, not yet notified to the CNIL, not
    assessed as without risk."""
    now = clock.now()
    alerts: dict[int, list[int]] = defaultdict(list)
    for alert in session.scalars(select(BreachAlert).order_by(BreachAlert.hours)):
        alerts[alert.item_no].append(alert.hours)
    found = []
    for breach in items(session, RegisterKind.BREACH):
        aware = breach_time(breach.data, "aware_at")
        if (aware is None or breach.status == BreachStatus.CLOSED
                or breach.data.get("cnil_notified") or breach.data.get("risk") == "none"):
            continue
        found.append(BreachClock(breach, aware, now - aware, alerts.get(breach.item_no, [])))
    return found


def dpo_addresses(session: Session) -> list[str]:
    """Return the addresses of the people holding a valid DPO grant."""
    now = clock.now()
    return sorted(set(session.scalars(select(User.email).join(
        AccessGrant, AccessGrant.user_id == User.id).where(
        AccessGrant.role == Role.DPO, AccessGrant.status == GrantStatus.ACTIVE,
        AccessGrant.valid_from <= now, AccessGrant.valid_until >= now,
        User.disabled_at.is_(None)))))


def raise_clock_alerts(session: Session, actor: Any = None) -> list[BreachAlert]:
    """Raise the 24, 48 and 66-hour alerts that are due, once each, by mail and on the page.

    A threshold passed while nothing ran (several at once) is raised in the same mail.
    """
    actor = actor or Actor("system", "register-clock")
    raised: list[BreachAlert] = []
    addresses = dpo_addresses(session)
    for running in running_clocks(session):
        due = [h for h in ALERT_HOURS if running.elapsed >= timedelta(hours=h)
               and h not in running.alerts]
        new = []
        for hours in due:
            alert = BreachAlert(item_no=running.breach.item_no, hours=hours,
                                raised_at=clock.now(), mailed_to=len(addresses))
            try:
                with session.begin_nested():
                    session.add(alert)
                    session.flush()
            except IntegrityError:
                continue  # another worker raised it first
            new.append(alert)
            record(session, actor, RegisterAction.CLOCK_ALERT, running.breach, hours=hours)
        if not new:
            continue
        raised.extend(new)
        hours = max(a.hours for a in new)
        subject = _("Breach %(ref)s: %(hours)d hours since awareness",
                    ref=running.breach.reference, hours=hours)
        body = _("The breach %(ref)s became known %(hours)d hours ago. The CNIL must be "
                 "notified within 72 hours of awareness, by %(deadline)s UTC, or the delay "
                 "justified. Details in the portal's breach register.",
                 ref=running.breach.reference, hours=hours,
                 deadline=running.deadline.strftime("%Y-%m-%d %H:%M"))
        for address in addresses:
            enqueue(session, address, subject, body + "\n", kind="breach_alert")
    return raised


#: the audit anomaly rules whose alerts may reveal a breach (REC-06)
BREACH_RULES = {
    "mass_export": ("confidentiality",),
    "failed_auth_burst": ("confidentiality",),
    "broken_chain": ("integrity",),
    "archive_without_reason": ("confidentiality",),
    # a sealed record failing its integrity check (portal/records/integrity.py's alert rule)
    "record_integrity": ("integrity",),
}


def draft_from_alert(session: Session, alert: Any) -> RegisterVersion | None:
    """Open a draft breach, pre-filled, for an audit alert that may reveal a breach (the audit
    area calls this through its hook); one draft per alert."""
    natures = BREACH_RULES.get(alert.rule)
    if natures is None:
        return None
    for existing in items(session, RegisterKind.BREACH):
        if existing.data.get("alert_id") == alert.id:
            return None
    actor = Actor("system", "audit-checks")
    detected = alert.last_at or alert.raised_at or clock.now()
    data = {
        "title": _("To triage: audit alert %(rule)s on %(subject)s", rule=alert.rule,
                   subject=alert.subject),
        "source": f"audit:{alert.rule}",
        "alert_id": alert.id,
        "detected_at": detected,
        "aware_at": detected,
        "nature": list(natures),
        "records_approx": str(int(alert.count or 0)),
        "consequences": "",
        "measures": "",
        "risk": "",
    }
    saved = save_breach(session, actor, None, data, status=BreachStatus.DRAFT)
    record(session, actor, RegisterAction.DRAFT_FROM_ALERT, saved, alert=alert.id)
    return saved


# --- communication to the persons through their prescribers (art. 34, REC-05) ---------------------


@dataclass
class PrescriberLetter:
    """What one prescriber reads in the portal: only the cases of his own patients."""

    prescriber: User
    cases: list[str]
    subject: str
    body: str


def _dpo_line(session: Session) -> str:
    typed = latest(session, RegisterKind.PROCESSING)
    return ", ".join(x for x in ((typed.data.get("dpo_name"), typed.data.get("dpo_contact"))
                                 if typed else ()) if x) or "—"


def _compose_letter(breach: RegisterVersion, prescriber: User, cases: list[str],
                    dpo: str) -> PrescriberLetter:
    subject = _("Personal data breach %(ref)s: information of your patients",
                ref=breach.reference)
    body = "\n\n".join([
        _("Dear Doctor %(name)s,", name=prescriber.last_name),
        _("A personal data breach concerns the data of some of your patients followed "
          "under the compassionate access. Please inform them; the laboratory does not "
          "know their identity."),
        _("Your patients concerned (case numbers): %(cases)s", cases=", ".join(sorted(cases))),
        _("Nature of the breach: %(text)s", text=", ".join(breach.data.get("nature") or [])
          or "—"),
        _("Likely consequences: %(text)s", text=breach.data.get("consequences") or "—"),
        _("Measures taken or proposed: %(text)s", text=breach.data.get("measures") or "—"),
        _("Data protection officer: %(text)s", text=dpo),
    ])
    return PrescriberLetter(prescriber, sorted(cases), subject, body + "\n")


def prescriber_letters(session: Session, item_no: int) -> tuple[list[PrescriberLetter],
                                                                  list[str]]:
    """Return one letter per prescriber of the breach's cases, and the unknown cases.

    :raises NotFound: there is no such breach.
    """
    breach = latest(session, RegisterKind.BREACH, item_no)
    if breach is None:
        raise NotFound()
    cases = list(breach.data.get("cases") or [])
    by_prescriber: dict[int, list[str]] = defaultdict(list)
    found = set()
    for number, creator in session.execute(select(Patient.case_number, Patient.created_by_id)
                                           .where(Patient.case_number.in_(cases))):
        found.add(number)
        if creator is not None:
            by_prescriber[creator].append(number)
    unknown = sorted(set(cases) - found) + sorted(
        n for n in found if n not in {c for v in by_prescriber.values() for c in v})
    dpo = _dpo_line(session)
    letters = []
    for user_id, own in sorted(by_prescriber.items()):
        prescriber = session.get(User, user_id)
        if prescriber is None:
            continue
        letters.append(_compose_letter(breach, prescriber, own, dpo))
    return letters, unknown


def sent_letters(session: Session, item_no: int) -> list[BreachLetter]:
    """Return the letters of a breach already made available to the prescribers."""
    return list(session.scalars(select(BreachLetter).where(BreachLetter.item_no == item_no)
                                .order_by(BreachLetter.id)))


def _announce(session: Session, prescriber: User, breach: RegisterVersion,
              letter: BreachLetter) -> tuple[str, str]:
    """The mail telling a prescriber a letter awaits him: no case number, no detail of the
    breach, only where to read it (after logging in)."""
    app = app_of(session)
    link = f"{app.config['BASE_URL'].rstrip('/')}/registers/letters/{letter.id}"

    def render() -> tuple[str, str]:
        with force_locale(prescriber.locale or app.config.get("BABEL_DEFAULT_LOCALE", "fr")):
            subject = _("Personal data breach %(ref)s: a letter awaits you in the portal",
                        ref=breach.reference)
            body = _("The laboratory's data protection officer has written to you about a "
                     "personal data breach concerning some of your patients. The letter can "
                     "only be read in the portal, after logging in.")
            return subject, f"{body}\n\n{link}\n"

    if has_app_context():
        return render()
    with app.app_context():
        return render()


def send_prescriber_letters(session: Session, actor: Any, item_no: int) -> int:
    """Make each prescriber's letter readable in the portal and tell him by mail (after
    commit), the mail holding no case number; return how many letters were new.

    A prescriber who already has the letter of this version of the breach gets no second one.
    """
    if not may_manage(session, actor):
        raise Forbidden()
    letters, _unknown = prescriber_letters(session, item_no)
    breach = latest(session, RegisterKind.BREACH, item_no)
    assert breach is not None  # prescriber_letters raised NotFound otherwise
    already = {(x.breach_number, x.prescriber_id) for x in sent_letters(session, item_no)}
    _kind, _author_id, label = actor_fields(actor)
    sent = 0
    for letter in letters:
        if (breach.number, letter.prescriber.id) in already:
            continue
        stored = BreachLetter(item_no=item_no, breach_number=breach.number,
                              prescriber_id=letter.prescriber.id, cases=letter.cases,
                              sent_at=clock.now(), sent_by_label=label[:200])
        session.add(stored)
        session.flush()
        sent += 1
        if letter.prescriber.email and not letter.prescriber.is_disabled:
            subject, body = _announce(session, letter.prescriber, breach, stored)
            enqueue(session, letter.prescriber.email, subject, body, kind="breach_letter")
    record(session, actor, RegisterAction.LETTERS_SEND, breach, letters=sent)
    return sent


def letters_for(session: Session, user: User) -> list[BreachLetter]:
    """Return the breach letters addressed to `user`, newest first."""
    return list(session.scalars(select(BreachLetter).where(BreachLetter.prescriber_id == user.id)
                                .order_by(BreachLetter.id.desc())))


def read_letter(session: Session, user: User, letter_id: int) -> PrescriberLetter:
    """Return a letter as its prescriber reads it (audited); another person's is not found.

    :raises NotFound: no such letter, or it is addressed to someone else.
    """
    stored = session.get(BreachLetter, letter_id)
    if stored is None or stored.prescriber_id != user.id:
        raise NotFound()
    breach = version(session, RegisterKind.BREACH, stored.item_no, stored.breach_number)
    record(session, user, RegisterAction.LETTER_READ, breach, letter=stored.id)
    return _compose_letter(breach, user, list(stored.cases), _dpo_line(session))


# --- research formalities (referential 5.4) ------------------------------------------------------

#: the formalities under which the data may be reused for research
FORMALITY_KINDS = {
    "reference_methodology": _l("Declaration of conformity to a reference methodology of the "
                                "CNIL (MR-004...)"),
    "authorisation": _l("Authorisation of the CNIL (article 66 of the loi Informatique et "
                        "Libertés)"),
}
RESEARCH_TEXT_FIELDS = ("title", "formality_kind", "reference", "formality_date", "valid_until",
                        "protocol_key", "notice")
#: the notices that inform the persons whose data are reused (article 14): patients, affected
#: relatives, and the public page of the website
RESEARCH_NOTICE_AUDIENCES = (Audience.PATIENT, Audience.RELATIVE, Audience.WEBSITE)


class ResearchStatus(enum.StrEnum):
    ACTIVE = "active"
    WITHDRAWN = "withdrawn"


def local_today(session: Session) -> date:
    """Today in the portal's time zone (a formality's dates are local days)."""
    zone = ZoneInfo(str(app_of(session).config.get("TIMEZONE") or "Europe/Paris"))
    return clock.now().astimezone(zone).date()


def research_field_choices(session: Session, protocol_key: str) -> list[tuple[str, str]]:
    """("form.field", label) of every field a research formality may cover in the protocol
    version in force: all but the identification items no export holds (the letters and the
    birth data)."""
    installed = current_version(session, protocol_key)
    if installed is None:
        return []
    definition = loaded(installed).definition
    locale = current_locale()
    found = []
    for form in definition.forms:
        for _si, _fi, _section, fld in form.iter_fields():
            if fld.identifies not in HIDDEN_IDENTIFIERS:
                found.append((f"{form.key}.{fld.key}",
                              f"{form.title.get(locale)}: {fld.label.get(locale)}"))
    return found


def research_protocol_choices(session: Session) -> list[tuple[str, str]]:
    """(key, title) of the protocols in force."""
    locale = current_locale()
    return [(v.protocol_key, f"{v.protocol_key}: {loaded(v).definition.title.get(locale)}")
            for v in session.scalars(select(ProtocolVersion).where(
                ProtocolVersion.is_current.is_(True)).order_by(ProtocolVersion.protocol_key))]


def research_notice_choices(session: Session) -> list[tuple[str, str]]:
    """(reference, label) of the notices published now that may inform of a reuse."""
    found = []
    for audience in RESEARCH_NOTICE_AUDIENCES:
        published = current_published(session, audience)
        if published is not None:
            found.append((published.audit_ref, _("%(title)s, version %(n)d",
                                                 title=audience_title(audience),
                                                 n=published.number)))
    return found


def _notice_in_force(session: Session, reference: str) -> bool:
    """True while the notice version named (`patient-v3`) is the one published."""
    audience, _sep, number = reference.rpartition("-v")
    if audience not in {a.value for a in RESEARCH_NOTICE_AUDIENCES} or not number.isdigit():
        return False
    published = current_published(session, audience)
    return published is not None and published.number == int(number)


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(_text(value))
    except ValueError:
        return None


@dataclass
class ResearchState:
    """A research formality as it stands today: in force, or why not."""

    entry: RegisterVersion
    reasons: list[str]

    @property
    def in_force(self) -> bool:
        return not self.reasons


def research_state(session: Session, entry: RegisterVersion) -> ResearchState:
    """Whether a formality covers research exports today: not withdrawn, started, not ended,
    and the notice it names still the published one."""
    data = entry.data
    today = local_today(session)
    reasons = []
    if entry.status == ResearchStatus.WITHDRAWN:
        reasons.append(_("Withdrawn."))
    start, until = _day(data.get("formality_date")), _day(data.get("valid_until"))
    if start is None or start > today:
        reasons.append(_("Not in force before %(date)s.", date=_text(data.get("formality_date"))))
    if until is not None and until < today:
        reasons.append(_("Ended on %(date)s.", date=until.isoformat()))
    if current_version(session, _text(data.get("protocol_key"))) is None:
        reasons.append(_("Its protocol has no version in force."))
    if not _notice_in_force(session, _text(data.get("notice"))):
        reasons.append(_("The notice %(ref)s is no longer the published one: check that the "
                         "version in force informs of this reuse, then save the formality "
                         "again naming it.", ref=_text(data.get("notice"))))
    return ResearchState(entry, reasons)


def research_states(session: Session) -> list[ResearchState]:
    """Every research formality as it stands today."""
    return [research_state(session, entry) for entry in items(session, RegisterKind.RESEARCH)]


def research_covers_in_force(session: Session, protocol_key: str) -> list[ResearchCover]:
    """The formalities in force now for `protocol_key`, as the records exports check them."""
    return [ResearchCover(state.entry.reference, _text(state.entry.data.get("reference")),
                          protocol_key, frozenset(state.entry.data.get("fields") or []),
                          _text(state.entry.data.get("notice")))
            for state in research_states(session)
            if state.in_force and state.entry.data.get("protocol_key") == protocol_key]


def save_research(session: Session, actor: Any, item_no: int | None, data: dict[str, Any],
                  expected_number: int | None = None) -> RegisterVersion:
    """Record a research formality (or a new version of one): reference, date, scope (one
    protocol in force, its fields) and the published notice that informs of the reuse.

    :raises RegisterRefused: something is missing, a field is not the protocol's, the notice is
        not published, or the end comes before the start.
    """
    clean: dict[str, Any] = {key: _text(data.get(key)) for key in RESEARCH_TEXT_FIELDS}
    clean["fields"] = sorted({_text(f) for f in data.get("fields") or [] if _text(f)})
    withdrawn = bool(data.get("withdrawn"))
    clean["withdrawn"] = withdrawn
    problems: dict[str, str] = {}
    for key in ("title", "reference"):
        if not clean[key]:
            problems[key] = _("Required.")
        elif len(clean[key]) > 2000:
            problems[key] = _("At most %(n)d characters.", n=2000)
    if clean["formality_kind"] not in FORMALITY_KINDS:
        problems["formality_kind"] = _("Choose the kind of formality.")
    start = _day(clean["formality_date"])
    if start is None:
        problems["formality_date"] = _("Give the date of the formality as YYYY-MM-DD.")
    until = _day(clean["valid_until"]) if clean["valid_until"] else None
    if clean["valid_until"] and until is None:
        problems["valid_until"] = _("Give the end date as YYYY-MM-DD, or leave it empty.")
    elif until is not None and start is not None and until < start:
        problems["valid_until"] = _("The end comes before the date of the formality.")
    allowed = {key for key, _label in research_field_choices(session, clean["protocol_key"])}
    if not allowed:
        problems["protocol_key"] = _("Choose a protocol with a version in force.")
    elif not clean["fields"]:
        problems["fields"] = _("Choose the fields the research may receive.")
    elif set(clean["fields"]) - allowed:
        problems["fields"] = _("These fields are not fields of the protocol in force (or are "
                               "identification items, never exported): %(list)s",
                               list=", ".join(sorted(set(clean["fields"]) - allowed)))
    if not withdrawn and not _notice_in_force(session, clean["notice"]):
        problems["notice"] = _("Choose the published notice that informs the persons of this "
                               "reuse (publish it first).")
    if problems:
        raise RegisterRefused(problems)
    if item_no is not None and latest(session, RegisterKind.RESEARCH, item_no) is None:
        raise NotFound()
    return _save(session, actor, RegisterKind.RESEARCH, item_no, clean,
                 ResearchStatus.WITHDRAWN if withdrawn else ResearchStatus.ACTIVE,
                 expected_number=expected_number)
