"""On 100,000 patients the lists' queries walk an index in their sort order (EXPLAIN).

The statements are the ones the list services send: each service runs until its page query
reaches the database, which a cursor hook catches, and the database explains it. A plan that
sorts (SQLite's temporary B-tree, PostgreSQL's Sort node) or scans the table fails, whatever
the data look like. The patients are inserted in bulk (no sealing: no row is opened), with a
schedule state for most of them: a visit due for one in five, the others later or ended.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select, text
from sqlalchemy.orm import Session

from portal import clock
from portal.permissions import Role
from portal.records import overview
from portal.records.models import Patient, ScheduleState
from tests.records import helpers

pytestmark = pytest.mark.scale

PATIENTS = 100_000


class _Caught(Exception):
    """The page query reached the database: stop the service there."""


def _seed(db: Session, site: Any, prescriber: Any) -> None:
    version = helpers.current_version(db, helpers.PROTOCOL_KEY)
    now = clock.now()
    today = now.date()
    batch = 10_000
    for first in range(0, PATIENTS, batch):
        patients, states = [], []
        for index in range(first, first + batch):
            patient_id = index + 1
            patients.append({
                "id": patient_id, "handle": secrets.token_urlsafe(16),
                "case_number": f"{index // 10_000:04d}-{index % 10_000:04d}".replace("0", "A"),
                "reference": f"ref-{index}", "protocol_key": version.protocol_key,
                "establishment_id": site.id, "identity": b"-", "wrapped_key": b"-",
                "kek_version": 1, "duplicate_index": f"{index:064d}",
                "created_at": now - timedelta(minutes=index), "created_by_id": prescriber.id})
            kind = index % 10
            if kind == 9:
                continue  # registered, nothing submitted yet: its first visit is due
            due = kind < 1
            states.append({
                "patient_id": patient_id, "protocol_version_id": version.id,
                "next_visit": None if kind >= 7 else "M3", "ended": kind >= 7,
                "window_start": None if kind >= 7 else
                today + timedelta(days=-10 if due else 40),
                "window_end": None if kind >= 7 else today + timedelta(days=10 if due else 60),
                "failed": False, "computed_at": now})
        db.execute(insert(Patient), patients)
        db.execute(insert(ScheduleState), states)
    db.commit()
    with db.get_bind().connect().execution_options(isolation_level="AUTOCOMMIT") as raw:
        raw.execute(text("ANALYZE"))


def _page_statement(db: Session, call: Any) -> tuple[str, Any]:
    """Run a list service until its page query (ORDER BY ... LIMIT) and return it."""
    engine = db.get_bind()
    caught: list[tuple[str, Any]] = []

    def hook(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
             _many: bool) -> None:
        if "FROM patient" in statement and "ORDER BY" in statement and "LIMIT" in statement:
            caught.append((statement, parameters))
            raise _Caught()

    event.listen(engine, "before_cursor_execute", hook)
    try:
        with pytest.raises(Exception) as raised:
            call()
        assert caught, f"no page query ran: {raised.value!r}"
    finally:
        event.remove(engine, "before_cursor_execute", hook)
        db.rollback()
    return caught[0]


def _plan(db: Session, statement: str, parameters: Any) -> str:
    engine = db.get_bind()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
        cursor.execute(prefix + statement, parameters)
        lines = [" ".join(str(c) for c in row) for row in cursor.fetchall()]
        cursor.close()
    finally:
        raw.close()
    return "\n".join(lines)


def _assert_walks(plan: str, dialect: str, indexes: tuple[str, ...]) -> None:
    # The schedule states are looked up by case, never read whole.
    assert "SCAN schedule_state" not in plan and "Seq Scan on schedule_state" not in plan
    if dialect == "sqlite":
        assert "TEMP B-TREE" not in plan, plan
        patient_lines = [line for line in plan.splitlines() if " patient " in f"{line} "]
        assert any(name in line for line in patient_lines for name in indexes), plan
    else:
        steps = [line.strip().removeprefix("->").strip() for line in plan.splitlines()]
        assert not any(s.startswith(("Sort", "Incremental Sort")) for s in steps), plan
        assert not any(s.startswith("Seq Scan on patient") for s in steps), plan
        assert any(f"using {name} on patient" in s for s in steps for name in indexes), plan


def test_the_list_queries_walk_the_index_of_their_sort(db, prescriber, site_a) -> None:
    _seed(db, site_a, prescriber)
    assert db.scalar(select(func.count()).select_from(Patient)) == PATIENTS
    lab = helpers.lab_person(db, "p.vigie", Role.PHARMACOVIGILANCE)
    dialect = db.get_bind().dialect.name
    by_created = ("ix_patient_created", "ix_patient_establishment_created")
    by_case = ("sqlite_autoindex_patient", "uq_patient_case_number")
    middle = db.scalar(select(Patient.handle).where(Patient.id == PATIENTS // 2))
    cases = {
        "my patients, newest": (prescriber, overview.my_patients, {}, by_created),
        "my patients, oldest, deep": (prescriber, overview.my_patients,
                                      {"sort": "oldest", "after": middle}, by_created),
        "my patients, by case": (prescriber, overview.my_patients, {"sort": "case"},
                                 by_case),
        "patients, newest": (prescriber, overview.patient_page, {}, by_created),
        "patients, newest, deep": (prescriber, overview.patient_page, {"after": middle},
                                   by_created),
        "patients, by case, deep": (prescriber, overview.patient_page,
                                    {"sort": "case_desc", "after": middle}, by_case),
        "patients, every establishment": (lab, overview.patient_page, {"after": middle},
                                          by_created),
    }
    for name, (actor, service, arguments, indexes) in cases.items():
        statement, parameters = _page_statement(
            db, lambda s=service, a=actor, k=arguments: s(db, a, **k))
        plan = _plan(db, statement, parameters)
        try:
            _assert_walks(plan, dialect, indexes)
        except AssertionError:
            pytest.fail(f"{name}: the plan does not walk {indexes}:\n{plan}")
