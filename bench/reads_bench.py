"""Read-heavy load on PostgreSQL: form page GETs (each logs a read on the audit trail), before
and after sealing took the audit head lock off the request path (issue 27).

Usage (from the repository root; the base checkout is a `git worktree` of the code to compare):

    git worktree add --detach /tmp/portal-base 2308683
    .venv/bin/python bench/reads_bench.py --base /tmp/portal-base \\
        --postgres postgresql+psycopg://postgres@127.0.0.1:5432/bench_reads [--duration 15]

For each checkout, in rounds alternating base and this one (a child process each, so that each
imports its own portal): fresh schema, seed, gunicorn (two sync workers), wrk (16 connections)
GETting the follow-up form page of 8 patients, while a thread samples every 50 ms
`pg_stat_activity` (backends waiting on a lock) and `pg_locks` (ungranted locks, and those on
the audit tables). Prints req/s, p50/p99, the samples with a lock wait, and the ratio.
The database is dropped and created again: give a dedicated one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

LOCK_SQL = """
SELECT
  (SELECT count(*) FROM pg_stat_activity
    WHERE datname = current_database() AND wait_event_type = 'Lock') AS waiting,
  (SELECT count(*) FROM pg_locks l LEFT JOIN pg_class c ON c.oid = l.relation
    WHERE NOT l.granted AND (c.relname LIKE 'audit%' OR l.locktype IN ('transactionid', 'tuple')))
    AS audit_waits
"""


def child(tree: str | None, url: str, duration: int, out: str) -> None:
    """One measurement with the portal of `tree`; writes its figures as JSON to `out`."""
    sys.path.insert(0, str(HERE))
    from reads_tree import use_tree

    use_tree(tree)
    # common puts this checkout first on sys.path: take it back out for the base code.
    import common
    if tree:
        sys.path[:] = [p for p in sys.path if p != str(ROOT)]
        sys.path.insert(0, tree)
    from sqlalchemy import create_engine, text

    common.configure(generator="wrk")
    workdir = Path(tempfile.mkdtemp(prefix="reads-bench-"))
    from portal.keys import new_keyring, write_key_file

    key_file = workdir / "portal.keys"
    write_key_file(key_file, new_keyring())
    common.fresh_schema(url)
    app = common.make_portal(workdir, key_file, url)
    user, patients = common.seed(app)
    paths = [f"/patients/{p.handle}/forms/follow_up" for p in patients]
    env = {**common.portal_env(workdir, key_file, url), "PORTAL_BENCH_TREE": tree or ""}
    samples: list[tuple[int, int]] = []
    stop = threading.Event()

    def sample() -> None:
        engine = create_engine(url.replace("+psycopg", "+psycopg"), isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            while not stop.is_set():
                row = connection.execute(text(LOCK_SQL)).one()
                samples.append((int(row.waiting), int(row.audit_waits)))
                time.sleep(0.05)
        engine.dispose()

    with common.gunicorn("reads_tree:app()", env, "/healthz") as base:
        creds = common.credentials(app, base, user, patients)
        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            result = common.load(base, paths[:1], duration, "", creds)
        finally:
            stop.set()
            sampler.join()
    from sqlalchemy import select

    from portal.audit.models import AuditEvent
    from portal.db import new_session

    with new_session(app) as db:
        entries = db.scalar(select(text("count(*)")).select_from(AuditEvent))
    Path(out).write_text(json.dumps({
        "rps": result.rps, "p50": result.p50, "p99": result.p99, "errors": result.errors,
        "count": result.count, "samples": len(samples),
        "waiting": sum(1 for w, _a in samples if w),
        "audit_waits": sum(1 for _w, a in samples if a),
        "max_waiting": max((w for w, _a in samples), default=0), "entries": entries,
    }))


def run(tree: str | None, url: str, duration: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([sys.executable, __file__, "--child", "--tree", tree or "",
                        "--postgres", url, "--duration", str(duration), "--out", out.name],
                       check=True, env={**os.environ})
        return json.loads(Path(out.name).read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="checkout of the code to compare against")
    parser.add_argument("--postgres", required=True, help="URL of a dedicated database")
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tree", default="", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.tree or None, args.postgres, args.duration, args.out)
        return
    figures: dict[str, list[dict[str, float]]] = {"base": [], "this": []}
    for _ in range(args.rounds):
        if args.base:
            figures["base"].append(run(args.base, args.postgres, args.duration))
        figures["this"].append(run(None, args.postgres, args.duration))
    print(f"Form page GETs, PostgreSQL, gunicorn 2 sync workers, wrk 16 connections, "
          f"{args.duration} s per run, {args.rounds} round(s):")
    for label, runs in figures.items():
        for r in runs:
            print(f"  {label:5} {r['rps']:8.1f} req/s  p50 {r['p50']:6.1f} ms  p99 {r['p99']:7.1f} "
                  f"ms  errors {r['errors']}  lock-wait samples {r['waiting']}/{r['samples']} "
                  f"(audit/xact/tuple {r['audit_waits']}, max {r['max_waiting']} waiting)  "
                  f"entries {r['entries']}")
    if figures["base"]:
        ratio = (statistics.median(r["rps"] for r in figures["this"])
                 / statistics.median(r["rps"] for r in figures["base"]))
        print(f"  throughput ratio this/base (medians): {ratio:.2f}  (target >= 2, no lock wait)")


if __name__ == "__main__":
    main()
