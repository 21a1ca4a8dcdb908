"""The anomaly rules of the automatic checks (SEC-JOU-4), each a generator of findings.

Each rule reads the entries of the period being checked, streamed in batches, and yields a
`Finding` per anomaly. The conventions they rely on (action names, target types, details) are in
portal/audit/actions.py; the thresholds are settings (portal/audit/settings.py).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import groupby
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, not_, or_, select
from sqlalchemy.orm import Session

from portal.audit.actions import (
    ARCHIVE_READ_SUFFIX,
    ARCHIVE_REASON_DETAILS,
    DATA_EXPORT_ACTIONS,
    EXPORT_SUFFIX,
    FAILED_AUTH_ACTIONS,
    GRANT_FREE_PREFIXES,
    PATIENT_DETAIL,
    PATIENT_TARGET_TYPES,
    READ_SUFFIX,
    ROW_COUNT_DETAIL,
)
from portal.audit.anchor import configured_anchors
from portal.audit.lookups import GrantPeriod, grant_history
from portal.audit.models import AuditEvent
from portal.audit.settings import setting, timezone_name
from portal.audit.verify import verify
from portal.db import app_of
from portal.export_purposes import PURPOSE_DETAIL, USUAL_PURPOSES, purpose_of

BATCH = 5000

PATIENTS_PER_HOUR = "patients_per_hour"
OUTSIDE_GRANT = "outside_grant"
NIGHT_ACTIVITY = "night_activity"
FAILED_AUTH = "failed_auth_burst"
MASS_EXPORT = "mass_export"
BROKEN_CHAIN = "broken_chain"
ARCHIVE_WITHOUT_REASON = "archive_without_reason"
EXPORT_PURPOSE = "export_purpose"
#: raised by the login checks (accounts/origins.py), not by a rule of the checks run
OUTSIDE_ORIGIN = "outside_allowed_origin"


@dataclass
class Finding:
    """Something a rule found: which entries, about whom, and how much."""

    rule: str
    subject: str
    seq_from: int | None
    seq_to: int | None
    first_at: datetime | None = None
    last_at: datetime | None = None
    count: int = 0
    actor_id: int | None = None
    actor_label: str | None = None
    target_ref: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    #: the subject names the whole finding (e.g. one person's night): merge whatever the range
    whole_subject: bool = False


def least(a: Any, b: Any) -> Any:
    """Return the smaller of two values, ignoring None."""
    return b if a is None else a if b is None else min(a, b)


def greatest(a: Any, b: Any) -> Any:
    """Return the larger of two values, ignoring None."""
    return b if a is None else a if b is None else max(a, b)


@dataclass
class _Item:
    seq: int
    at: datetime
    key: Any


@dataclass
class _Episode:
    seq_from: int
    seq_to: int
    first_at: datetime
    last_at: datetime
    peak: int
    keys: set[Any]


def _episodes(
    items: Iterable[_Item], window: timedelta, limit: int, *, distinct: bool
) -> Iterator[_Episode]:
    """Yield the spans where a sliding `window` holds more than `limit` items (or keys).

    Overlapping windows over the limit make one episode; `items` come ordered by time.
    """
    queue: deque[_Item] = deque()
    counts: Counter[Any] = Counter()
    current: _Episode | None = None
    for item in items:
        queue.append(item)
        counts[item.key] += 1
        while item.at - queue[0].at > window:
            old = queue.popleft()
            counts[old.key] -= 1
            if counts[old.key] == 0:
                del counts[old.key]
        size = len(counts) if distinct else len(queue)
        if size <= limit:
            continue
        start = min(i.seq for i in queue)
        if current is not None and start <= current.seq_to:
            current.seq_from = min(current.seq_from, start)
            current.seq_to = max(current.seq_to, item.seq)
            current.last_at = max(current.last_at, item.at)
            current.peak = max(current.peak, size)
            current.keys.update(i.key for i in queue)
            continue
        if current is not None:
            yield current
        current = _Episode(start, item.seq, queue[0].at, item.at, size, {i.key for i in queue})
    if current is not None:
        yield current


@dataclass
class CheckContext:
    """What a rule needs: the session and the entries to examine.

    The entries are those up to `up_to_seq` that happened since `since`, plus every entry
    written after `after_seq` whatever its time (a clock set back must not hide entries).
    """

    session: Session
    up_to_seq: int
    since: datetime | None = None
    after_seq: int = 0

    def period(self, statement: Select[Any]) -> Select[Any]:
        """Restrict a query on audit_event to the entries examined."""
        statement = statement.where(AuditEvent.seq <= self.up_to_seq)
        if self.since is not None:
            statement = statement.where(
                or_(AuditEvent.at >= self.since, AuditEvent.seq > self.after_seq))
        return statement

    def stream(self, statement: Select[Any]) -> Iterator[Any]:
        """Stream the rows of a query in batches."""
        result = self.session.execute(statement.execution_options(yield_per=BATCH))
        try:
            yield from result
        finally:
            result.close()

    def setting(self, name: str) -> Any:
        return setting(self.session, name)


def _subject(row: Any) -> str:
    return f"U{row.actor_id}" if row.actor_id is not None else str(row.actor_label)


def _patient_reads(rows: Iterable[Any], labels: list[str]) -> Iterator[_Item]:
    """Turn read entries into (seq, at, patient) items; keep the reader's latest login."""
    for row in rows:
        labels[:] = [row.actor_label]
        if row.target_type == "patient":
            patient = row.target_ref
        else:
            patient = (row.details or {}).get(PATIENT_DETAIL)
        if patient:
            yield _Item(row.seq, row.at, str(patient))


