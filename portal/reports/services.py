"""Generating a report: read the protocol's forms as they stood at the data lock (through the
records door), compute the tables, record the generation, write the files."""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit.services import actor_fields, record
from portal.db import app_of
from portal.export_purposes import PURPOSE_DETAIL
from portal.protocols.models import ProtocolVersion
from portal.protocols.services import current_version, loaded
from portal.records.models import Submission
from portal.records.reading import Purpose, SubmissionValues, protocol_submissions
from portal.reports import settings
from portal.reports.calendar import CalendarError, report_at
from portal.reports.dataset import (
    Published,
    Table,
    compute_report,
    tables_from_data,
    tables_to_data,
)
from portal.reports.models import ReportGeneration, SummaryReport
from portal.reports.outputs import Meta, write_all
from portal.reports.suppression import suppress, with_margins


class ReportAction(enum.StrEnum):
    GENERATE = "reports:report:generate"
    DOWNLOAD = "reports:report:download"
    TRANSMIT = "reports:report:transmit"


class ReportError(ValueError):
    """A report that cannot be generated; the message says why."""


@dataclass
class Generated:
    report: SummaryReport
    generation: ReportGeneration
    tables: list[Table]
    meta: Meta
    #: the first generation of the report, when this one is a regeneration
    first: ReportGeneration | None

    @property
    def matches_first(self) -> bool:
        return self.first is None or self.first.fingerprint == self.generation.fingerprint


def timezone_of(session: Session) -> str:
    return str(app_of(session).config.get("TIMEZONE") or "Europe/Paris")


def lock_end(day: date, timezone: str) -> datetime:
    """The last instant of the local day `day` (the data lock covers the whole day)."""
    start_next = datetime.combine(day + timedelta(days=1), time(0), tzinfo=ZoneInfo(timezone))
    return start_next - timedelta(microseconds=1)


def generations_of(session: Session, report: SummaryReport) -> list[ReportGeneration]:
    return list(
        session.scalars(
            select(ReportGeneration)
            .where(ReportGeneration.report_id == report.id)
            .order_by(ReportGeneration.id)
        )
    )


def _previous_generation(
    session: Session, report: SummaryReport, first: ReportGeneration | None
) -> ReportGeneration | None:
    """The first generation of the report before `report` in its series (what was published
    of it), or None; for a regeneration, only one that existed when `first` was made, so that
    the regeneration is computed against the same one."""
    previous = session.scalar(
        select(SummaryReport).where(
            SummaryReport.protocol_key == report.protocol_key,
            SummaryReport.number == report.number - 1,
        )
    )
    if previous is None:
        return None
    found = next(iter(generations_of(session, previous)), None)
    if found is not None and first is not None and found.id > first.id:
        return None
    return found


def published_of(generation: ReportGeneration | None) -> Published | None:
    """What a generation published, for the next report's suppression; None for a
    generation stored before it was recorded."""
    if generation is None:
        return None
    data = json.loads(generation.tables or "{}")
    found = data.get("published") if isinstance(data, dict) else None
    return None if found is None else Published.from_data(found)


def _fingerprint(meta_fields: dict[str, Any], tables: list[Table]) -> str:
    body = {
        "meta": meta_fields,
        "tables": [[t.key, t.scope, t.row_labels, t.column_labels, t.rows_text()] for t in tables],
    }
    canonical = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _rectifications(rectified: dict[str, int], titles: dict[str, str], threshold: int) -> Table:
    keys = [k for k in titles if k in rectified]
    labels = [titles[k] for k in keys] or ["Aucun formulaire"]
    total = len(keys) > 1
    grid = with_margins(
        [[rectified[k]] for k in keys] or [[0]], total_row=total, total_column=False
    )
    if total:
        labels.append("Total")
    return Table(
        "rectifications",
        "cumulative",
        "Formulaires rectifiés depuis la date de gel du rapport précédent",
        "counts",
        "Formulaire",
        labels,
        ["Formulaires"],
        [list(r) for r in grid.values],
        suppress(grid, threshold),
        threshold,
        "Ces rectifications ne modifient pas le rapport précédent, gelé à sa date.",
    )


