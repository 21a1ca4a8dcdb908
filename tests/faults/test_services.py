"""Redis stopped during logins, the mail relay stopped while messages wait, and two job runners
started at once, against the suite's private servers and both app servers."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select

from portal import clock
from portal.jobs import services as jobs
from portal.jobs.duties import DUTIES
from portal.jobs.models import JobRun
from portal.outbox import services as outbox
from portal.outbox.models import OutboxMessage
from portal.permissions import Role
from portal.retention.archive import create_archive_store
from tests.helpers_auth import DEFAULT_PASSWORD, make_user

pytestmark = [pytest.mark.faults, pytest.mark.slow]

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
LIMITS_DOWN = "Logging in is unavailable for a few minutes"


def _password_step(web: requests.Session, base: str, login: str) -> requests.Response:
    page = web.get(base + "/login", timeout=30)
    assert page.status_code == 200, page.status_code
    csrf = CSRF.search(page.text)
    assert csrf
    return web.post(base + "/login", data={"login": login, "password": DEFAULT_PASSWORD,
                                           "csrf_token": csrf.group(1)},
                    allow_redirects=False, timeout=30)


def _server_code(world, user) -> str:  # noqa: ANN001
    """A TOTP code the workers accept now: of their time, not the tests' (conftest.py).

    A worker's clock is behind `server_time()` by its boot time (a few seconds, at most ten
    here): the code of 20 s ago is of the step the worker is in, or of the one before, and
    both are accepted. A step already used is marked older first (test bookkeeping, as
    tests/helpers_auth.totp_code does).
    """
    import pyotp
    from sqlalchemy import update

    from portal.accounts import authentication, totp_codes
    from portal.accounts.models import User
    from portal.db import new_session

    step = totp_codes.time_step(world.server_time() - timedelta(seconds=20))
    with new_session(world.app) as session:
        fresh = session.get(User, user.id)
        if fresh.totp_last_step >= step:
            session.execute(update(User).where(User.id == user.id)
                            .values(totp_last_step=step - 1))
            session.commit()
        return pyotp.TOTP(authentication.totp_secret(session, fresh)).generate_otp(step)


def _code_step(web: requests.Session, base: str, world, user) -> requests.Response:  # noqa: ANN001
    page = web.get(base + "/login/code", timeout=30)
    csrf = CSRF.search(page.text)
    assert page.status_code == 200 and csrf, page.status_code
    code = _server_code(world, user)
    return web.post(base + "/login/code", data={"code": code, "csrf_token": csrf.group(1)},
                    allow_redirects=False, timeout=30)


def _full_login(world, user, base: str) -> requests.Session:  # noqa: ANN001
    web = requests.Session()
    deadline = time.monotonic() + 60
    for _try in range(40):  # a busy hashing slot answers 503 "wait a few seconds"
        answer = _password_step(web, base, user.login)
        if answer.status_code == 302:
            break
        assert answer.status_code == 503 and LIMITS_DOWN not in answer.text, answer.status_code
        assert time.monotonic() < deadline
        time.sleep(0.5)
    else:
        raise AssertionError(f"{user.login} never got past the password step")
    coded = _code_step(web, base, world, user)
    assert coded.status_code == 302, re.findall(r'<p class="(?:error|flash)[^"]*"[^>]*>[^<]*',
                                                coded.text)
    assert web.get(base + "/account", timeout=30).status_code == 200
    return web


def test_logins_are_refused_while_redis_is_down_and_the_rest_keeps_working(world, db) -> None:  # noqa: ANN001
    people = [make_user(db, f"redis.user{chr(97 + n)}", role=Role.PRESCRIBER) for n in range(6)]
    db.rollback()
    bases = world.bases
    logged_in = [_full_login(world, person, bases[n % 2]) for n, person in enumerate(people[:2])]
    # One person passed the password step and waits for the code when Redis goes away.
    halfway = requests.Session()
    assert _password_step(halfway, bases[0], people[2].login).status_code == 302

    # Logins going on from both servers while Redis stops: never a 500, never a way in.
    statuses: Counter[int] = Counter()
    stop = threading.Event()

    def keep_logging_in(person, base: str) -> None:  # noqa: ANN001
        for _attempt in range(200):
            if stop.is_set():
                return
            web = requests.Session()
            try:
                answer = _password_step(web, base, person.login)
            except (requests.RequestException, AssertionError):
                statuses[0] += 1
                continue
            statuses[answer.status_code] += 1
            time.sleep(0.1)

    threads = [threading.Thread(target=keep_logging_in, args=(people[3 + n], bases[n % 2]),
                                daemon=True) for n in range(2)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1)
        world.redis.stop()
        time.sleep(2)
        down_from = time.monotonic()
        for base in bases:
            refused = _password_step(requests.Session(), base, people[5].login)
            assert refused.status_code == 503 and LIMITS_DOWN in refused.text
            assert refused.headers["Retry-After"] == "60"
            assert "Traceback" not in refused.text
            # The second factor is refused the same way: it cannot be counted either.
            page = halfway.get(base + "/login/code", timeout=30)
            code = halfway.post(base + "/login/code", data={
                "code": "000000", "csrf_token": CSRF.search(page.text).group(1)},
                allow_redirects=False, timeout=30)
            assert code.status_code == 503 and LIMITS_DOWN in code.text
            # People logged in before keep working, on either server.
            for web in logged_in:
                assert web.get(base + "/account", timeout=30).status_code == 200
            health = requests.get(base + "/healthz", timeout=30)
            assert (health.status_code, health.text) == (
                200, "ok\nrate-limit storage unavailable: logins refused\n")
        assert time.monotonic() - down_from < 30  # refusing is quick: nobody waits on Redis
        world.redis.start()
        time.sleep(1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert set(statuses) <= {302, 503}, statuses  # 302: before the stop or after the start
    assert statuses[503] > 0
    # Redis is back (empty): logins work again, without restarting anything.
    for n, person in enumerate(people[3:5]):
        _full_login(world, person, bases[n % 2])
    assert _code_step(halfway, bases[1], world, people[2]).status_code == 302
    for base in bases:
        assert requests.get(base + "/healthz", timeout=30).text == "ok\n"


def _runner(world, *args: str) -> subprocess.Popen[str]:  # noqa: ANN001
    import os

    env = {**os.environ, **world.env, "PORTAL_BABEL_DEFAULT_LOCALE": "en",
           clock.TEST_START_VARIABLE: clock.now().isoformat()}
    return subprocess.Popen([sys.executable, "-m", "portal.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _two_at_once(world, *args: str) -> list[str]:  # noqa: ANN001
    processes = [_runner(world, *args) for _ in range(2)]
    return [process.communicate(timeout=180)[0] for process in processes]


def test_mail_waits_while_the_relay_is_down_then_leaves_once_each(world, db) -> None:  # noqa: ANN001
    for _drain in range(10):  # what earlier tests queued (activation links...) leaves first
        if outbox.send_due(world.app).sent == 0:
            break
    before = len(world.smtp.inbox.messages)
    queued = [outbox.enqueue(db, f"first{n}@example.org", f"First {n}", "Hello.\n",
                             kind="test") for n in range(5)]
    db.commit()
    first = [message.id for message in queued]
    _two_at_once(world, "outbox", "send")
    world.smtp.stop()
    try:
        queued = [outbox.enqueue(db, f"later{n}@example.org", f"Later {n}", "Hello.\n",
                                 kind="test") for n in range(5)]
        db.commit()
        later = [message.id for message in queued]
        outputs = _two_at_once(world, "outbox", "send")  # the relay refuses: they wait
        db.expire_all()
        waiting = db.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(later))).all()
        assert {(m.state, m.attempts) for m in waiting} == {("pending", 1)}, outputs
    finally:
        world.smtp.start()
    time.sleep(1.5)  # PORTAL_OUTBOX_RETRY_SECONDS=1: the first retry is due
    # Two senders at once, then one more: each message leaves once.
    _two_at_once(world, "outbox", "send")
    _two_at_once(world, "jobs", "run", "--only", "outbox")
    arrived = Counter(m["Subject"] for m in world.smtp.inbox.messages[before:]
                      if m["Subject"].startswith(("First ", "Later ")))
    assert arrived == Counter({f"First {n}": 1 for n in range(5)} |
                              {f"Later {n}": 1 for n in range(5)})
    db.expire_all()
    rows = db.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(first + later))).all()
    assert {m.state for m in rows} == {"sent"}


def test_two_job_runners_at_once_run_each_duty_once(world, db) -> None:  # noqa: ANN001
    create_archive_store(world.app)
    db.execute(JobRun.__table__.delete())
    db.commit()
    outputs = _two_at_once(world, "jobs", "run")
    db.expire_all()
    counts = jobs.run_counts(db)
    assert counts == {duty.name: 1 for duty in DUTIES}, outputs
    runs = db.scalars(select(JobRun)).all()
    assert {(run.job, run.outcome) for run in runs if run.outcome != "success"} == set(), \
        [(run.job, run.summary) for run in runs]
    for duty in DUTIES:
        said = [line for output in outputs for line in output.splitlines()
                if line.startswith(f"{duty.name}: ")]
        assert len(said) == 2, outputs
        assert sum(": done" in line or ": FAILED" in line for line in said) == 1, said