def rule_patients_per_hour(ctx: CheckContext) -> Iterator[Finding]:
    """One person reading more than N distinct patients within one hour (refusals excluded)."""
    limit = int(ctx.setting("AUDIT_MAX_PATIENTS_PER_HOUR"))
    statement = ctx.period(
        select(AuditEvent.seq, AuditEvent.at, AuditEvent.actor_id, AuditEvent.actor_label,
               AuditEvent.target_type, AuditEvent.target_ref, AuditEvent.details)
        .where(AuditEvent.actor_kind == "user", AuditEvent.outcome == "success",
               AuditEvent.action.endswith(READ_SUFFIX),
               AuditEvent.target_type.in_(PATIENT_TARGET_TYPES))
    ).order_by(AuditEvent.actor_id, AuditEvent.at, AuditEvent.seq)
    for actor_id, rows in groupby(ctx.stream(statement), key=lambda r: r.actor_id):
        labels: list[str] = []
        reads = _patient_reads(rows, labels)
        for episode in _episodes(reads, timedelta(hours=1), limit, distinct=True):
            yield Finding(
                PATIENTS_PER_HOUR, f"U{actor_id}", episode.seq_from, episode.seq_to,
                episode.first_at, episode.last_at, count=episode.peak, actor_id=actor_id,
                actor_label=labels[0] if labels else None,
                details={"limit": limit, "window_minutes": 60,
                         "distinct_patients": len(episode.keys)},
            )


def _had_grant(grants: list[GrantPeriod], moment: datetime) -> bool:
    for grant in grants:
        if grant.pending:
            continue
        if not grant.valid_from <= moment <= grant.valid_until:
            continue
        if grant.created_at is not None and grant.created_at > moment:
            continue  # written after the access: a backdated grant covers nothing
        if grant.approved_at is not None and grant.approved_at > moment:
            continue
        if grant.ended_at is not None and grant.ended_at <= moment:
            continue
        return True
    return False


