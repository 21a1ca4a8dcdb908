"""Reading the trail for the auditors and the DPO (SEC-JOU-3): filters, pages, CSV export."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from portal.audit.lookups import case_names, case_reference_of, person_id
from portal.audit.models import AuditAlert, AuditEvent

PAGE_SIZE = 50
BATCH = 2000
_USER_REF = re.compile(r"^[Uu]?(\d{1,9})$")

CSV_COLUMNS = (
    "seq", "at_utc", "actor_kind", "actor_id", "actor_label", "session_hash", "action",
    "target_type", "target_ref", "outcome", "client_address", "details", "hash",
)


@dataclass(frozen=True)
class EventFilter:
    """What the auditor asked for; every part is optional."""

    person: str | None = None
    record: str | None = None
    action: str | None = None
    outcome: str | None = None
    date_from: date | None = None
    date_to: date | None = None

    def details(self) -> dict[str, Any]:
        """Return the filter as audit details (short codes, only the parts given)."""
        values = {
            "person": self.person, "record": self.record, "action": self.action,
            "outcome": self.outcome,
            "date_from": self.date_from.isoformat() if self.date_from else None,
            "date_to": self.date_to.isoformat() if self.date_to else None,
        }
        return {f"filter_{k}": v for k, v in values.items() if v}


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def _person_conditions(session: Session, person: str) -> list[Any]:
    """Each way an entry can name the person: the label, the user number, the login's user."""
    conditions = [AuditEvent.actor_label == person]
    numeric = _USER_REF.match(person)
    if numeric:
        conditions.append(AuditEvent.actor_id == int(numeric.group(1)))
    user_id = person_id(session, person)
    if user_id is not None:
        conditions.append(AuditEvent.actor_id == user_id)
    return conditions


def apply_filter(
    session: Session, statement: Select[Any], flt: EventFilter, zone: ZoneInfo
) -> Select[Any]:
    """Restrict a query on audit_event to the entries matching `flt` (dates are local days)."""
    if flt.person:
        statement = statement.where(or_(*_person_conditions(session, flt.person)))
    if flt.record:
        # A typed case number finds the entries naming its case by the opaque reference, and
        # those written before entries named cases so (they hold the number itself).
        refs = {flt.record, case_reference_of(session, flt.record)} - {None}
        statement = statement.where(AuditEvent.target_ref.in_(sorted(refs)))
    if flt.action:
        if flt.action.count(":") == 2 and not flt.action.endswith(":"):
            statement = statement.where(AuditEvent.action == flt.action)
        else:
            statement = statement.where(AuditEvent.action.startswith(flt.action, autoescape=True))
    if flt.outcome:
        statement = statement.where(AuditEvent.outcome == flt.outcome)
    if flt.date_from:
        statement = statement.where(AuditEvent.at >= _local_midnight(flt.date_from, zone))
    if flt.date_to:
        end = _local_midnight(flt.date_to + timedelta(days=1), zone)
        statement = statement.where(AuditEvent.at < end)
    return statement


@dataclass
class EventPage:
    """One page of entries, newest first, with the keys of the neighbouring pages."""

    entries: list[AuditEvent]
    newer_after: int | None
    older_before: int | None


