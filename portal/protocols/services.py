"""Installing protocol versions and finding the one in force."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal import clock
from portal.audit.services import actor_fields, record
from portal.db import app_of
from portal.errors import Conflict
from portal.in_force import changed
from portal.protocols.compare import compare
from portal.protocols.loader import (
    LoadedProtocol,
    ProtocolDefinitionError,
    load_path,
    load_text,
)
from portal.protocols.models import ProtocolVersion
from portal.protocols.schema import Protocol

#: the cache of the versions in force, cleared by an install (see `portal.in_force`)
VERSION_IN_FORCE = "protocol-version"


class IncompatibleVersion(Conflict):
    """A new version would remove or retype what stored submissions use."""

    def __init__(self, breaks: list[str]) -> None:
        super().__init__("; ".join(breaks))
        self.breaks = breaks


class ReleaseBlocked(Conflict):
    """Another area refuses, for now, to see this version put in force (REC-08: the impact
    assessment must first be re-approved). The check ran before the install changed anything,
    so the caller commits what the check recorded (why it refused) and the refusal stays known."""


#: a check called with (session, actor, the loaded version) before a version is put in force;
#: it raises ReleaseBlocked to refuse
ReleaseCheck = Callable[[Session, Any, LoadedProtocol], None]
_RELEASE_CHECKS = "portal.protocols.release_checks"


def before_in_force(app: Any, check: ReleaseCheck) -> None:
    """Have `check` called before any version is put in force (another area's gate, e.g. the
    DPIA of the registers), without the protocols area knowing that area."""
    app.extensions.setdefault(_RELEASE_CHECKS, []).append(check)


@dataclass(frozen=True)
class Installed:
    version: ProtocolVersion
    created: bool


def loaded(version: ProtocolVersion) -> LoadedProtocol:
    """Return the validated definition of an installed version (parsed once, cached)."""
    return load_text(version.source_text, version.source_name)


def current_version(session: Session, protocol_key: str | None = None) -> ProtocolVersion | None:
    """Return the version in force (of `protocol_key`, or of the only installed protocol)."""
    query = select(ProtocolVersion).where(ProtocolVersion.is_current.is_(True))
    if protocol_key is not None:
        query = query.where(ProtocolVersion.protocol_key == protocol_key)
    return session.scalars(query.order_by(ProtocolVersion.id.desc())).first()


#: app.extensions key of the hooks telling which forms hold stored data
FORMS_IN_USE = "portal.protocols.forms_in_use"

FormsInUse = Callable[[Session, str], set[str]]


def register_forms_in_use(app: Flask, hook: FormsInUse) -> None:
    """Let an area that stores filled forms (the records) say which forms hold data.

    `hook(session, protocol_key)` returns form keys; an install refuses a version that would
    remove or retype what they use. Protocols do not import the areas that store forms.
    """
    hooks = app.extensions.setdefault(FORMS_IN_USE, [])
    if hook not in hooks:
        hooks.append(hook)


#: app.extensions key of the hooks told of each new version in force
VERSION_INSTALLED = "portal.protocols.version_installed"

VersionInstalled = Callable[[Session, Any, ProtocolVersion], None]


def register_version_installed(app: Flask, hook: VersionInstalled) -> None:
    """Let an area keeping data computed from a definition (the records' schedule states)
    bring it to a new version in force, in the install's transaction."""
    hooks = app.extensions.setdefault(VERSION_INSTALLED, [])
    if hook not in hooks:
        hooks.append(hook)


def used_forms(session: Session, protocol_key: str) -> set[str]:
    """Return the keys of the forms that have stored submissions under this protocol."""
    # No area registered (a protocol-only installation): nothing is stored then.
    used: set[str] = set()
    for hook in app_of(session).extensions.get(FORMS_IN_USE, ()):
        used |= hook(session, protocol_key)
    return used


def _fields(definition: Protocol, form_key: str) -> dict[str, Any]:
    for form in definition.forms:
        if form.key == form_key:
            return {field.key: field for section in form.sections for field in section.fields}
    return {}


def breaking_changes(old: Protocol, new: Protocol, forms_in_use: set[str]) -> list[str]:
    """List what `new` removes or retypes among the fields and choices of forms in use."""
    breaks = []
    for form_key in sorted(forms_in_use):
        before, after = _fields(old, form_key), _fields(new, form_key)
        if before and not after:
            breaks.append(f"form {form_key} removed")
            continue
        for key, field in before.items():
            if key not in after:
                breaks.append(f"{form_key}.{key}: field removed")
            elif after[key].type != field.type:
                breaks.append(f"{form_key}.{key}: type {field.type} changed to {after[key].type}")
            elif hasattr(field, "choices"):
                gone = {c.code for c in field.choices} - {c.code for c in after[key].choices}
                breaks.extend(f"{form_key}.{key}: choice {code} removed" for code in sorted(gone))
    return breaks


def install_protocol(session: Session, actor: Any, path: str | Path) -> Installed:
    """Install a definition file as the version in force; the same content twice is a no-op.

    :raises ProtocolDefinitionError: when the definition is malformed or breaks a rule.
    :raises IncompatibleVersion: when it would break stored submissions.
    :raises ReleaseBlocked: when a check of another area refuses it for now (nothing changed).
    """
    protocol = load_path(path)
    if protocol.warnings:  # pending reviews and placeholders: a person must settle them first
        raise ProtocolDefinitionError(list(protocol.warnings))
    # Keep exactly the text that was validated: the file could change between two reads.
    text = Path(path).read_text(encoding="utf-8")
    if load_text(text, str(path)).content_hash != protocol.content_hash:
        raise Conflict(f"{path} changed while it was being installed; try again")
    return install_loaded(session, actor, protocol, text, Path(path).name)


def stored_breaks(session: Session, protocol: LoadedProtocol) -> list[str]:
    """What `protocol` would break among stored submissions, against every installed version
    of its key (a field removed, retyped, a choice removed); empty when it breaks nothing."""
    in_use = used_forms(session, protocol.key)
    breaks: list[str] = []
    if not in_use:
        return breaks
    versions = session.scalars(
        select(ProtocolVersion).where(ProtocolVersion.protocol_key == protocol.key)
    )
    for version in versions:
        breaks.extend(b for b in breaking_changes(loaded(version).definition,
                                                  protocol.definition, in_use)
                      if b not in breaks)
    return breaks


def install_loaded(session: Session, actor: Any, protocol: LoadedProtocol, text: str,
                   source_name: str, *, author_label: str | None = None,
                   approved: bool = False) -> Installed:
    """Put a validated definition in force: the one step `protocol install` and a draft's
    approval share. `approved` records `actor` as the approver (maker-checker) beside the
    author.

    :raises ProtocolDefinitionError: when points remain to settle (reviews, placeholders).
    :raises IncompatibleVersion: when it would break stored submissions.
    :raises ReleaseBlocked: when a check of another area refuses it for now (nothing changed).
    """
    if protocol.warnings:
        raise ProtocolDefinitionError(list(protocol.warnings))
    existing = session.scalar(
        select(ProtocolVersion).where(
            ProtocolVersion.protocol_key == protocol.key,
            ProtocolVersion.content_hash == protocol.content_hash,
        )
    )
    if existing is not None and existing.is_current:
        return Installed(existing, created=False)
    for check in app_of(session).extensions.get(_RELEASE_CHECKS, []):
        check(session, actor, protocol)
    breaks = stored_breaks(session, protocol)
    if breaks:
        raise IncompatibleVersion(breaks)
    previous = current_version(session, protocol.key)
    changes = compare(loaded(previous).definition if previous else None, protocol.definition)
    changed(session, VERSION_IN_FORCE)
    session.execute(
        update(ProtocolVersion)
        .where(ProtocolVersion.protocol_key == protocol.key)
        .values(is_current=False)
    )
    created = existing is None
    _kind, actor_id, label = actor_fields(actor)
    if existing is None:
        existing = ProtocolVersion(
            protocol_key=protocol.key,
            version_label=str(protocol.definition.version),
            content_hash=protocol.content_hash,
            source_name=source_name,
            source_text=text,
            installed_at=clock.now(),
            installed_by_id=actor_id if _kind == "user" else None,
            installed_by_label=label,
            author_label=author_label,
            approved_by_label=label if approved else None,
            approved_at=clock.now() if approved else None,
        )
        session.add(existing)
    existing.is_current = True
    session.flush()
    for hook in app_of(session).extensions.get(VERSION_INSTALLED, ()):
        hook(session, actor, existing)
    record(session, actor, "protocols:version:install", existing,
           version=existing.version_label, created=created, changes=len(changes))
    return Installed(existing, created=created)
