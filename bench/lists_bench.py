"""Records lists bench: the cost of one page of /patients, /my-patients and the review list at
1,000 and at 100,000 patients, keyset pages beside the OFFSET pages they replace.

Not a test: it prints figures. For each database it seeds 1,000 patients (sealed identities,
exactly as the portal seals them; one adverse-event form for every tenth patient), measures,
grows to 100,000 and measures again. Every figure is the median of several calls of the list
service a page view makes (query, decryption of the letters, audit entry; the template is left
out), for the first page and for a page deep in the list (half-way). The baseline is the same
page read with OFFSET, as the list did before: its cost grows with the depth, a keyset page's
does not. "my patients" decrypts the schedule's forms, so its bulk-seeded patients have none
and a page looks at `SCAN_LIMIT` patients at most.

    .venv/bin/python bench/lists_bench.py [--no-postgres] [--postgres URL] [--sizes 1000,100000]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import fresh_schema, make_portal, seed  # noqa: E402

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_lists"
REPEAT = 15


def _grow(app: Any, total: int) -> None:
    """Add patients (and an adverse event for every tenth) until there are `total`."""
    from sqlalchemy import func, insert, select

    from portal import clock
    from portal.db import new_session
    from portal.protocols.services import current_version
    from portal.records import services
    from portal.records.crypto_store import patient_aad, ring_of, seal_value
    from portal.records.models import Patient, Submission, SubmissionRevision

    with new_session(app) as db:
        have = db.scalar(select(func.count()).select_from(Patient)) or 0
        first = db.scalar(select(Patient).order_by(Patient.id))
        version = current_version(db, "put_sp_xyz123")
        ring = ring_of(db)
        now = clock.now()
        next_id = (db.scalar(select(func.max(Patient.id))) or 0) + 1
        next_sub = (db.scalar(select(func.max(Submission.id))) or 0) + 1
        batch = 5000
        for start in range(have, total, batch):
            patients, subs, revs = [], [], []
            for index in range(start, min(total, start + batch)):
                handle = services.new_handle()
                identity = services.Identity(letters="BNC-ZY", sex="F", birth_year=1950,
                                             birth_month=1 + index % 12).to_json()
                sealed = seal_value(ring, patient_aad(handle, version.protocol_key), identity)
                patient_id = next_id + index - have
                # Registered one minute apart, going back in time from now.
                patients.append({
                    "id": patient_id, "handle": handle,
                    "case_number": services.new_case_number(),
                    "protocol_key": version.protocol_key,
                    "establishment_id": first.establishment_id, "identity": sealed.payload,
                    "wrapped_key": sealed.wrapped_key, "kek_version": sealed.kek_version,
                    "duplicate_index": secrets.token_hex(32),
                    "created_at": now - timedelta(minutes=index),
                    "created_by_id": first.created_by_id})
                if index % 10 == 0:
                    sub_id, next_sub = next_sub, next_sub + 1
                    subs.append({
                        "id": sub_id, "handle": services.new_handle(), "patient_id": patient_id,
                        "protocol_version_id": version.id, "form_key": "adverse_event",
                        "singleton_key": None, "status": "submitted", "version": 1,
                        "revision_number": 1, "created_at": now, "updated_at": now,
                        "submitted_at": now - timedelta(minutes=index)})
                    # The review list never opens the payload: any bytes do.
                    revs.append({"submission_id": sub_id, "number": 1, "kind": "original",
                                 "token": secrets.token_urlsafe(24), "author_label": "bench",
                                 "created_at": now, "payload": secrets.token_bytes(64),
                                 "wrapped_key": secrets.token_bytes(60), "kek_version": 1})
            db.execute(insert(Patient), patients)
            if subs:
                db.execute(insert(Submission), subs)
                db.execute(insert(SubmissionRevision), revs)
            db.commit()
    from sqlalchemy import text

    from portal.db import get_engine

    with get_engine(app).connect().execution_options(isolation_level="AUTOCOMMIT") as raw:
        raw.execute(text("ANALYZE"))


def _median_ms(call: Any) -> float:
    times = []
    for _ in range(REPEAT):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def _measure(app: Any, user: Any) -> dict[str, float]:
    """Median milliseconds per page: first page and half-way, keyset and OFFSET."""
    from sqlalchemy import func, select

    from portal.db import new_session
    from portal.records import overview
    from portal.records.models import Patient
    from portal.records.policy import visible_patients

    figures: dict[str, float] = {}
    from portal.accounts.models import User

    with app.test_request_context(), new_session(app) as db:
        user = db.get(User, user.id)
        total = db.scalar(select(func.count()).select_from(Patient))
        middle = total // 2

        def run(call: Any) -> Any:
            result = call()
            db.rollback()  # the audit entry of each list is not kept: the trail stays small
            return result

        for sort in ("newest", "case"):
            ordered = overview._ordered(visible_patients(db, user), overview.PatientSort(sort))
            deep = db.scalar(ordered.offset(middle).limit(1)).handle
            figures[f"patients {sort}, first page"] = _median_ms(
                lambda s=sort: run(lambda: overview.patient_page(db, user, sort=s)))
            figures[f"patients {sort}, half-way (keyset)"] = _median_ms(
                lambda s=sort, d=deep: run(lambda: overview.patient_page(db, user, sort=s,
                                                                         after=d)))
            figures[f"patients {sort}, half-way (OFFSET, before)"] = _median_ms(
                lambda o=ordered: run(lambda: _offset_page(db, user, o, middle)))
        case = db.scalar(select(Patient.case_number).order_by(Patient.id.desc()).limit(1))
        figures["patients, search by case number"] = _median_ms(
            lambda: run(lambda: overview.patient_page(db, user, search=case)))
        figures["my patients, one page"] = _median_ms(
            lambda: run(lambda: overview.my_patients(db, user)))
        events = overview.event_page(db, user)
        db.rollback()
        figures["review list, first page"] = _median_ms(
            lambda: run(lambda: overview.event_page(db, user)))
        figures["review list, second page"] = _median_ms(
            lambda: run(lambda: overview.event_page(db, user, after=events.next_after)))
    return figures


def _offset_page(db: Any, user: Any, ordered: Any, offset: int) -> list[Any]:
    """The page as the list read it before (OFFSET), with the same work per row and page:
    statuses, decryption of the letters, the audit entry."""
    from portal.audit.services import record
    from portal.records import overview, services
    from portal.records.actions import RecordsAction

    rows = list(db.scalars(ordered.offset(offset).limit(overview.PAGE_SIZE + 1)))
    rows = rows[:overview.PAGE_SIZE]
    overview.case_statuses(db, rows)
    shown = [services.read_identity(db, user, p) for p in rows]
    record(db, user, RecordsAction.PATIENT_LIST, None, row_count=len(shown))
    return shown


def bench(label: str, database_url: str, workdir: Path, key_file: Path,
          sizes: list[int]) -> None:
    fresh_schema(database_url)
    app = make_portal(workdir, key_file, database_url)
    user, _patients = seed(app, patients=2)
    results: list[tuple[int, dict[str, float]]] = []
    for size in sizes:
        began = time.perf_counter()
        _grow(app, size)
        print(f"  {label}: {size:,} patients seeded in {time.perf_counter() - began:.1f} s")
        results.append((size, _measure(app, user)))
    small, large = results[0], results[-1]
    print(f"\n  {label}: median ms per page ({REPEAT} calls), {small[0]:,} → {large[0]:,} "
          "patients, and the ratio (1.0 = flat)")
    for name in small[1]:
        before, after = small[1][name], large[1][name]
        print(f"    {name:<44} {before:8.2f} {after:9.2f}   x{after / before:5.2f}")
    from portal.db import get_engine

    get_engine(app).dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("PORTAL_BENCH_DATABASE_URL",
                                                             DEFAULT_POSTGRES))
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--sizes", default="1000,100000")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    from portal.keys import new_keyring, write_key_file

    workdir = Path(tempfile.mkdtemp(prefix="lists-bench-"))
    key_file = workdir / "portal.keys"
    write_key_file(key_file, new_keyring())
    from portal.records.overview import PAGE_SIZE, SCAN_LIMIT

    print(f"lists bench: page size {PAGE_SIZE}, my patients looks at {SCAN_LIMIT} patients "
          f"at most per page, sizes {sizes}")
    targets = [("SQLite", f"sqlite:///{workdir / 'bench.db'}")]
    if not args.no_postgres:
        targets.append(("PostgreSQL", args.postgres))
    for label, url in targets:
        bench(label, url, workdir, key_file, sizes)


if __name__ == "__main__":
    main()