def list_events(
    session: Session, flt: EventFilter, zone: ZoneInfo, *, before: int | None = None,
    after: int | None = None, limit: int | None = None, oldest_first: bool = False,
) -> EventPage:
    """Return a page of entries matching `flt`, by keyset on the sequence number.

    Newest first, `before` pages back in time and `after` forward; oldest first, a page
    starts after `after` and `older_before` stays None (the next page is `newer_after`).
    """
    limit = limit or PAGE_SIZE
    if flt.person:
        # One keyset range per way of naming the person, each on its (actor, seq) index, merged
        # here: an OR of the two would read and sort every entry of the person on each page.
        base = apply_filter(session, select(AuditEvent), replace(flt, person=None), zone)
        arms = [base.where(c) for c in _person_conditions(session, flt.person)]
    else:
        arms = [apply_filter(session, select(AuditEvent), flt, zone)]

    def fetch(*where: Any, newest: bool, count: int) -> list[AuditEvent]:
        order = AuditEvent.seq.desc() if newest else AuditEvent.seq
        found = {e.seq: e for arm in arms
                 for e in session.scalars(arm.where(*where).order_by(order).limit(count))}
        return sorted(found.values(), key=lambda e: e.seq, reverse=newest)[:count]

    if oldest_first:
        where = [AuditEvent.seq > after] if after is not None else []
        rows = fetch(*where, newest=False, count=limit + 1)
        entries = rows[:limit]
        return EventPage(entries, entries[-1].seq if len(rows) > limit else None, None)
    if after is not None:
        rows = fetch(AuditEvent.seq > after, newest=False, count=limit + 1)
        has_newer = len(rows) > limit
        entries = list(reversed(rows[:limit]))
        has_older = bool(entries) and bool(
            fetch(AuditEvent.seq < entries[-1].seq, newest=True, count=1))
    else:
        where = [AuditEvent.seq < before] if before is not None else []
        rows = fetch(*where, newest=True, count=limit + 1)
        has_older = len(rows) > limit
        entries = rows[:limit]
        has_newer = before is not None and bool(entries)
    return EventPage(
        entries,
        entries[0].seq if entries and has_newer else None,
        entries[-1].seq if entries and has_older else None,
    )


def logged_filter(session: Session, flt: EventFilter) -> dict[str, Any]:
    """The filter as the consultation's audit details: a case number typed as the record is
    logged as its opaque reference, so the trail never holds the number (not after a purge)."""
    details = flt.details()
    if flt.record:
        reference = case_reference_of(session, flt.record)
        if reference is not None:
            details["filter_record"] = reference
    return details


def names_on(session: Session, entries: list[AuditEvent]) -> dict[str, str]:
    """What a page shows beside the opaque case references of its entries (the case number
    while the case is in the active base), resolved now: the entries themselves never change."""
    shown: set[str] = set()
    for entry in entries:
        if entry.target_ref:
            shown.add(entry.target_ref)
        shown.update(v for v in (entry.details or {}).values() if isinstance(v, str))
    return case_names(session, shown) if shown else {}


def count_events(session: Session, flt: EventFilter, zone: ZoneInfo, up_to_seq: int) -> int:
    """Count the entries matching `flt` up to sequence number `up_to_seq`."""
    statement = apply_filter(
        session, select(func.count()).select_from(AuditEvent), flt, zone
    ).where(AuditEvent.seq <= up_to_seq)
    return int(session.scalar(statement) or 0)


def _cell(value: Any) -> Any:
    # A spreadsheet would run a cell starting with = + - @ as a formula (CSV injection).
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_lines(
    session: Session, flt: EventFilter, zone: ZoneInfo, up_to_seq: int
) -> Iterator[str]:
    """Yield the CSV export of the matching entries, oldest first, streamed from the database."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield flush()
    table = AuditEvent.__table__
    statement = apply_filter(session, select(table), flt, zone).where(
        table.c.seq <= up_to_seq).order_by(table.c.seq)
    result = session.execute(statement.execution_options(yield_per=BATCH))
    try:
        for index, row in enumerate(result, start=1):
            writer.writerow([
                row.seq, row.at.isoformat(), row.actor_kind, row.actor_id,
                _cell(row.actor_label), row.session_hash, row.action, _cell(row.target_type),
                _cell(row.target_ref), row.outcome, _cell(row.client_address),
                _cell(json.dumps(row.details, sort_keys=True, ensure_ascii=False)),
                bytes(row.hash).hex(),
            ])
            if index % 500 == 0:
                yield flush()
    finally:
        result.close()
    yield flush()


def list_alerts(
    session: Session, page: int, limit: int = PAGE_SIZE
) -> tuple[list[AuditAlert], bool]:
    """Return one page of alerts, newest first, and whether there is a next page."""
    rows = list(session.scalars(
        select(AuditAlert).order_by(AuditAlert.raised_at.desc(), AuditAlert.id.desc())
        .offset((page - 1) * limit).limit(limit + 1)
    ))
    return rows[:limit], len(rows) > limit