def rule_outside_grant(ctx: CheckContext) -> Iterator[Finding]:
    """A person acting while they held no valid access grant."""
    statement = ctx.period(
        select(AuditEvent.seq, AuditEvent.at, AuditEvent.actor_id, AuditEvent.actor_label,
               AuditEvent.action)
        .where(AuditEvent.actor_kind == "user", AuditEvent.outcome == "success",
               not_(or_(*[AuditEvent.action.startswith(p) for p in GRANT_FREE_PREFIXES])))
    ).order_by(AuditEvent.actor_id, AuditEvent.at, AuditEvent.seq)
    findings: list[Finding] = []
    for actor_id, rows in groupby(ctx.stream(statement), key=lambda r: r.actor_id):
        grants = grant_history(ctx.session, actor_id)
        if grants is None:
            return  # no area keeps access grants: nothing to weigh the actions by
        current: Finding | None = None
        for row in rows:
            if _had_grant(grants, row.at):
                if current is not None:
                    findings.append(current)
                    current = None
                continue
            if current is None:
                current = Finding(OUTSIDE_GRANT, f"U{actor_id}", row.seq, row.seq, row.at,
                                  row.at, actor_id=actor_id, actor_label=row.actor_label,
                                  details={"first_action": row.action})
            current.seq_to, current.last_at = row.seq, row.at
            current.count += 1
        if current is not None:
            findings.append(current)
    yield from findings


def _night_of(local: datetime, start: int, end: int) -> date | None:
    hour = local.hour
    if start > end:
        if hour >= start:
            return local.date()
        if hour < end:
            return local.date() - timedelta(days=1)
        return None
    return local.date() if start <= hour < end else None


def rule_night_activity(ctx: CheckContext) -> Iterator[Finding]:
    """A person active at night, local time (one alert per person and night)."""
    zone = ZoneInfo(timezone_name(ctx.session))
    start = int(ctx.setting("AUDIT_NIGHT_START_HOUR"))
    end = int(ctx.setting("AUDIT_NIGHT_END_HOUR"))
    statement = ctx.period(
        select(AuditEvent.seq, AuditEvent.at, AuditEvent.actor_id, AuditEvent.actor_label)
        .where(AuditEvent.actor_kind == "user")
    ).order_by(AuditEvent.actor_id, AuditEvent.at, AuditEvent.seq)
    nights: dict[tuple[int, date], Finding] = {}
    for row in ctx.stream(statement):
        night = _night_of(row.at.astimezone(zone), start, end)
        if night is None:
            continue
        found = nights.get((row.actor_id, night))
        if found is None:
            found = nights[(row.actor_id, night)] = Finding(
                NIGHT_ACTIVITY, f"U{row.actor_id} {night.isoformat()}", row.seq, row.seq,
                row.at, row.at, actor_id=row.actor_id, actor_label=row.actor_label,
                details={"night": night.isoformat(), "from_hour": start, "to_hour": end,
                         "timezone": zone.key},
                whole_subject=True,
            )
        found.seq_from = least(found.seq_from, row.seq)
        found.seq_to = greatest(found.seq_to, row.seq)
        found.first_at = least(found.first_at, row.at)
        found.last_at = greatest(found.last_at, row.at)
        found.count += 1
    yield from nights.values()