def generate(session: Session, actor: Any, protocol_key: str, data_lock: date) -> Generated:
    """Compute the report of `protocol_key` locked on `data_lock` and record the generation.

    :raises ReportError: no such report in the calendar, or no protocol installed.
    """
    report = report_at(session, protocol_key, data_lock)
    if report is None:
        raise ReportError(
            f"no report of {protocol_key} has its data lock on "
            f"{data_lock.isoformat()}: plan it first (portal report plan)"
        )
    earlier = generations_of(session, report)
    first = earlier[0] if earlier else None
    if first is not None:
        version = session.get(ProtocolVersion, first.protocol_version_id)
    else:
        version = current_version(session, protocol_key)
    if version is None:
        raise ReportError(f"protocol {protocol_key} is not installed")
    definition = loaded(version).definition
    zone = timezone_of(session)
    threshold = settings.threshold(session) if first is None else first.threshold
    versions: dict[str, int] = {}

    def read() -> Iterator[SubmissionValues]:
        for row in protocol_submissions(
            session, actor, protocol_key, purpose=Purpose.REPORT, as_of=lock_end(data_lock, zone)
        ):
            versions[str(row.submission_id)] = row.revision
            yield row

    prior = _previous_generation(session, report, first)
    computed = compute_report(
        definition,
        read(),
        period_start=report.period_start,
        data_lock=data_lock,
        threshold=threshold,
        timezone=zone,
        previous=published_of(prior),
    )
    tables = computed.tables
    previous = None if prior is None else json.loads(prior.versions)
    if previous is not None:
        # Forms the previous report used and that were rectified before this data lock.
        titles = {form.key: form.title.fr for form in definition.forms}
        changed = [
            int(sid)
            for sid, revision in versions.items()
            if sid in previous and previous[sid] != revision
        ]
        rectified: dict[str, int] = {}
        for start in range(0, len(changed), 500):
            for form_key in session.scalars(
                select(Submission.form_key).where(Submission.id.in_(changed[start : start + 500]))
            ):
                rectified[form_key] = rectified.get(form_key, 0) + 1
        tables.append(_rectifications(rectified, titles, threshold))
    meta_fields: dict[str, Any] = {
        "protocol": protocol_key,
        "number": report.number,
        "period_start": report.period_start.isoformat(),
        "data_lock": data_lock.isoformat(),
        "definition": f"{version.version_label} ({version.content_hash[:12]})",
        "threshold": threshold,
    }
    fingerprint = _fingerprint(meta_fields, tables)
    generation = ReportGeneration(
        report_id=report.id,
        generated_by_label=actor_fields(actor)[2],
        protocol_version_id=version.id,
        threshold=threshold,
        submission_count=len(versions),
        versions=json.dumps(versions, sort_keys=True, separators=(",", ":")),
        fingerprint=fingerprint,
    )
    session.add(generation)
    session.flush()
    meta = _meta(
        report, definition.title.fr, definition.product.name, meta_fields["definition"], generation
    )
    generation.tables = json.dumps(
        {
            "meta": asdict(meta),
            "tables": tables_to_data(tables),
            # Aggregates as shown (hidden ones as None) and the tables' equations: what the
            # next report of the series is suppressed against.
            "published": computed.published.to_data(),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )
    record(
        session,
        actor,
        ReportAction.GENERATE,
        report,
        generation=generation.audit_ref,
        fingerprint=fingerprint[:16],
        submissions=len(versions),
        same_as_first=int(first is None or first.fingerprint == fingerprint),
        **{PURPOSE_DETAIL: meta.purpose},
    )
    return Generated(report, generation, tables, meta, first)


def _meta(
    report: SummaryReport, title: str, product: str, definition: str, generation: ReportGeneration
) -> Meta:
    from portal.i18n import local_time

    return Meta(
        protocol_key=report.protocol_key,
        protocol_title=title,
        product=product,
        number=report.number,
        period_start=local_time(report.period_start, "long_date", "fr"),
        data_lock=local_time(report.data_lock_date, "long_date", "fr"),
        definition=definition,
        fingerprint=generation.fingerprint,
        generated_at=local_time(generation.generated_at, "datetime", "fr"),
        threshold=generation.threshold,
    )


def stored(generation: ReportGeneration) -> tuple[Meta, list[Table]]:
    """A generation's meta and tables as they were shown when it was made."""
    data = json.loads(generation.tables or "{}")
    return Meta(**data["meta"]), tables_from_data(data["tables"])


def latest_generation(session: Session, report: SummaryReport) -> ReportGeneration | None:
    return session.scalar(
        select(ReportGeneration)
        .where(ReportGeneration.report_id == report.id)
        .order_by(ReportGeneration.id.desc())
        .limit(1)
    )


def generate_files(
    session: Session, actor: Any, protocol_key: str, data_lock: date, directory: Path
) -> tuple[Generated, list[Path]]:
    """`generate`, then write its PDF, XLSX and CSV files into `directory`."""
    generated = generate(session, actor, protocol_key, data_lock)
    return generated, write_all(directory, generated.meta, generated.tables)


__all__ = ["CalendarError", "Generated", "ReportError", "generate", "generate_files"]
