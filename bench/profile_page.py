"""Profile the CPU cost of one portal page, in-process (not part of the test suite).

Seeds a fresh SQLite (or PostgreSQL) database as the other benches do, logs a prescriber in
with a session cookie, and calls the WSGI app directly (no HTTP, no load generator) `--requests`
times for `--path`; prints the CPU time per request and, with `--profile`, the cProfile
functions with the most cumulative and own time. The CPU time per request, unlike requests/s
under load, barely moves when other processes share the machine, so it is the figure to decide
on; compare it with `--bare` (the bare Flask page of common.py) in the same run.

Usage:

    .venv/bin/python bench/profile_page.py [--path /account] [--requests 2000] [--profile]
        [--database-url ...] [--method POST --body follow_up|invalid]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import SECRET, follow_up_fields, fresh_schema, make_portal, seed  # noqa: E402


def session_cookie(app: Any, user: Any) -> str:
    from flask import Flask
    from flask.sessions import SecureCookieSessionInterface

    from portal import clock
    from portal.accounts import sessions
    from portal.accounts.models import UserSession
    from portal.db import new_session

    signer = Flask("cookie")
    signer.secret_key = SECRET
    serializer = SecureCookieSessionInterface().get_signing_serializer(signer)
    raw = secrets.token_urlsafe(32)
    with new_session(app) as db:
        now = clock.now()
        db.add(UserSession(id_hash=sessions.hash_id(raw), user_id=user.id, created_at=now,
                           last_seen_at=now, mfa_at=now))
        db.commit()
    return f"{app.config['SESSION_COOKIE_NAME']}={serializer.dumps({sessions.SESSION_KEY: raw})}"


def call(app: Any, environ: dict[str, Any], cookies: list[str] | None = None
         ) -> tuple[str, bytes]:
    status: list[str] = []

    def start_response(code: str, headers: Any, exc_info: Any = None) -> None:
        status.append(code)
        if cookies is not None:
            cookies.extend(value.split(";", 1)[0] for name, value in headers
                           if name.lower() == "set-cookie")

    chunks = app(dict(environ, **{"wsgi.input": io.BytesIO(environ["_body"])}), start_response)
    try:
        data = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()
    return status[0], data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", default="/account",
                        help="path, {patient} is replaced by a patient's handle")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--lines", type=int, default=45)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", choices=("", "follow_up", "invalid"), default="")
    parser.add_argument("--dump", default="", help="write the cProfile stats to this file")
    args = parser.parse_args()

    from werkzeug.test import EnvironBuilder

    from portal.keys import new_keyring, write_key_file

    workdir = Path(tempfile.mkdtemp(prefix="profile-page-"))
    key_file = workdir / "portal.keys"
    write_key_file(key_file, new_keyring())
    database_url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    fresh_schema(database_url)
    app = make_portal(workdir, key_file, database_url)
    user, patients = seed(app)
    cookie = session_cookie(app, user)
    path = args.path.replace("{patient}", patients[0].handle)

    def environ_for(body: bytes, method: str) -> dict[str, Any]:
        builder = EnvironBuilder(path=path, method=method, headers={
            "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded",
            "Accept-Language": "fr"}, data=body)
        env = builder.get_environ()
        env["_body"] = body
        return env

    # As a browser would: keep the cookie the first page sets (it then holds the CSRF token).
    first: list[str] = []
    status, page = call(app, environ_for(b"", "GET"), first)
    if first:
        cookie = first[-1]
    get_env = environ_for(b"", "GET")
    status, page = call(app, get_env)
    print(f"GET {path}: {status}, {len(page)} bytes")
    environ = get_env
    if args.method == "POST":
        import re

        csrf = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page).group(1).decode()
        fields = follow_up_fields()
        if args.body == "invalid":
            fields["f_weight_kg"] = "9999"
        base_body = urlencode(fields)

        def post_env(number: int) -> dict[str, Any]:
            data = f"{base_body}&token=prof-{number}-{secrets.token_hex(6)}&csrf_token={csrf}"
            return environ_for(data.encode(), "POST")
        environs = [post_env(i) for i in range(args.requests + 50)]
    else:
        environs = [environ] * (args.requests + 50)
    for env in environs[:50]:
        status, _ = call(app, env)
    print(f"{args.method} {path}: {status} (after 50 warm-up requests)")
    profiler = cProfile.Profile() if args.profile else None
    # In blocks: the fastest block is the figure least disturbed by the other processes.
    blocks: list[float] = []
    size = max(1, args.requests // args.blocks)
    timed = environs[50:]
    wall = time.perf_counter()
    if profiler:
        profiler.enable()
    for start in range(0, args.requests, size):
        cpu = time.process_time()
        for env in timed[start:start + size]:
            call(app, env)
        blocks.append((time.process_time() - cpu) / len(timed[start:start + size]))
    if profiler:
        profiler.disable()
    wall = (time.perf_counter() - wall) / args.requests
    cpu = min(blocks)
    print(f"{args.requests} requests: {cpu * 1000:.3f} ms CPU per request (fastest of "
          f"{len(blocks)} blocks; median {statistics.median(blocks) * 1000:.3f}), "
          f"{wall * 1000:.3f} ms wall{' (under cProfile)' if profiler else ''}")
    bare = common.bare_app()
    bare_env = EnvironBuilder(path="/").get_environ()
    bare_env["_body"] = b""
    bare_blocks = []
    for _ in range(args.blocks):
        started = time.process_time()
        for _ in range(size):
            call(bare, bare_env)
        bare_blocks.append((time.process_time() - started) / size)
    bare_cpu = min(bare_blocks)
    print(f"bare Flask page in-process: {bare_cpu * 1000:.3f} ms CPU per request; "
          f"ratio {bare_cpu / cpu:.3f}")
    if profiler:
        if args.dump:
            profiler.dump_stats(args.dump)
        stats = pstats.Stats(profiler)
        stats.sort_stats(args.sort).print_stats(args.lines)
    from portal.db import get_engine

    get_engine(app).dispose()
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