def rule_failed_auth(ctx: CheckContext) -> Iterator[Finding]:
    """Bursts of failed logins or TOTP replays, on one account or from one address."""
    limit = int(ctx.setting("AUDIT_MAX_FAILED_AUTH"))
    minutes = int(ctx.setting("AUDIT_FAILED_AUTH_WINDOW_MINUTES"))
    window = timedelta(minutes=minutes)
    base = ctx.period(
        select(AuditEvent.seq, AuditEvent.at, AuditEvent.target_type, AuditEvent.target_ref,
               AuditEvent.client_address)
        .where(AuditEvent.action.in_(FAILED_AUTH_ACTIONS))
    )
    details = {"limit": limit, "window_minutes": minutes}
    by_account = base.where(AuditEvent.target_type == "user").order_by(
        AuditEvent.target_ref, AuditEvent.at, AuditEvent.seq)
    findings: list[Finding] = []
    for account, rows in groupby(ctx.stream(by_account), key=lambda r: r.target_ref):
        items = (_Item(r.seq, r.at, r.client_address) for r in rows)
        for ep in _episodes(items, window, limit, distinct=False):
            findings.append(Finding(
                FAILED_AUTH, f"account {account}", ep.seq_from, ep.seq_to, ep.first_at,
                ep.last_at, count=ep.peak, target_ref=account,
                details={**details, "per": "account", "addresses": len(ep.keys)},
            ))
    by_address = base.where(AuditEvent.client_address.is_not(None)).order_by(
        AuditEvent.client_address, AuditEvent.at, AuditEvent.seq)
    for address, rows in groupby(ctx.stream(by_address), key=lambda r: r.client_address):
        items = (_Item(r.seq, r.at, r.target_ref if r.target_type == "user" else None)
                 for r in rows)
        for ep in _episodes(items, window, limit, distinct=False):
            if len(ep.keys) == 1 and None not in ep.keys:
                continue  # one known account: the per-account alert already covers it
            findings.append(Finding(
                FAILED_AUTH, f"address {address}", ep.seq_from, ep.seq_to, ep.first_at,
                ep.last_at, count=ep.peak,
                details={**details, "per": "address", "address": address,
                         "accounts": len(ep.keys - {None})},
            ))
    yield from findings


def _merge_overlapping(findings: list[Finding]) -> list[Finding]:
    merged: list[Finding] = []
    for found in sorted(findings, key=lambda f: (f.seq_from or 0)):
        last = merged[-1] if merged else None
        if last is not None and (found.seq_from or 0) <= (last.seq_to or 0):
            last.seq_to = greatest(last.seq_to, found.seq_to)
            last.last_at = greatest(last.last_at, found.last_at)
            last.count = max(last.count, found.count)
            last.details = {**found.details, **last.details}
        else:
            merged.append(found)
    return merged


def rule_mass_export(ctx: CheckContext) -> Iterator[Finding]:
    """One export of too many rows, or too many exports by one person in a short time."""
    max_rows = int(ctx.setting("AUDIT_MAX_EXPORT_ROWS"))
    max_exports = int(ctx.setting("AUDIT_MAX_EXPORTS"))
    minutes = int(ctx.setting("AUDIT_EXPORT_WINDOW_MINUTES"))
    statement = ctx.period(
        select(AuditEvent.seq, AuditEvent.at, AuditEvent.actor_id, AuditEvent.actor_label,
               AuditEvent.action, AuditEvent.details)
        .where(AuditEvent.action.endswith(EXPORT_SUFFIX), AuditEvent.outcome == "success")
    ).order_by(AuditEvent.actor_id, AuditEvent.actor_label, AuditEvent.at, AuditEvent.seq)
    for subject, group in groupby(ctx.stream(statement), key=_subject):
        rows = list(group)  # one person's exports in the period: a handful
        first = rows[0]
        found: list[Finding] = []
        for row in rows:
            count = (row.details or {}).get(ROW_COUNT_DETAIL)
            if isinstance(count, int | float) and count > max_rows:
                found.append(Finding(
                    MASS_EXPORT, subject, row.seq, row.seq, row.at, row.at, count=int(count),
                    actor_id=row.actor_id, actor_label=row.actor_label,
                    details={"kind": "rows", "max_rows": max_rows, "action": row.action},
                ))
        items = (_Item(r.seq, r.at, r.seq) for r in rows)
        for ep in _episodes(items, timedelta(minutes=minutes), max_exports, distinct=False):
            found.append(Finding(
                MASS_EXPORT, subject, ep.seq_from, ep.seq_to, ep.first_at, ep.last_at,
                count=ep.peak, actor_id=first.actor_id, actor_label=first.actor_label,
                details={"kind": "count", "max_exports": max_exports,
                         "window_minutes": minutes},
            ))
        yield from _merge_overlapping(found)


