"""Lists bench: the cost of one page of /patients, /my-patients and the review list at 1,000
and at 100,000 patients, and of the DPO inbox, the audit trail and the people list at 1,000 and
100,000 rows each, keyset pages beside the OFFSET pages they replace.

Not a test: it prints figures. For each database and size it seeds a database of its own with
that many patients (sealed identities, exactly as the portal seals them; one adverse-event form
for every tenth patient), then measures the sizes in alternating rounds. Every figure is the
median of several calls of the list service a page view makes (query, decryption of the
letters, audit entry; the template is left out), for the first page and for a page deep in the
list (half-way). The baseline is the same page read with OFFSET, as the list did before: its
cost grows with the depth, a keyset page's does not. "my patients" reads the schedule states
(the bulk-seeded patients have none: each is awaiting its initiation); `scale_bench.py`
measures it, and the patient page, with sealed states and forms.

The inbox, trail and people lists (`--only admin`) seed their own rows in bulk: rights
requests of which one in twenty is open (the others closed, as years of them pile up), audit
entries by ten people on five actions (appended after the chain head, which is moved to the
last one: the bench never verifies the chain), and accounts. Their figures are the list
service of each page (the inbox's live due dates, the trail's query, the people's grants).
For both parts, each size has its own database and the sizes are measured in alternating
rounds, so that the machine's changes of speed fall on both sides of each ratio; each list's
ratio is also divided by its table's floor (a bare read of 51 rows by primary key), which is
what the database itself adds as its files and indexes grow.

    .venv/bin/python bench/lists_bench.py [--no-postgres] [--postgres URL] [--sizes 1000,100000]
        [--only records|admin]
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
    from portal.records import identities, registrations
    from portal.records.models import Patient, Submission, SubmissionRevision
    from portal.sealing import case_reference, patient_aad, ring_of, seal_value

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
                handle = registrations.new_handle()
                identity = identities.Identity(letters="BNC-ZY", sex="F", birth_year=1950,
                                             birth_month=1 + index % 12).to_json()
                sealed = seal_value(ring, patient_aad(handle, version.protocol_key), identity)
                patient_id = next_id + index - have
                case_number = registrations.new_case_number()
                # Registered one minute apart, going back in time from now.
                patients.append({
                    "id": patient_id, "handle": handle,
                    "case_number": case_number, "reference": case_reference(ring, case_number),
                    "protocol_key": version.protocol_key,
                    "establishment_id": first.establishment_id, "identity": sealed.payload,
                    "wrapped_key": sealed.wrapped_key, "kek_version": sealed.kek_version,
                    "duplicate_index": secrets.token_hex(32),
                    "created_at": now - timedelta(minutes=index),
                    "created_by_id": first.created_by_id})
                if index % 10 == 0:
                    sub_id, next_sub = next_sub, next_sub + 1
                    subs.append({
                        "id": sub_id, "handle": registrations.new_handle(),
                        "patient_id": patient_id,
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
    from portal.records.models import Patient, Submission
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
        middle_id = db.scalar(select(Patient.id).order_by(Patient.id).offset(middle).limit(1))
        figures["floor: 51 patients by primary key"] = _median_ms(
            lambda: list(db.scalars(select(Patient).where(Patient.id > middle_id)
                                    .order_by(Patient.id).limit(51))))
        first_sub = db.scalar(select(func.min(Submission.id)))
        figures["floor: 51 forms by primary key"] = _median_ms(
            lambda: list(db.scalars(select(Submission).where(Submission.id > first_sub)
                                    .order_by(Submission.id).limit(51))))
    return figures


def _offset_page(db: Any, user: Any, ordered: Any, offset: int) -> list[Any]:
    """The page as the list read it before (OFFSET), with the same work per row and page:
    statuses, decryption of the letters, the audit entry."""
    from portal.audit.services import record
    from portal.records import identities, overview
    from portal.records.actions import RecordsAction

    rows = list(db.scalars(ordered.offset(offset).limit(overview.PAGE_SIZE + 1)))
    rows = rows[:overview.PAGE_SIZE]
    overview.case_statuses(db, rows)
    shown = [identities.read_identity(db, user, p) for p in rows]
    record(db, user, RecordsAction.PATIENT_LIST, None, row_count=len(shown))
    return shown


def bench(label: str, database_url: str, workdir: Path, key_file: Path,
          sizes: list[int]) -> None:
    """Each size in its own database, measured in alternating rounds (see `bench_admin`)."""
    from portal.db import get_engine

    apps = []
    for size in sizes:
        url = _sized_url(database_url, workdir, size, "records")
        fresh_schema(url)
        app = make_portal(workdir, key_file, url)
        user, _patients = seed(app, patients=2)
        began = time.perf_counter()
        _grow(app, size)
        print(f"  {label}: {size:,} patients seeded in {time.perf_counter() - began:.1f} s")
        apps.append((size, app, user))
    rounds: dict[int, list[dict[str, float]]] = {size: [] for size, _app, _user in apps}
    for _ in range(ROUNDS):
        for size, app, user in apps:
            rounds[size].append(_measure(app, user))
    _report(label, "patients", sizes, rounds)
    for _size, app, _user in apps:
        get_engine(app).dispose()


def _report(label: str, rows: str, sizes: list[int],
            rounds: dict[int, list[dict[str, float]]]) -> None:
    """Print each list's medians, its ratio and the ratio divided by its table's floor."""
    medians = {size: {name: statistics.median(r[name] for r in runs) for name in runs[0]}
               for size, runs in rounds.items()}
    small, large = sizes[0], sizes[-1]
    print(f"\n  {label}: median ms per page ({ROUNDS} alternating rounds of {REPEAT} calls), "
          f"{small:,} → {large:,} {rows}; the ratio (1.0 = flat), and the ratio divided by its "
          "table's floor (a bare read of 51 rows by primary key: what the database itself "
          "adds with size)")
    for name, before in medians[small].items():
        after = medians[large][name]
        ratio = after / before
        floor = _floor_of(name)
        relative = ratio / (medians[large][floor] / medians[small][floor])
        print(f"    {name:<44} {before:8.2f} {after:9.2f}   x{ratio:5.2f}   "
              f"/floor x{relative:5.2f}")


# --- the DPO inbox, the audit trail, the people list ------------------------------------------


def _grow_admin(app: Any, total: int) -> None:
    """Add rights requests, audit entries and accounts until there are `total` of each."""
    from sqlalchemy import func, insert, select, update

    from portal import clock
    from portal.accounts.models import User
    from portal.audit.models import AuditEvent, AuditHead
    from portal.db import new_session
    from portal.rights.models import RightsRequest

    now = clock.now()
    batch = 5000
    with new_session(app) as db:
        subject = db.scalar(select(User).order_by(User.id))
        have = db.scalar(select(func.count()).select_from(RightsRequest)) or 0
        for start in range(have, total, batch):
            rows = []
            for index in range(start, min(total, start + batch)):
                received = now - timedelta(hours=index)
                due = received.date() + timedelta(days=30 + index % 7)
                opened = index % 20 == 0
                rows.append({
                    "handle": secrets.token_urlsafe(16), "kind": "access",
                    "requester_type": "professional_self", "channel": "portal",
                    "state": "received" if opened else "closed",
                    "subject_user_id": subject.id, "submitted_by_id": subject.id,
                    "received_at": received, "original_due_on": due, "due_on": due,
                    "answered_at": None if opened else received + timedelta(days=3),
                    "closed_at": None if opened else received + timedelta(days=4),
                    "created_at": received})
            db.execute(insert(RightsRequest), rows)
            db.commit()

        have = db.scalar(select(func.count()).select_from(User)) or 0
        for start in range(have, total, batch):
            db.execute(insert(User), [{
                "login": f"bench.{index:06d}", "login_normalised": f"bench.{index:06d}",
                "first_name": f"Prénom{index % 997}", "last_name": f"Nom{(index * 7919) % 100003}",
                "email": f"bench.{index}@example.org", "created_at": now - timedelta(minutes=index),
                "failed_logins": 0, "totp_last_step": 0, "must_change_password": False,
            } for index in range(start, min(total, start + batch))])
            db.commit()

        head = db.get(AuditHead, 1) or db.scalar(select(AuditHead))
        have = db.scalar(select(func.count()).select_from(AuditEvent)) or 0
        seq = head.seq
        actions = ("records:patient:read", "records:patient:list", "records:submission:read",
                   "access:grant:approve", "rights:request:create")
        last_hash = head.last_hash
        for start in range(have, total, batch):
            rows = []
            for index in range(start, min(total, start + batch)):
                seq += 1
                last_hash = secrets.token_bytes(32)
                rows.append({
                    "seq": seq, "at": now - timedelta(seconds=total - index),
                    "actor_kind": "user", "actor_id": 1 + index % 10,
                    "actor_label": f"bench.{index % 10:06d}", "action": actions[index % 5],
                    "target_type": "patient", "target_ref": f"P{index}", "outcome": "success",
                    "details": {}, "prev_hash": secrets.token_bytes(32), "hash": last_hash})
            db.execute(insert(AuditEvent), rows)
            db.execute(update(AuditHead).where(AuditHead.id == head.id)
                       .values(seq=seq, last_hash=last_hash))
            db.commit()
    from sqlalchemy import text

    from portal.db import get_engine

    with get_engine(app).connect().execution_options(isolation_level="AUTOCOMMIT") as raw:
        raw.execute(text("ANALYZE"))


def _measure_admin(app: Any) -> dict[str, float]:
    """Median milliseconds per page of the inbox, the trail and the people list."""
    from zoneinfo import ZoneInfo

    from sqlalchemy import func, select, text

    from portal.access import people
    from portal.accounts.models import User
    from portal.audit import trail
    from portal.audit.models import AuditEvent
    from portal.db import new_session
    from portal.rights import queries
    from portal.rights.models import OPEN_SQL, RightsRequest

    figures: dict[str, float] = {}
    zone = ZoneInfo("Europe/Paris")
    with app.test_request_context(), new_session(app) as db:
        opened = select(RightsRequest).where(text(OPEN_SQL))
        open_count = db.scalar(select(func.count()).select_from(opened.subquery()))
        by_due = opened.order_by(RightsRequest.due_on, RightsRequest.id)
        deep = db.scalar(by_due.offset(open_count // 2).limit(1))
        figures["inbox by due date, first page"] = _median_ms(
            lambda: queries.inbox_page(db))
        # Half-way through 50 open requests (1,000 rows) only 25 follow: the half-way pages
        # are 20 rows, full at every size.
        figures["inbox by due date, half-way (keyset)"] = _median_ms(
            lambda: queries.inbox_page(db, after=deep.handle, page_size=20))
        figures["inbox by due date, half-way (OFFSET)"] = _median_ms(
            lambda: list(db.scalars(by_due.offset(open_count // 2).limit(21))))
        figures["inbox, all requests in Python (before)"] = _median_ms(
            lambda: queries.dashboard(db))
        figures["inbox, latest received, first page"] = _median_ms(
            lambda: queries.inbox_page(db, sort="newest"))
        figures["inbox, search by request number"] = _median_ms(
            lambda: queries.inbox_page(db, search=deep.number))
        figures["floor: 51 requests by primary key"] = _median_ms(
            lambda: list(db.scalars(select(RightsRequest).where(RightsRequest.id > deep.id)
                                    .order_by(RightsRequest.id).limit(51))))

        events = db.scalar(select(func.count()).select_from(AuditEvent))
        middle = db.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq)
                           .offset(events // 2).limit(1))
        none = trail.EventFilter()
        figures["trail newest first, first page"] = _median_ms(
            lambda: trail.list_events(db, none, zone))
        figures["trail newest first, half-way (keyset)"] = _median_ms(
            lambda: trail.list_events(db, none, zone, before=middle))
        figures["trail newest first, half-way (OFFSET)"] = _median_ms(
            lambda: list(db.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())
                                    .offset(events // 2).limit(51))))
        figures["trail oldest first, half-way (keyset)"] = _median_ms(
            lambda: trail.list_events(db, none, zone, after=middle, oldest_first=True))
        action = trail.EventFilter(action="records:patient:read")
        figures["trail by action, half-way (keyset)"] = _median_ms(
            lambda: trail.list_events(db, action, zone, before=middle))
        person = trail.EventFilter(person="bench.000003")
        figures["trail by person, half-way (keyset)"] = _median_ms(
            lambda: trail.list_events(db, person, zone, before=middle))
        figures["floor: 51 entries by primary key"] = _median_ms(
            lambda: list(db.scalars(select(AuditEvent).where(AuditEvent.seq < middle)
                                    .order_by(AuditEvent.seq.desc()).limit(51))))

        accounts = db.scalar(select(func.count()).select_from(User))
        by_name = select(User).order_by(User.last_name, User.first_name, User.id)
        halfway = db.scalar(by_name.offset(accounts // 2).limit(1))
        figures["people by name, first page"] = _median_ms(lambda: people.people_page(db))
        figures["people by name, half-way (keyset)"] = _median_ms(
            lambda: people.people_page(db, after=halfway.id))
        figures["people by name, half-way (OFFSET)"] = _median_ms(
            lambda: list(db.scalars(by_name.offset(accounts // 2).limit(51))))
        figures["people newest first, half-way (keyset)"] = _median_ms(
            lambda: people.people_page(db, sort="newest", after=halfway.id))
        figures["people, search by login (scan)"] = _median_ms(
            lambda: people.people_page(db, search="bench.0000"))
        figures["floor: 51 accounts by primary key"] = _median_ms(
            lambda: list(db.scalars(select(User).where(User.id > halfway.id)
                                    .order_by(User.id).limit(51))))
    return figures


ROUNDS = 5


def _sized_url(database_url: str, workdir: Path, size: int, kind: str) -> str:
    """One database per size, so that both sizes are measured in the same minutes."""
    if database_url.startswith("postgresql"):
        return f"{database_url}_{kind}_{size}"
    return f"sqlite:///{workdir / f'{kind}-{size}.db'}"


def _floor_of(name: str) -> str:
    if name.startswith("floor: "):
        return name
    if name.startswith("review list"):
        return "floor: 51 forms by primary key"
    first = name.split()[0].rstrip(",")
    table = {"inbox": "requests", "trail": "entries", "people": "accounts", "patients": "patients",
             "my": "patients"}[first]
    return f"floor: 51 {table} by primary key"


def bench_admin(label: str, database_url: str, workdir: Path, key_file: Path,
                sizes: list[int]) -> None:
    """Each size in its own database; the sizes are measured in alternating rounds, so that a
    change of the machine's speed (other sessions) falls on both sides of each ratio."""
    from portal.db import get_engine

    apps = []
    for size in sizes:
        url = _sized_url(database_url, workdir, size, "admin")
        fresh_schema(url)
        app = make_portal(workdir, key_file, url)
        seed(app, patients=1)
        began = time.perf_counter()
        _grow_admin(app, size)
        print(f"  {label}: {size:,} requests, trail entries and accounts seeded in "
              f"{time.perf_counter() - began:.1f} s")
        apps.append((size, app))
    rounds: dict[int, list[dict[str, float]]] = {size: [] for size, _app in apps}
    for _ in range(ROUNDS):
        for size, app in apps:
            rounds[size].append(_measure_admin(app))
    _report(label, "rows", sizes, rounds)
    for _size, app in apps:
        get_engine(app).dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("PORTAL_BENCH_DATABASE_URL",
                                                             DEFAULT_POSTGRES))
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--only", choices=("records", "admin"), default=None,
                        help="only the records lists, or only the inbox, trail and people")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    from portal.keys import new_keyring, write_key_file

    workdir = Path(tempfile.mkdtemp(prefix="lists-bench-"))
    key_file = workdir / "portal.keys"
    write_key_file(key_file, new_keyring())
    from portal.records.overview import PAGE_SIZE

    print(f"lists bench: page size {PAGE_SIZE}, sizes {sizes}")
    targets = [("SQLite", f"sqlite:///{workdir / 'bench.db'}")]
    if not args.no_postgres:
        targets.append(("PostgreSQL", args.postgres))
    for label, url in targets:
        if args.only != "admin":
            bench(label, url, workdir, key_file, sizes)
        if args.only != "records":
            bench_admin(label, url, workdir, key_file, sizes)


if __name__ == "__main__":
    main()
