"""Benchmark of the records data path (not part of the test suite).

Measures, in one run:

1. a bare Flask page and the protocol form POST (validate, encrypt, store, audit), each served
   the same way (gunicorn, two sync workers, 16 concurrent connections), on SQLite and on
   PostgreSQL; prints requests/s, the ratio to the bare page and the latency percentiles.
   Targets: ratio >= 0.16 on SQLite, >= 0.12 on PostgreSQL, p99 < 50 ms.
2. the export of N submissions (default 100,000) against the floor of the same work done in
   memory (unwrap the data key, decrypt, parse the JSON in a tight loop); prints both times,
   the ratio (target within 1.3x) and the peak memory of a traced export run (bounded: it
   must not grow with N).

Usage:

    .venv/bin/python bench/records_bench.py [--duration 10] [--export-rows 100000]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/bench_records] [--no-postgres]

The load generator is a Python one by default (a thread and a requests.Session per connection,
sharing the two CPUs with the server); `--generator wrk` uses wrk (apt install wrk), which
drives the bare page several times faster, so the ratios it gives are much lower.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402  (bench/common.py: serving, load generation, seeding)
from common import (  # noqa: E402
    WORKERS,
    Result,
    credentials,
    follow_up_fields,
    fresh_schema,
    gunicorn,
    load,
    make_portal,
    portal_env,
    seed,
)

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_records"


def bench_post(label: str, database_url: str, workdir: Path, key_file: Path, duration: int,
               bare: Result) -> Result:
    """Seed a database, serve the portal, load the follow-up POST; print and return."""
    from sqlalchemy import func, select

    from portal.db import new_session
    from portal.records.models import Submission

    fresh_schema(database_url)
    app = make_portal(workdir, key_file, database_url)
    user, patients = seed(app)
    body = urlencode(follow_up_fields())
    paths = [f"/patients/{p.handle}/forms/follow_up" for p in patients]
    with gunicorn("portal:create_app()", portal_env(workdir, key_file, database_url),
                  "/healthz") as base:
        creds = credentials(app, base, user, patients)
        # What any logged-in page costs in this portal (session, grants, notices gate...).
        account = load(base, ["/account"], duration, "", creds)
        result = load(base, paths, duration, body, creds)
        # The time one POST takes when it does not queue behind 15 others.
        alone = load(base, paths, max(3, duration // 2), body, creds, connections=1)
    with new_session(app) as db:
        stored = db.scalar(select(func.count()).select_from(Submission)
                           .where(Submission.form_key == "follow_up"))
    ratio = result.rps / bare.rps if bare.rps else 0.0
    print(f"  GET  /account on {label} (the portal's logged-in page floor) {account}")
    print(f"       ratio to the bare page {account.rps / bare.rps:.3f}")
    print(f"  POST {label:<10} {result}")
    print(f"       ratio to the bare page {ratio:.3f}")
    print(f"  POST {label:<10} one client alone: {alone}")
    acknowledged = result.acknowledged + alone.acknowledged
    # wrk stops with up to one request per connection sent but unanswered: the server may
    # still store those, so stored may exceed acknowledged by at most that many, never less.
    in_flight = common.CONNECTIONS + 1
    exact = acknowledged <= stored <= acknowledged + in_flight
    print(f"       stored {stored} follow-ups; the server acknowledged {acknowledged} POSTs "
          f"(2xx/3xx), refused {result.errors + alone.errors}; statuses {result.statuses}")
    print(f"       each acknowledged POST stored exactly once: "
          f"{'met' if exact else 'NOT met'} (stored - acknowledged = {stored - acknowledged}, "
          f"allowed 0 to {in_flight}: requests still in flight when wrk stopped)")
    from portal.db import get_engine

    get_engine(app).dispose()
    return result, alone


# --- export --------------------------------------------------------------------------------------


def _seed_submissions(app: Any, rows: int) -> None:
    """Insert `rows` sealed follow-ups quickly (bulk), exactly as the portal seals them."""
    from sqlalchemy import insert, select

    from portal import clock
    from portal.db import new_session
    from portal.protocols.builder import validate_answers
    from portal.protocols.services import current_version
    from portal.records import clinic_time, registrations, submissions
    from portal.records.models import Patient, Submission, SubmissionRevision
    from portal.sealing import revision_aad, ring_of, seal_value

    with new_session(app) as db:
        version = current_version(db, "put_sp_xyz123")
        patients = list(db.scalars(select(Patient)))
        ref = submissions.form_ref(version, "follow_up")
        posted = {k.removeprefix("f_"): v for k, v in follow_up_fields().items()
                  if k.startswith("f_")}
        posted["concomitant"] = [{"cm_atc": "B01AA03", "cm_indication": "comorbidity",
                                  "cm_start": "2020-03", "cm_ongoing": "yes"}]
        result = validate_answers(ref.protocol, "follow_up", posted,
                                  today=clinic_time.clinical_today(db))
        assert result.valid, result.errors
        answers = result.answers
        ring = ring_of(db)
        now = clock.now()
        batch = 5000
        next_id = (db.scalar(select(Submission.id).order_by(Submission.id.desc())) or 0) + 1
        user_id = patients[0].created_by_id
        for start in range(0, rows, batch):
            subs, revs = [], []
            for index in range(start, min(rows, start + batch)):
                patient = patients[index % len(patients)]
                handle = registrations.new_handle()
                sub_id = next_id + index
                aad = revision_aad(handle, 1, "original", patient.handle,
                                   version.protocol_key, version.content_hash, "follow_up")
                sealed = seal_value(ring, aad, dict(answers, flares=index % 50))
                subs.append({"id": sub_id, "handle": handle, "patient_id": patient.id,
                             "protocol_version_id": version.id, "form_key": "follow_up",
                             "singleton_key": None, "status": "submitted", "version": 1,
                             "revision_number": 1, "created_at": now,
                             "created_by_id": user_id, "updated_at": now,
                             "updated_by_id": user_id, "submitted_at": now})
                revs.append({"submission_id": sub_id, "number": 1, "kind": "original",
                             "token": secrets.token_urlsafe(24), "author_id": user_id,
                             "author_label": "bench", "created_at": now,
                             "payload": sealed.payload, "wrapped_key": sealed.wrapped_key,
                             "kek_version": sealed.kek_version})
            db.execute(insert(Submission), subs)
            db.execute(insert(SubmissionRevision), revs)
            db.commit()
    # Fresh statistics, as autovacuum (PostgreSQL) or a periodic ANALYZE would leave them.
    from sqlalchemy import text

    from portal.db import get_engine

    with get_engine(app).connect().execution_options(isolation_level="AUTOCOMMIT") as raw:
        raw.execute(text("ANALYZE"))


def floor_rows(app: Any) -> tuple[Any, Any, list[Any]]:
    """The follow-ups' sealed revisions in one plain query: (key ring, definition, rows of
    (associated data, payload, wrapped key, key version, clear columns))."""
    from sqlalchemy import select

    from portal.db import new_session
    from portal.protocols.models import ProtocolVersion
    from portal.records.export import submitted_text
    from portal.records.models import Patient, Submission, SubmissionRevision
    from portal.records.versions import protocol_of
    from portal.sealing import revision_aad, ring_of

    with new_session(app) as db:
        ring = ring_of(db)
        version = db.scalar(select(ProtocolVersion))
        definition = protocol_of(version).definition
        rows = [
            (revision_aad(r.handle, r.number, r.kind, r.patient_handle, r.protocol_key,
                          r.content_hash, r.form_key), r.payload, r.wrapped_key, r.kek_version,
             (r.case_number, r.id, r.version_label, r.number, r.submitted_at))
            for r in db.execute(
                select(SubmissionRevision.payload, SubmissionRevision.wrapped_key,
                       SubmissionRevision.kek_version, SubmissionRevision.number,
                       SubmissionRevision.kind, Submission.handle, Submission.form_key,
                       Submission.id,
                       submitted_text(db.get_bind().dialect.name).label("submitted_at"),
                       ProtocolVersion.version_label,
                       Patient.case_number,
                       Patient.handle.label("patient_handle"), ProtocolVersion.protocol_key,
                       ProtocolVersion.content_hash)
                .join(Submission, Submission.id == SubmissionRevision.submission_id)
                .join(Patient, Patient.id == Submission.patient_id)
                .join(ProtocolVersion, ProtocolVersion.id == Submission.protocol_version_id)
                .where(Submission.form_key == "follow_up"))
        ]
    return ring, definition, rows


def _floor(app: Any) -> tuple[float, float, int]:
    """The same work in memory, on rows already loaded, in a tight loop.

    Returns (seconds to unwrap + decrypt + parse, seconds to do that and format the CSV rows,
    rows). The export's own primitives are used, so the comparison isolates what streaming from
    the database costs.
    """
    import csv
    import io
    import json as json_module

    from portal.records.export import CsvLayout
    from portal.sealing import BulkOpener

    ring, definition, rows = floor_rows(app)
    loads = json_module.loads
    opener = BulkOpener(ring)
    started = time.perf_counter()
    for aad, payload, wrapped, kek_version, _fixed in rows:
        loads(opener.open(aad, payload, wrapped, kek_version))
    crypto = time.perf_counter() - started
    layout = CsvLayout(definition, definition.form("follow_up"), "en")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    started = time.perf_counter()
    for count, (aad, payload, wrapped, kek_version, fixed) in enumerate(rows):
        answers = loads(opener.open(aad, payload, wrapped, kek_version))
        case, row_id, label, number, submitted = fixed
        writer.writerow([case, f"S{row_id}", label, number, submitted,
                         *layout.cells(answers)])
        if count % 500 == 0:
            buffer.seek(0)
            buffer.truncate()
    full = time.perf_counter() - started
    return crypto, full, len(rows)


def _export(app: Any, traced: bool = False) -> tuple[float, int, int]:
    """Run the CSV export of the follow-ups end to end (database to CSV text), as a reader."""
    from portal.audit.services import cli_actor
    from portal.db import new_session
    from portal.records import export

    with app.test_request_context(), new_session(app) as db:
        job = export.prepare_export(db, cli_actor("bench"), "put_sp_xyz123", "follow_up",
                                    "csv", "en", purpose="data_quality")
        db.commit()
        if traced:
            tracemalloc.start()
        started = time.perf_counter()
        size = 0
        for chunk in export.stream(db, job):
            size += len(chunk)
        elapsed = time.perf_counter() - started
        peak = 0
        if traced:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        db.rollback()
    return elapsed, job.row_count, peak if traced else size


def bench_export(label: str, database_url: str, workdir: Path, key_file: Path,
                 rows: int) -> None:
    """Seed `rows` submissions, time the export against the in-memory floor; print."""
    fresh_schema(database_url)
    app = make_portal(workdir, key_file, database_url)
    seed(app, patients=50)
    began = time.perf_counter()
    _seed_submissions(app, rows)
    print(f"  seeded {rows} sealed follow-ups on {label} in {time.perf_counter() - began:.1f} s")
    floors = [_floor(app) for _ in range(2)]
    floor = min(f[0] for f in floors)
    floor_full = min(f[1] for f in floors)
    counted = floors[0][2]
    export_times = []
    for _ in range(2):
        elapsed, exported, size = _export(app)
        export_times.append(elapsed)
    best = min(export_times)
    _elapsed, _count, peak = _export(app, traced=True)
    print(f"  EXPORT {label:<9} {exported} rows, {size / 1e6:.1f} MB of CSV in {best:.2f} s "
          f"({exported / best:,.0f} rows/s)")
    print(f"         floor 1, unwrap + decrypt + parse in memory ({counted} rows): {floor:.2f} s;"
          f" export / floor {best / floor:.2f}x")
    print(f"         floor 2, the same plus the CSV formatting, in memory: {floor_full:.2f} s; "
          f"export / floor {best / floor_full:.2f}x (target <= 1.3)")
    print(f"         peak traced memory of a streamed export: {peak / 1e6:.1f} MB")
    from portal.db import get_engine

    get_engine(app).dispose()


# --- main ---------------------------------------------------------------------------------------


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per load run")
    parser.add_argument("--export-rows", type=int, default=100_000)
    parser.add_argument("--postgres", default=os.environ.get("PORTAL_BENCH_DATABASE_URL",
                                                             DEFAULT_POSTGRES))
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--skip-post", action="store_true")
    parser.add_argument("--skip-export", action="store_true")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--generator", choices=("wrk", "python"), default=common.GENERATOR)
    args = parser.parse_args()
    common.configure(connections=args.connections, generator=args.generator)

    from portal.keys import new_keyring, write_key_file

    workdir = Path(tempfile.mkdtemp(prefix="records-bench-"))
    key_file = workdir / "portal.keys"
    write_key_file(key_file, new_keyring())
    generator = "wrk" if common.GENERATOR == "wrk" else "Python threads and requests.Session"
    print(f"records bench: gunicorn {WORKERS} workers, {common.CONNECTIONS} connections, "
          f"{args.duration} s per run, load generator {generator}")
    # Issue 23's targets: ahead of a straightforward Flask + WTForms + SQLAlchemy POST.
    targets = [("SQLite", f"sqlite:///{workdir / 'bench.db'}", 0.12)]
    if not args.no_postgres:
        targets.append(("PostgreSQL", args.postgres, 0.10))
    if not args.skip_post:
        with gunicorn("common:bare_app()", {}, "/") as base:
            bare = load(base, ["/"], args.duration)
        print(f"  GET  bare page  {bare}")
        for label, url, target in targets:
            result, alone = bench_post(label, url, workdir, key_file, args.duration, bare)
            ratio = result.rps / bare.rps
            print(f"       target ratio >= {target}: "
                  f"{'met' if ratio >= target else 'NOT met'} ({ratio:.3f}); "
                  f"p99 < 50 ms: one client {'met' if alone.p99 < 50 else 'NOT met'} "
                  f"({alone.p99:.1f} ms), {common.CONNECTIONS} clients "
                  f"{'met' if result.p99 < 50 else 'NOT met'} ({result.p99:.1f} ms: queueing, "
                  f"{common.CONNECTIONS} clients / {result.rps:.0f} req/s = "
                  f"{1000 * common.CONNECTIONS / result.rps:.0f} ms on average)")
            # Little's law: with N clients always waiting, the mean latency is N / throughput.
            needed = common.CONNECTIONS / 0.05
            print(f"       a p99 under 50 ms with {common.CONNECTIONS} clients needs more than "
                  f"{needed:.0f} req/s ({needed / bare.rps:.2f} of the bare page); the bare "
                  f"page's own p99 here: {bare.p99:.1f} ms")
    if not args.skip_export:
        for label, url, _target in targets:
            bench_export(label, url, workdir, key_file, args.export_rows)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