def rule_archive_without_reason(ctx: CheckContext) -> Iterator[Finding]:
    """A read of the intermediate archive that states no reason (one finding per read)."""
    statement = ctx.period(
        select(AuditEvent.seq, AuditEvent.at, AuditEvent.actor_id, AuditEvent.actor_label,
               AuditEvent.action, AuditEvent.target_ref, AuditEvent.details)
        .where(AuditEvent.action.endswith(ARCHIVE_READ_SUFFIX))
    ).order_by(AuditEvent.seq)
    for row in ctx.stream(statement):
        details = row.details or {}
        missing = [name for name in ARCHIVE_REASON_DETAILS
                   if not str(details.get(name) or "").strip()]
        if missing:
            yield Finding(ARCHIVE_WITHOUT_REASON, _subject(row), row.seq, row.seq, row.at,
                          row.at, count=1, actor_id=row.actor_id, actor_label=row.actor_label,
                          target_ref=row.target_ref,
                          details={"action": row.action, "missing": missing})


def rule_export_purpose(ctx: CheckContext) -> Iterator[Finding]:
    """An export of patient data for research or an authority, or stating no purpose of the
    list (one finding per export): each is a reuse the DPO answers for (5.3, 5.4)."""
    statement = ctx.period(
        select(AuditEvent.seq, AuditEvent.at, AuditEvent.actor_id, AuditEvent.actor_label,
               AuditEvent.action, AuditEvent.target_ref, AuditEvent.details)
        .where(AuditEvent.action.in_(DATA_EXPORT_ACTIONS), AuditEvent.outcome == "success")
    ).order_by(AuditEvent.seq)
    for row in ctx.stream(statement):
        stated = (row.details or {}).get(PURPOSE_DETAIL)
        purpose = purpose_of(stated) if stated else None
        if purpose in USUAL_PURPOSES:
            continue
        kind = "unusual" if purpose is not None else "missing" if not stated else "unknown"
        yield Finding(EXPORT_PURPOSE, _subject(row), row.seq, row.seq, row.at, row.at,
                      count=1, actor_id=row.actor_id, actor_label=row.actor_label,
                      target_ref=row.target_ref,
                      details={"action": row.action, "kind": kind,
                               "purpose": str(stated or "")[:40]})


def rule_broken_chain(ctx: CheckContext) -> Iterator[Finding]:
    """The chain does not verify (SEC-JOU-3b), also against its anchors: report the first break."""
    scan = configured_anchors(app_of(ctx.session))
    result = verify(ctx.session, anchors=scan.heads() if scan is not None else ())
    if result.problem is not None:
        problem = result.problem
        yield Finding(BROKEN_CHAIN, "chain", problem.seq, problem.seq, count=1,
                      details={"kind": problem.kind, "reason": problem.reason[:120]})


#: what each rule looks for, as shown to the auditors and the DPO
RULE_LABELS = {
    BROKEN_CHAIN: _l("The audit trail does not verify (modified, deleted or reordered entries)"),
    PATIENTS_PER_HOUR: _l("One person read many different patients within one hour"),
    OUTSIDE_GRANT: _l("Activity while the person held no valid access grant"),
    NIGHT_ACTIVITY: _l("Activity at night"),
    FAILED_AUTH: _l("Burst of failed logins or replayed codes"),
    MASS_EXPORT: _l("Export of many rows, or many exports in a short time"),
    ARCHIVE_WITHOUT_REASON: _l("A read of the intermediate archive without a stated reason"),
    EXPORT_PURPOSE: _l("An export for research or an authority, or without a purpose of the list"),
    OUTSIDE_ORIGIN: _l("A login or a page from a network outside the declared ones"),
}

#: every rule, by name
RULES: dict[str, Callable[[CheckContext], Iterator[Finding]]] = {
    BROKEN_CHAIN: rule_broken_chain,
    PATIENTS_PER_HOUR: rule_patients_per_hour,
    OUTSIDE_GRANT: rule_outside_grant,
    NIGHT_ACTIVITY: rule_night_activity,
    FAILED_AUTH: rule_failed_auth,
    MASS_EXPORT: rule_mass_export,
    ARCHIVE_WITHOUT_REASON: rule_archive_without_reason,
    EXPORT_PURPOSE: rule_export_purpose,
}
