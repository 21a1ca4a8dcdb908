"""Audit trail benchmark: entries written per second through record(), and verify throughput.

Usage (from the repository root):

    .venv/bin/python bench/audit_bench.py [--entries N] [--writes W] [--single S]
                                          [--postgres URL] [--no-sqlite]

For each database (SQLite in a temporary directory, and PostgreSQL when --postgres is given):

1. `record()` throughput: W entries in one transaction, then S entries with one transaction
   (one commit) each;
2. `verify()` throughput on N chained entries (default 1,000,000). The entries are generated
   with the portal's own chain functions and bulk-inserted (that rate is printed too, but it is
   not the rate of `record()`); `verify` then runs in a child process, which reports its peak
   resident memory, to show that the walk streams the table instead of loading it.

The PostgreSQL URL must point to a dedicated database (e.g. `createdb bench_audit`): the audit
tables there are dropped and created again.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402

AUDIT_TABLES = ("audit_event", "audit_head", "audit_checkpoint", "audit_alert", "audit_check_run")
CHUNK = 10_000


def _app(url: str, key_file: Path, instance: Path):  # noqa: ANN202
    from portal import create_app

    os.environ["PORTAL_INSTANCE_PATH"] = str(instance)
    return create_app({
        "ENV": "testing", "TESTING": True, "SECRET_KEY": "bench-" + "x" * 40,
        "KEY_FILE": str(key_file), "DATABASE_URL": url,
    })


def _reset_tables(app) -> None:  # noqa: ANN001
    import portal.models  # noqa: F401 - every table on the metadata
    from portal.db import Base, get_engine

    tables = [Base.metadata.tables[name] for name in AUDIT_TABLES]
    engine = get_engine(app)
    Base.metadata.drop_all(engine, tables=tables)
    Base.metadata.create_all(engine, tables=tables)


def bench_record(app, writes: int, single: int) -> dict[str, float]:  # noqa: ANN001
    """Time record(): `writes` entries in one transaction, `single` with a commit each."""
    from portal.audit.services import Actor, record
    from portal.db import new_session

    actor = Actor("system", "bench")
    with new_session(app) as session:
        # Warm up: mapper configuration, statement compilation, connection pool.
        for n in range(50):
            record(session, actor, "records:patient:read", ("patient", f"W-{n}"))
        session.commit()
        started = time.perf_counter()
        for n in range(writes):
            record(session, actor, "records:patient:read", ("patient", f"P-{n:07d}"),
                   form="followup")
        session.commit()
        batch = writes / (time.perf_counter() - started)
    started = time.perf_counter()
    for n in range(single):
        with new_session(app) as session:
            record(session, actor, "records:patient:read", ("patient", f"Q-{n:07d}"),
                   form="followup")
            session.commit()
    one_each = single / (time.perf_counter() - started)
    return {"batch": batch, "one_each": one_each}


def populate(app, count: int) -> float:  # noqa: ANN001
    """Write `count` chained entries by bulk insert; return entries per second."""
    from portal.audit.models import GENESIS_HASH, AuditEvent, AuditHead
    from portal.audit.services import chain_hash, entry_fields
    from portal.db import get_engine

    key = app.extensions["portal.keys"].key("audit")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    prev = GENESIS_HASH
    table = AuditEvent.__table__
    started = time.perf_counter()
    with get_engine(app).begin() as connection:
        rows: list[dict[str, object]] = []
        for seq in range(1, count + 1):
            row = AuditEvent(
                seq=seq, at=start + timedelta(milliseconds=seq * 37), actor_kind="user",
                actor_id=1 + seq % 40, actor_label=f"person{1 + seq % 40}",
                session_hash="ab" * 32, action="records:patient:read",
                target_type="patient", target_ref=f"P-{seq % 5000:05d}", outcome="success",
                client_address="192.0.2.10", details={"form": "followup"},
            )
            digest = chain_hash(key, prev, entry_fields(row))
            rows.append({c.name: getattr(row, c.key) for c in table.columns
                         if c.name not in ("prev_hash", "hash")}
                        | {"prev_hash": prev, "hash": digest})
            prev = digest
            if len(rows) == CHUNK:
                connection.execute(insert(table), rows)
                rows = []
        if rows:
            connection.execute(insert(table), rows)
        connection.execute(
            AuditHead.__table__.update().where(AuditHead.id == 1).values(seq=count, last_hash=prev)
        )
    return count / (time.perf_counter() - started)


def verify_child(url: str, key_file: str, instance: str) -> None:
    """Run verify in this (child) process and print JSON figures."""
    from portal.audit.verify import verify
    from portal.db import new_session

    app = _app(url, Path(key_file), Path(instance))
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with new_session(app) as session:
        started = time.perf_counter()
        result = verify(session)
        seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"count": result.count, "ok": result.ok, "seconds": seconds,
                      "baseline_kb": baseline, "peak_kb": peak}))


def run(label: str, url: str, args: argparse.Namespace, key_file: Path, instance: Path) -> None:
    """Benchmark one database."""
    print(f"\n== {label}: {url.split('@')[-1]}")
    app = _app(url, key_file, instance)
    _reset_tables(app)
    speeds = bench_record(app, args.writes, args.single)
    print(f"record(): {speeds['batch']:>9,.0f} entries/s  ({args.writes:,} in one transaction; "
          f"{1e6 / speeds['batch']:,.0f} us each)")
    print(f"record(): {speeds['one_each']:>9,.0f} entries/s  ({args.single:,} with one commit "
          f"each; {1e6 / speeds['one_each']:,.0f} us each)")
    _reset_tables(app)
    rate = populate(app, args.entries)
    print(f"bulk load of the verify data set: {args.entries:,} chained entries "
          f"({rate:,.0f} entries/s, not through record())")
    from portal.db import get_engine

    get_engine(app).dispose()
    child = subprocess.run(
        [sys.executable, __file__, "--verify-child", url, str(key_file), str(instance)],
        capture_output=True, text=True, check=False,
    )
    if child.returncode != 0:
        print(child.stderr, file=sys.stderr)
        raise SystemExit(f"verify child failed on {label}")
    figures = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"verify(): {figures['count']:,} entries in {figures['seconds']:.1f} s = "
          f"{figures['count'] / figures['seconds']:,.0f} entries/s, intact={figures['ok']}")
    print(f"verify(): peak RSS {figures['peak_kb'] / 1024:,.1f} MiB "
          f"(process before the walk: {figures['baseline_kb'] / 1024:,.1f} MiB; "
          f"the walk added {(figures['peak_kb'] - figures['baseline_kb']) / 1024:,.1f} MiB)")
    with get_engine(app).begin() as connection:
        size = None
        if connection.dialect.name == "postgresql":
            size = connection.execute(
                text("SELECT pg_total_relation_size('audit_event')")).scalar()
    if size:
        print(f"audit_event on disk: {size / 1024 / 1024:,.0f} MiB "
              f"({size / args.entries:,.0f} bytes per entry with indexes)")
    get_engine(app).dispose()


def main() -> None:
    """Parse the arguments and benchmark SQLite, then PostgreSQL when asked."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000,
                        help="entries in the chain verified (default 1,000,000)")
    parser.add_argument("--writes", type=int, default=10_000,
                        help="record() calls in one transaction (default 10,000)")
    parser.add_argument("--single", type=int, default=2_000,
                        help="record() calls with one commit each (default 2,000)")
    parser.add_argument("--postgres", metavar="URL",
                        help="a dedicated PostgreSQL database, e.g. "
                             "postgresql+psycopg://postgres@127.0.0.1/bench_audit")
    parser.add_argument("--no-sqlite", action="store_true", help="skip SQLite")
    parser.add_argument("--verify-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.verify_child:
        verify_child(*args.verify_child)
        return

    from portal.keys import new_keyring, write_key_file

    with tempfile.TemporaryDirectory(prefix="audit-bench-") as tmp:
        work = Path(tmp)
        key_file = work / "portal.keys"
        write_key_file(key_file, new_keyring())
        instance = work / "instance"
        print(f"Audit trail benchmark (Python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")
        if not args.no_sqlite:
            run("SQLite", f"sqlite:///{work / 'bench.db'}", args, key_file, instance)
        if args.postgres:
            run("PostgreSQL", args.postgres, args, key_file, instance)


if __name__ == "__main__":
    main()
