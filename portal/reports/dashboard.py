"""Medical affairs' dashboard: aggregate views of a protocol, with the reports' suppression.

Read through the records door for the person looking (purpose `report`: aggregate-only roles
are allowed figures, never rows); nothing identifying reaches the page.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from portal.protocols.schema import FormKind, Protocol
from portal.records.reading import Purpose, protocol_submissions
from portal.reports.calendar import add_months
from portal.reports.dataset import Table
from portal.reports.suppression import (
    Key,
    Mark,
    System,
    grid_equations,
    suppress_system,
    with_margins,
)

#: months shown in the inclusion chart
MONTHS = 12


@dataclass
class Dashboard:
    inclusions: Table
    status: Table
    events: Table
    completeness: Table


def _column_table(
    key: str,
    title: str,
    header: str,
    labels: list[str],
    counts: list[int],
    threshold: int,
    total_key: Key,
) -> Table:
    """A one-column table with its total, each count keyed for the dashboard's suppression:
    the total under `total_key` (the same count in another table has the same key)."""
    grid = with_margins([[n] for n in counts], total_row=True, total_column=False)
    keys: list[list[Key | None]] = [[f"{key}:{i}"] for i in range(len(counts))]
    keys.append([total_key])
    return Table(
        key,
        "cumulative",
        title,
        "counts",
        header,
        [*labels, "Total"],
        ["Effectif"],
        [list(r) for r in grid.values],
        [[Mark.shown] for _r in grid.values],
        threshold,
        keys=keys,
        equations=grid_equations(grid, keys),
    )


def _suppress_together(tables: list[Table], threshold: int) -> None:
    """One suppression over the dashboard: a count two tables give (the patients initiated)
    is shown in both or hidden in both, and never recomputable from either."""
    values: dict[Key, int] = {}
    order: dict[Key, int] = {}
    for table in tables:
        for r, row in enumerate(table.keys):
            for c, key in enumerate(row):
                if key is not None:
                    values[key] = int(table.values[r][c])
                    order.setdefault(key, len(order))
    equations = [eq for table in tables for eq in table.equations]
    marks = suppress_system(System(values, equations, {}, order), threshold)
    for table in tables:
        for r, row in enumerate(table.keys):
            for c, key in enumerate(row):
                if key is not None:
                    table.marks[r][c] = marks[key]


def build(
    session: Session, actor: Any, protocol: Protocol, today: date, threshold: int, timezone: str
) -> Dashboard:
    """Read the protocol's forms once and count what the dashboard shows."""
    zone = ZoneInfo(timezone)
    kinds = {f.key: f.kind for f in protocol.forms}
    first_month = add_months(today.replace(day=1), -(MONTHS - 1))
    months = [add_months(first_month, i) for i in range(MONTHS)]
    started: Counter[date] = Counter()
    before = 0
    initiated: set[int] = set()
    stopped: set[int] = set()
    serious: Counter[str] = Counter()
    forms: Counter[str] = Counter()
    missing: Counter[str] = Counter()
    follow_up = next((f for f in protocol.forms if f.kind == FormKind.follow_up), None)
    asked = (
        [
            fld.key
            for _si, _fi, s, fld in follow_up.iter_fields()
            if s.repeat is None
            and s.visible_if is None
            and fld.visible_if is None
            and fld.type != "calculated"
        ]
        if follow_up
        else []
    )
    for row in protocol_submissions(session, actor, protocol.key, purpose=Purpose.REPORT):
        kind = kinds.get(row.form_key)
        if kind == FormKind.initiation:
            initiated.add(row.patient_id)
            month = (
                row.submitted_at.astimezone(zone).date().replace(day=1)
                if row.submitted_at
                else None
            )
            if month is not None and month >= first_month:
                started[month] += 1
            else:
                before += 1
        elif kind == FormKind.discontinuation:
            stopped.add(row.patient_id)
        elif kind == FormKind.adverse_event:
            serious[str(row.answers.get("serious") or "")] += 1
        elif follow_up is not None and row.form_key == follow_up.key:
            forms["all"] += 1
            for key in asked:
                if row.answers.get(key) in (None, "", []):
                    missing["any"] += 1
                    forms["incomplete"] += 1
                    break
    # The months before the chart are a row of their own, so the total stays the true one.
    inclusions = _column_table(
        "inclusions",
        "Initiations par mois",
        "Mois",
        ["Avant"] + [m.strftime("%m/%Y") for m in months],
        [before] + [started[m] for m in months],
        threshold,
        "initiated",
    )
    ended = len(initiated & stopped)
    status = _column_table(
        "status",
        "Statut des patients initiés",
        "Statut",
        ["En cours", "Arrêt de traitement"],
        [len(initiated) - ended, ended],
        threshold,
        "initiated" if sum(started.values()) + before == len(initiated) else "patients",
    )
    events = _column_table(
        "events",
        "Effets indésirables par gravité",
        "Gravité",
        ["Grave", "Non grave", "Non renseigné"],
        [
            serious["yes"],
            serious["no"],
            sum(v for k, v in serious.items() if k not in ("yes", "no")),
        ],
        threshold,
        "events",
    )
    completeness = _column_table(
        "completeness",
        "Complétude des suivis",
        "Suivis",
        ["Complets", "Avec au moins une réponse manquante"],
        [forms["all"] - forms["incomplete"], forms["incomplete"]],
        threshold,
        "follow_ups",
    )
    _suppress_together([inclusions, status, events, completeness], threshold)
    return Dashboard(inclusions, status, events, completeness)
