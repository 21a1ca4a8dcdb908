"""Benchmark of the other pages during a login flood (not part of the test suite).

gunicorn with two workers (sync, then gthread as the README runs it), Redis as the rate-limit
storage (so the hashing budget is
shared by both workers), the production argon2 parameters, PORTAL_TRUSTED_PROXIES=1. Measured
by one client each, one request every 20 ms:

- ``GET /healthz``;
- ``GET /account`` of a logged-in prescriber (the cheapest logged-in page);

first on a quiet server ("before"), then while 60 threads, each with its own address
(X-Forwarded-For 10.n.x.y, a new n per run) and its own session and CSRF token, post wrong
passwords for unknown logins as fast as they get answers ("during"). During the flood a person
whose account logged in before posts the right password once; the bench prints what they got.

The same runs are made on a server whose budget is wide open (``PORTAL_LOGIN_HASH_SLOTS=64``,
the behaviour before the budget) and on one with the default budget, one after the other. Prints
p50/p99 of each page and the ratio of the p99 during the flood to the p99 before it, and how the
flood was answered. Target: ``/healthz`` p99 under 100 ms during the flood, with the budget.

Usage:

    .venv/bin/python bench/login_bench.py [--duration 5] [--database-url sqlite:///...]
        [--redis-url redis://127.0.0.1:6379/1] [--attackers 60] [--burst]

With ``--burst`` each attacker posts once, all together, and "during" lasts until the 60 are
answered (the measurement of the issue: /healthz waited 21 s for 60 attempts).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SECRET, fresh_schema, gunicorn, make_portal, portal_env, seed  # noqa: E402

TARGET_MS = 100.0
PASSWORD = "Kx7#vLq9!mWz2pRt"  # noqa: S105 - the bench person's password
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def prepare(app: Any) -> tuple[str, str]:
    """Seed a prescriber who logged in before; return their login and a full session cookie."""
    from flask import Flask
    from flask.sessions import SecureCookieSessionInterface

    from portal import clock
    from portal.accounts import sessions
    from portal.accounts.hashing import hasher
    from portal.accounts.models import User, UserSession
    from portal.db import new_session

    user, _patients = seed(app, patients=1)
    with new_session(app) as db:
        person = db.get(User, user.id)
        person.password_hash = hasher(app).hash(PASSWORD)
        now = clock.now()
        person.password_changed_at = now
        person.last_login_at = now
        person.totp_confirmed_at = now
        raw = secrets.token_urlsafe(32)
        db.add(UserSession(id_hash=sessions.hash_id(raw), user_id=person.id, created_at=now,
                           last_seen_at=now, mfa_at=now))
        db.commit()
        login = person.login
    signer = Flask("cookie")
    signer.secret_key = SECRET
    serializer = SecureCookieSessionInterface().get_signing_serializer(signer)
    cookie = f"{app.config['SESSION_COOKIE_NAME']}={serializer.dumps({sessions.SESSION_KEY: raw})}"
    return login, cookie


def sample(base: str, path: str, cookie: str, stop: threading.Event,
           out: list[float], statuses: Counter) -> None:
    """GET `path` every 20 ms until `stop`; latencies in ms."""
    import requests

    web = requests.Session()
    headers = {"Cookie": cookie} if cookie else {}
    while not stop.is_set():
        started = time.perf_counter()
        try:
            answer = web.get(base + path, headers=headers, timeout=60, allow_redirects=False)
            statuses[answer.status_code] += 1
        except requests.RequestException:
            statuses["error"] += 1
        out.append((time.perf_counter() - started) * 1000)
        stop.wait(0.02)


def attacker(base: str, network: int, index: int, stop: threading.Event, outcomes: Counter,
             lock: threading.Lock, once: bool) -> None:
    """Wrong passwords on unknown logins from one address, as fast as answers come."""
    import requests

    web = requests.Session()
    # A new network per run: the per-address counters of an earlier run stay in Redis.
    address = f"10.{network}.{index // 200}.{index % 200 + 1}"
    headers = {"X-Forwarded-For": address}
    try:
        page = web.get(base + "/login", headers=headers, timeout=60)
        csrf = _CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    except (requests.RequestException, AttributeError):
        with lock:
            outcomes["no login page"] += 1
        return
    count = 0
    while not stop.is_set():
        count += 1
        try:
            answer = web.post(base + "/login", headers=headers, allow_redirects=False,
                              timeout=60, data={"csrf_token": csrf, "password": "wrong",
                                                "login": f"nobody.{network}.{index}.{count}"})
            outcome = answer.status_code
        except requests.RequestException:
            outcome = "error"
        with lock:
            outcomes[outcome] += 1
        if once:
            return


def known_login(base: str, login: str) -> str:
    """The right password of a person who logged in before, from an address of their own."""
    import requests

    web = requests.Session()
    headers = {"X-Forwarded-For": "192.0.2.1"}
    started = time.perf_counter()
    page = web.get(base + "/login", headers=headers, timeout=60)
    match = _CSRF.search(page.text)
    if match is None:
        return f"no login page ({page.status_code})"
    answer = web.post(base + "/login", headers=headers, allow_redirects=False, timeout=60,
                      data={"csrf_token": match.group(1), "login": login,
                            "password": PASSWORD})
    elapsed = (time.perf_counter() - started) * 1000
    where = answer.headers.get("Location", "")
    return f"{answer.status_code} {where} in {elapsed:.0f} ms"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * share) - 1)] if ordered else 0.0


def measure(base: str, cookie: str, duration: float, attackers: int,
            login: str | None, once: bool = False) -> dict[str, Any]:
    stop = threading.Event()
    lock = threading.Lock()
    health: list[float] = []
    page: list[float] = []
    statuses: Counter = Counter()
    outcomes: Counter = Counter()
    threads = [threading.Thread(target=sample, args=(base, "/healthz", "", stop, health,
                                                     statuses)),
               threading.Thread(target=sample, args=(base, "/account", cookie, stop, page,
                                                     statuses))]
    network = 1 + secrets.randbelow(250)
    flood = [threading.Thread(target=attacker, args=(base, network, i, stop, outcomes, lock, once))
             for i in range(attackers)]
    for thread in threads + flood:
        thread.start()
    known = ""
    if once:
        # One wave: "during" lasts until every attempt is answered.
        if login is not None:
            known = known_login(base, login)
        for thread in flood:
            thread.join()
    elif login is not None:
        time.sleep(duration / 3)
        known = known_login(base, login)
        time.sleep(duration * 2 / 3)
    else:
        time.sleep(duration)
    stop.set()
    for thread in threads + flood:
        thread.join()
    return {"health": health, "page": page, "statuses": statuses, "outcomes": outcomes,
            "known": known}


def report(name: str, before: dict[str, Any], during: dict[str, Any]) -> float:
    print(f"\n{name}")
    for key, label in (("health", "GET /healthz"), ("page", "GET /account (logged in)")):
        quiet, loaded = before[key], during[key]
        p99_before, p99_during = percentile(quiet, 0.99), percentile(loaded, 0.99)
        print(f"  {label:26} before: p50 {statistics.median(quiet):7.1f} ms  p99 "
              f"{p99_before:7.1f} ms ({len(quiet)})   during: p50 "
              f"{statistics.median(loaded):7.1f} ms  p99 {p99_during:7.1f} ms ({len(loaded)})"
              f"   p99 ratio {p99_during / p99_before if p99_before else 0:6.1f}")
    flood = dict(sorted(during["outcomes"].items(), key=lambda item: str(item[0])))
    print(f"  flood answers (status: count): {flood}")
    print(f"  pages sampled (status: count): {dict(during['statuses'])}")
    print(f"  known person's right password during the flood: {during['known']}")
    return percentile(during["health"], 0.99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--attackers", type=int, default=60)
    parser.add_argument("--burst", action="store_true",
                        help="each attacker posts once, all at the same time (the issue's "
                             "measurement), instead of posting again and again")
    parser.add_argument("--threads", type=int, default=4,
                        help="threads per gthread worker, as the README's production command "
                             "runs them (the sync runs are measured beside them)")
    parser.add_argument("--without-open", action="store_true",
                        help="leave out the run with the budget wide open (the state before "
                             "the budget, minutes long on a busy machine)")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default=os.environ.get("PORTAL_TEST_REDIS_URL",
                                                              "redis://127.0.0.1:6379/1"))
    options = parser.parse_args()

    from portal.keys import new_keyring, write_key_file

    workdir = Path(tempfile.mkdtemp(prefix="login-bench-"))
    try:
        key_file = workdir / "portal.keys"
        write_key_file(key_file, new_keyring())
        database_url = options.database_url or f"sqlite:///{workdir / 'portal.db'}"
        fresh_schema(database_url)
        app = make_portal(workdir, key_file, database_url)
        login, cookie = prepare(app)
        env = {**portal_env(workdir, key_file, database_url),
               "PORTAL_RATELIMIT_STORAGE_URI": options.redis_url,
               "PORTAL_TRUSTED_PROXIES": "1", "PORTAL_BABEL_DEFAULT_LOCALE": "en"}
        print(f"gunicorn, 2 workers; {options.attackers} attackers for {options.duration} s; "
              f"database {database_url.split(':')[0]}; Redis {options.redis_url}")
        results = {}
        threads = options.threads
        runs = [("sync workers, budget wide open (LOGIN_HASH_SLOTS=64, as before)", "64", None),
                ("sync workers, default budget (LOGIN_HASH_SLOTS=1)", "1", None),
                (f"gthread workers ({threads} threads), default budget", "1", threads)]
        for name, slots, worker_threads in runs[1:] if options.without_open else runs:
            with gunicorn("portal:create_app()", {**env, "PORTAL_LOGIN_HASH_SLOTS": slots},
                          "/healthz", threads=worker_threads) as base:
                before = measure(base, cookie, options.duration, 0, None)
                during = measure(base, cookie, options.duration, options.attackers, login,
                                 once=options.burst)
            results[name] = report(name, before, during)
        budget_p99 = list(results.values())[-1]
        verdict = "met" if budget_p99 < TARGET_MS else "NOT met"
        print(f"\ntarget /healthz p99 < {TARGET_MS:.0f} ms during the flood with the budget "
              f"(gthread workers, as documented): {budget_p99:.1f} ms, {verdict}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
