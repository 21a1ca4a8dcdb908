"""Benchmark of a periodic summary report (not part of the test suite).

Computes the demo protocol's report over N sealed follow-ups (default 100,000) through the
records door, as `portal report generate` does, against the floor of decrypting and parsing the
same submissions once: read from the database in one plain query, unwrapped, decrypted and
parsed (also printed: the same without the database read, which no report can reach). Prints
the times, the ratio to the read floor (target within 1.5x) and the peak traced memory of a
report run (bounded: the door streams in batches and the report keeps counters, plus the
numbers a median needs).

Usage:

    .venv/bin/python bench/reports_bench.py [--rows 100000]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/bench_reports] [--no-postgres]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import fresh_schema, make_portal, seed  # noqa: E402
from records_bench import _floor, _seed_submissions, floor_rows  # noqa: E402

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_reports"
TARGET = 1.5


def _report(app: Any, traced: bool = False) -> tuple[float, int, int]:
    """Generate the report once; return (seconds, forms read, peak traced bytes)."""
    from portal import clock
    from portal.audit.services import cli_actor
    from portal.db import new_session
    from portal.reports.calendar import plan_report, report_at
    from portal.reports.services import generate

    lock = clock.now().date() + timedelta(days=1)
    with app.app_context(), new_session(app) as db:
        if report_at(db, "put_sp_xyz123", lock) is None:
            plan_report(db, cli_actor("bench"), "put_sp_xyz123",
                        period_start=lock - timedelta(days=180), data_lock=lock)
            db.commit()
        if traced:
            tracemalloc.start()
        started = time.perf_counter()
        generated = generate(db, cli_actor("bench"), "put_sp_xyz123", lock)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] if traced else 0
        if traced:
            tracemalloc.stop()
        db.rollback()
    return elapsed, generated.generation.submission_count, peak


def _read_floor(app: Any) -> float:
    """Seconds to read the same sealed follow-ups from the database in one plain query, then
    unwrap, decrypt and parse them: what any report must do before it counts anything."""
    import json

    from portal.sealing import BulkOpener

    started = time.perf_counter()
    ring, _definition, rows = floor_rows(app)
    opener = BulkOpener(ring)
    for aad, payload, wrapped, kek_version, _fixed in rows:
        json.loads(opener.open(aad, payload, wrapped, kek_version))
    return time.perf_counter() - started


def bench(label: str, database_url: str, workdir: Path, key_file: Path, rows: int) -> None:
    fresh_schema(database_url)
    app = make_portal(workdir, key_file, database_url)
    seed(app, patients=50)
    began = time.perf_counter()
    _seed_submissions(app, rows)
    print(f"  seeded {rows} sealed follow-ups on {label} in {time.perf_counter() - began:.1f} s")
    floor = min(_floor(app)[0] for _ in range(2))
    read_floor = min(_read_floor(app) for _ in range(2))
    best = min(_report(app)[0] for _ in range(2))
    _elapsed, forms, peak = _report(app, traced=True)
    ratio = best / read_floor
    print(f"  REPORT {label:<10} {forms} forms in {best:.2f} s ({forms / best:,.0f} forms/s)")
    print(f"         floor read from the database (one plain query) + decrypt + parse: "
          f"{read_floor:.2f} s; report / floor {ratio:.2f}x (target <= {TARGET}: "
          f"{'met' if ratio <= TARGET else 'NOT met'})")
    # Printed for scale: no report can reach it, since it reads nothing from the database.
    print(f"         unwrap + decrypt + parse of rows already in memory: {floor:.2f} s "
          f"(report / that {best / floor:.2f}x)")
    print(f"         peak traced memory of a report run: {peak / 1e6:.1f} MB")
    from portal.db import get_engine

    get_engine(app).dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--postgres", default=os.environ.get("PORTAL_BENCH_DATABASE_URL",
                                                             DEFAULT_POSTGRES))
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    from portal.keys import new_keyring, write_key_file

    workdir = Path(tempfile.mkdtemp(prefix="reports-bench-"))
    key_file = workdir / "portal.keys"
    write_key_file(key_file, new_keyring())
    print(f"reports bench: {args.rows} follow-ups")
    targets = [("SQLite", f"sqlite:///{workdir / 'bench.db'}")]
    if not args.no_postgres:
        targets.append(("PostgreSQL", args.postgres))
    for label, url in targets:
        bench(label, url, workdir, key_file, args.rows)


if __name__ == "__main__":
    main()
