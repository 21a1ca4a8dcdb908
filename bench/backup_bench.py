"""Benchmark of backups (not part of the test suite): sealed backup and restore against plain.

For a database holding N submissions (default 100,000) on SQLite and on PostgreSQL, prints:

- backup: `write_backup` (snapshot, manifest counts, AES-256-GCM chunks) against the plain
  floor of the same snapshot without encryption (`pg_dump -Fc -f FILE`; SQLite's online
  backup API into a file) and, on SQLite, against the same two passes without encryption (the
  online backup into a snapshot file, then that file streamed into the output): this Python's
  SQLite offers no way to stream a consistent snapshot's pages, so a sealed backup with bounded
  memory needs the second pass whatever it encrypts;
- restore: `restore_backup` (one pass: each chunk authenticated as it is restored; audit entry)
  against the plain floor (`pg_restore --single-transaction` reading the file, and the same fed
  through a pipe as the sealed restore must feed it; copying the SQLite file, copying plus
  `PRAGMA integrity_check`, which the sealed restore also runs, the same with the fsync the
  sealed restore does before it renames the file into place, and the same with the bytes read
  and written by the process in chunks, as decrypted bytes must be);
- how far each raises the process's resident memory (Linux VmHWM, reset before each run,
  minus the resident size at its start); child processes (pg_dump, pg_restore) not counted.

Each figure is the best of `--rounds` runs, sealed and plain alternating. Target: the sealed
backup and restore take at most 1.15 times their floor.

    .venv/bin/python bench/backup_bench.py [--rows 100000] [--rounds 3] [--no-postgres]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/bench_backup]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import fresh_schema, make_portal, seed  # noqa: E402
from records_bench import _seed_submissions  # noqa: E402

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_backup"


def _reset_peak() -> None:
    # Writing 5 to clear_refs resets VmHWM (Linux 4.0+), so each run reports its own peak.
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _status_mb(field: str) -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _timed(work: Callable[[], Any]) -> tuple[float, float]:
    """Seconds, and how far the resident memory rose above where it was (MB)."""
    _reset_peak()
    resident = _status_mb("VmRSS")
    began = time.perf_counter()
    work()
    return time.perf_counter() - began, _status_mb("VmHWM") - resident


def _pg_admin(url: str) -> Any:
    from portal.db import make_engine

    return make_engine(url, isolation_level="AUTOCOMMIT")


def _fresh_pg_database(base: str, name: str) -> str:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    admin = _pg_admin(base)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(base).set(database=name).render_as_string(hide_password=False)


def _libpq(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _run(argv: list[str]) -> None:
    subprocess.run(argv, check=True)


def _run_fed(argv: list[str], source: Path, chunk: int) -> None:
    """Run `argv` with `source` written to its standard input in chunks, as the sealed restore
    feeds pg_restore (a decrypted stream cannot be seeked, so pg_restore reads it in order)."""
    process = subprocess.Popen(argv, stdin=subprocess.PIPE)
    assert process.stdin is not None
    with source.open("rb") as data:
        for piece in iter(lambda: data.read(chunk), b""):
            process.stdin.write(piece)
    process.stdin.close()
    if process.wait() != 0:
        raise subprocess.CalledProcessError(process.returncode, argv)


def _sqlite_plain_backup(source_path: str, plain: Path) -> None:
    source = sqlite3.connect(source_path)
    target = sqlite3.connect(str(plain))
    source.backup(target)
    target.close()
    source.close()


def _sqlite_plain_two_passes(source_path: str, plain: Path, chunk: int,
                             durable: bool = False) -> None:
    """The sealed backup's two passes without the encryption: the online backup into a
    snapshot file, then that file streamed in chunks into the output, and the snapshot
    removed (memory stays bounded by a chunk, as in the sealed path). `durable`: also count
    every table of the snapshot and fsync the output, as the sealed backup does for its
    manifest and before it calls the file a backup."""
    snapshot = plain.with_suffix(".snapshot")
    _sqlite_plain_backup(source_path, snapshot)
    if durable:
        with sqlite3.connect(str(snapshot)) as db:
            for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
                db.execute(f'SELECT count(*) FROM "{name}"').fetchone()  # noqa: S608
        db.close()
    with snapshot.open("rb") as source, plain.open("wb") as target:
        for piece in iter(lambda: source.read(chunk), b""):
            target.write(piece)
        if durable:
            target.flush()
            os.fsync(target.fileno())
    snapshot.unlink()


def _copy_and_check(plain: Path, target: Path) -> None:
    shutil.copyfile(plain, target)
    _check(target)


def _copy_sync_and_check(plain: Path, target: Path) -> None:
    """A plain restore as durable as the sealed one: copy, fsync, integrity check."""
    shutil.copyfile(plain, target)
    with target.open("rb+") as written:
        os.fsync(written.fileno())
    _check(target)


def _stream_sync_and_check(plain: Path, target: Path, chunk: int) -> None:
    """The sealed restore's work without the decryption: the bytes read and written by the
    process in chunks (decrypted bytes cannot take the kernel's copy), fsync, integrity check."""
    with plain.open("rb") as source, target.open("wb") as written:
        for piece in iter(lambda: source.read(chunk), b""):
            written.write(piece)
        written.flush()
        os.fsync(written.fileno())
    _check(target)


def _check(target: Path) -> None:
    connection = sqlite3.connect(str(target))
    connection.execute("PRAGMA integrity_check").fetchone()
    connection.close()


def _clean(target: Path) -> None:
    for path in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
        path.unlink(missing_ok=True)


def _round(
    app: Any, database_url: str, postgres: bool, sealed: Path, plain: Path, out: Path, actor: Any
) -> list[tuple[str, tuple[float, float]]]:
    """One round, sealed and plain alternating; returns (name, (seconds, memory)) pairs."""
    from portal.backups import services
    from portal.db import get_engine

    figures = [("backup sealed", _timed(partial(services.write_backup, app, sealed)))]
    if postgres:
        figures.append(
            (
                "backup plain",
                _timed(
                    partial(
                        _run,
                        [
                            "pg_dump",
                            "--format=custom",
                            f"--file={plain}",
                            f"--dbname={_libpq(database_url)}",
                        ],
                    )
                ),
            )
        )
        target = _fresh_pg_database(database_url, "bench_backup_restore")
        figures.append(
            ("restore sealed", _timed(partial(services.restore_backup, app, sealed, target, actor)))
        )
        target = _fresh_pg_database(database_url, "bench_backup_restore")
        figures.append(
            (
                "restore plain",
                _timed(
                    partial(
                        _run,
                        [
                            "pg_restore",
                            "--single-transaction",
                            "--no-owner",
                            "--no-privileges",
                            f"--dbname={_libpq(target)}",
                            str(plain),
                        ],
                    )
                ),
            )
        )
        target = _fresh_pg_database(database_url, "bench_backup_restore")
        figures.append(
            (
                "restore plain (fed through a pipe, as the sealed one)",
                _timed(
                    partial(
                        _run_fed,
                        [
                            "pg_restore",
                            "--single-transaction",
                            "--no-owner",
                            "--no-privileges",
                            f"--dbname={_libpq(target)}",
                        ],
                        plain,
                        int(app.config["BACKUP_CHUNK_SIZE"]),
                    )
                ),
            )
        )
        return figures
    figures.append(
        (
            "backup plain",
            _timed(partial(_sqlite_plain_backup, str(get_engine(app).url.database), plain)),
        )
    )
    figures.append(
        (
            "backup plain (two passes, as the sealed one)",
            _timed(partial(_sqlite_plain_two_passes, str(get_engine(app).url.database), plain,
                           int(app.config["BACKUP_CHUNK_SIZE"]))),
        )
    )
    figures.append(
        (
            "backup plain (two passes + table counts + fsync)",
            _timed(partial(_sqlite_plain_two_passes, str(get_engine(app).url.database), plain,
                           int(app.config["BACKUP_CHUNK_SIZE"]), durable=True)),
        )
    )
    restored = out / "restored.db"
    _clean(restored)
    figures.append(
        (
            "restore sealed",
            _timed(partial(services.restore_backup, app, sealed, f"sqlite:///{restored}", actor)),
        )
    )
    _clean(restored)
    figures.append(("restore plain (copy)", _timed(partial(shutil.copyfile, plain, restored))))
    _clean(restored)
    figures.append(
        (
            "restore plain (copy + integrity check)",
            _timed(partial(_copy_and_check, plain, restored)),
        )
    )
    _clean(restored)
    figures.append(
        (
            "restore plain (copy + fsync + integrity check)",
            _timed(partial(_copy_sync_and_check, plain, restored)),
        )
    )
    _clean(restored)
    figures.append(
        (
            "restore plain (streamed + fsync + integrity check)",
            _timed(partial(_stream_sync_and_check, plain, restored,
                           int(app.config["BACKUP_CHUNK_SIZE"]))),
        )
    )
    _clean(restored)
    return figures


def bench(
    label: str, database_url: str, workdir: Path, key_file: Path, rows: int, rounds: int
) -> None:
    from portal.audit.services import cli_actor
    from portal.db import get_engine

    fresh_schema(database_url)
    app = make_portal(workdir, key_file, database_url)
    seed(app, patients=50)
    began = time.perf_counter()
    _seed_submissions(app, rows)
    print(f"  seeded {rows} sealed follow-ups on {label} in {time.perf_counter() - began:.1f} s")
    actor = cli_actor("bench")
    out = workdir / f"out-{label}"
    out.mkdir(exist_ok=True)
    postgres = label == "PostgreSQL"
    results: dict[str, list[tuple[float, float]]] = {}
    for round_ in range(rounds):
        sealed = out / f"sealed-{round_}.aacbak"
        plain = out / f"plain-{round_}.dump"
        for name, figures in _round(app, database_url, postgres, sealed, plain, out, actor):
            results.setdefault(name, []).append(figures)
        sizes = (sealed.stat().st_size, plain.stat().st_size)
        sealed.unlink()
        plain.unlink()

    best = {name: min(runs) for name, runs in results.items()}
    print(f"  {label}: sealed file {sizes[0] / 1e6:.1f} MB, plain {sizes[1] / 1e6:.1f} MB")
    for name, (seconds, peak) in best.items():
        print(f"    {name:<52} {seconds:7.2f} s   memory +{peak:7.1f} MB")
    for kind in ("backup", "restore"):
        floors = [n for n in best if n.startswith(f"{kind} plain")]
        for floor in floors:
            ratio = best[f"{kind} sealed"][0] / best[floor][0]
            print(
                f"    {kind} sealed / {floor}: {ratio:.2f}x "
                f"({'met' if ratio <= 1.15 else 'NOT met'}: target <= 1.15)"
            )
    get_engine(app).dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--postgres", default=os.environ.get("PORTAL_BENCH_DATABASE_URL", DEFAULT_POSTGRES)
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()

    from portal.keys import new_keyring, write_key_file

    workdir = Path(tempfile.mkdtemp(prefix="backup-bench-"))
    key_file = workdir / "portal.keys"
    write_key_file(key_file, new_keyring())
    print(f"backup bench: {args.rows} submissions, best of {args.rounds} rounds")
    targets = [] if args.no_sqlite else [("SQLite", f"sqlite:///{workdir / 'bench.db'}")]
    if not args.no_postgres:
        targets.append(("PostgreSQL", args.postgres))
    try:
        for label, url in targets:
            bench(label, url, workdir, key_file, args.rows, args.rounds)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if not args.no_postgres:
            from sqlalchemy import text

            admin = _pg_admin(args.postgres)
            with admin.connect() as connection:
                connection.execute(
                    text('DROP DATABASE IF EXISTS "bench_backup_restore" WITH (FORCE)')
                )
            admin.dispose()


if __name__ == "__main__":
    main()
