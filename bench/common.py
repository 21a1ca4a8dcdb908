"""Shared machinery of the benchmarks in bench/ (not part of the test suite).

- `gunicorn(target, env, ready_path)`: serve an app factory (``"portal:create_app()"``) or the
  bare page (``"common:bare_app()"``) with two sync workers on a free loopback port;
- `load(base, paths, duration, body, creds)`: the load generator (Python threads and a
  requests.Session per connection by default, or wrk), giving requests/s and latency
  percentiles;
- `fresh_schema`, `make_portal`, `portal_env`, `seed`, `credentials`: a fresh database with the
  demo protocol, a logged-in prescriber with patients (each with an initiation), and one
  session cookie and CSRF token per connection.

`configure(connections=..., generator=...)` sets the number of connections and the generator
for the whole run.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONNECTIONS = 16
WORKERS = 2
SECRET = "b" * 48


def bare_app() -> Any:
    """The bare page the portal is compared with: Flask, one view, nothing else."""
    from flask import Flask

    app = Flask("bare")

    @app.get("/")
    def index() -> str:
        return "ok"

    return app


# --- serving -------------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(target: str, env: dict[str, str], ready_path: str,
             threads: int | None = None) -> Iterator[str]:
    """Serve `target` with gunicorn (two workers, sync, or gthread with `threads` threads
    each); yield the base URL once it answers."""
    import requests

    port = free_port()
    log = tempfile.TemporaryFile(mode="w+")
    workers = ["--worker-class", "gthread", "--threads", str(threads)] if threads else []
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "--workers", str(WORKERS), *workers,
         "--bind", f"127.0.0.1:{port}", "--chdir", str(Path(__file__).parent),
         "--log-level", "warning", target],
        env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if requests.get(base + ready_path, timeout=10).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                process.wait()
                log.seek(0)
                raise SystemExit(f"gunicorn did not start:\n{log.read()[-4000:]}")
            time.sleep(0.2)
        # Both workers warm (first requests build caches).
        for _ in range(20):
            requests.get(base + ready_path, timeout=10)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


# --- load generation -----------------------------------------------------------------------------


class Result:
    """Requests per second and latency percentiles of one load run."""

    def __init__(self, requests_per_s: float, p50: float, p99: float, count: int,
                 errors: int) -> None:
        self.rps, self.p50, self.p99, self.count, self.errors = (
            requests_per_s, p50, p99, count, errors)

    def __str__(self) -> str:
        return (f"{self.rps:8.1f} req/s   p50 {self.p50:6.1f} ms   p99 {self.p99:6.1f} ms   "
                f"({self.count} requests, {self.errors} errors)")


WRK_SCRIPT = r"""
local creds = %(creds)s
local paths = %(paths)s
local body = %(body)s
local counter = 0
local thread_number = 0
function setup(thread)
  thread_number = thread_number + 1
  thread:set("id", thread_number)
end
function init(args)
  math.randomseed(id * 7919 + os.time())
end
function request()
  counter = counter + 1
  local c = creds[(counter %% #creds) + 1]
  if body == "" then
    if c[1] == "" then
      return wrk.format("GET", paths[1])
    end
    return wrk.format("GET", paths[1], {["Cookie"] = c[1]})
  end
  local token = string.format("bench-%%d-%%d-%%d", id, counter, math.random(1, 1000000000))
  return wrk.format("POST", paths[(counter %% #paths) + 1], {
    ["Cookie"] = c[1], ["Content-Type"] = "application/x-www-form-urlencoded"
  }, body .. "&token=" .. token .. "&csrf_token=" .. c[2])
end
done = function(summary, latency, requests)
  io.write(string.format("JSON{\"p50\": %%f, \"p99\": %%f}\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def _lua_list(items: list[Any]) -> str:
    def quote(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    parts = []
    for item in items:
        if isinstance(item, list | tuple):
            parts.append("{" + ", ".join(quote(str(x)) for x in item) + "}")
        else:
            parts.append(quote(str(item)))
    return "{" + ", ".join(parts) + "}"


def run_wrk(base: str, paths: list[str], duration: int, body: str = "",
            creds: list[tuple[str, str]] | None = None, connections: int = 0,
            expect: int | None = None) -> Result:
    """Drive the load with wrk; with `expect`, non-2xx/3xx answers are not counted as errors
    (wrk does not tell which status they had)."""
    connections = connections or CONNECTIONS
    script = WRK_SCRIPT % {"creds": _lua_list(creds or [("", "")]), "paths": _lua_list(paths),
                           "body": _lua_list([body])[1:-1]}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        output = subprocess.run(
            ["wrk", "-t", str(min(2, connections)), "-c", str(connections), "-d",
             f"{duration}s", "--timeout", "10s", "-s", handle.name, base],
            capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(handle.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    count = int(re.search(r"(\d+) requests in", output).group(1))
    errors = 0
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if match and expect is None:
        errors += int(match.group(1))
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                      output)
    if match:
        errors += sum(int(x) for x in match.groups())
    figures = json.loads(output.split("JSON", 1)[1].splitlines()[0])
    return Result(rps, figures["p50"], figures["p99"], count, errors)


def run_python(base: str, paths: list[str], duration: int, body: str = "",
               creds: list[tuple[str, str]] | None = None, connections: int = 0,
               expect: int | None = None) -> Result:
    """The Python load generator: one thread per connection, each a requests.Session.

    An answer is an error if its status is 400 or more, or, with `expect`, any other status.
    """
    connections = connections or CONNECTIONS
    import requests

    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + duration

    def worker(index: int) -> None:
        web = requests.Session()
        cookie, csrf = (creds or [("", "")])[index % len(creds or [("", "")])]
        mine = []
        count = 0
        while time.monotonic() < stop:
            count += 1
            path = paths[count % len(paths)]
            started = time.perf_counter()
            if body:
                token = f"bench-{index}-{count}-{secrets.token_hex(8)}"
                data = f"{body}&token={token}&csrf_token={csrf}"
                answer = web.post(base + path, data=data, allow_redirects=False, headers={
                    "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
            else:
                answer = web.get(base + path, headers={"Cookie": cookie} if cookie else {})
            mine.append((time.perf_counter() - started) * 1000)
            if (answer.status_code != expect if expect is not None
                    else answer.status_code >= 400):
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    began = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1] if latencies else 0.0
    return Result(len(latencies) / elapsed, statistics.median(latencies) if latencies else 0.0,
                  p99, len(latencies), errors[0])


#: the Python generator by default, as the targets were set with; wrk drives the bare page
#: several times faster, so its ratios are much lower (run both with --generator)
GENERATOR = "python"


def configure(*, connections: int | None = None, generator: str | None = None) -> None:
    """Set the number of concurrent connections and the load generator for the run."""
    global CONNECTIONS, GENERATOR
    if connections is not None:
        CONNECTIONS = connections
    if generator is not None:
        GENERATOR = generator


def load(*args: Any, **kwargs: Any) -> Result:
    """Load `paths` for `duration` seconds with the configured generator (see run_python)."""
    return (run_wrk if GENERATOR == "wrk" else run_python)(*args, **kwargs)


# --- the portal under test -----------------------------------------------------------------------


def portal_env(workdir: Path, key_file: Path, database_url: str) -> dict[str, str]:
    return {"PORTAL_ENV": "testing", "PORTAL_INSTANCE_PATH": str(workdir / "instance"),
            "PORTAL_SECRET_KEY": SECRET, "PORTAL_KEY_FILE": str(key_file),
            "PORTAL_DATABASE_URL": database_url}


def make_portal(workdir: Path, key_file: Path, database_url: str) -> Any:
    os.environ["PORTAL_INSTANCE_PATH"] = str(workdir / "instance")
    from portal import create_app

    return create_app({"ENV": "testing", "SECRET_KEY": SECRET, "KEY_FILE": str(key_file),
                       "DATABASE_URL": database_url, "MAIL_URL": "",
                       "PASSWORD_HASHER": {"time_cost": 1, "memory_cost": 1024,
                                           "parallelism": 1}})


def fresh_schema(database_url: str) -> None:
    from sqlalchemy import text

    import portal.models  # noqa: F401
    import portal.notices.models  # noqa: F401
    import portal.records.models  # noqa: F401
    import portal.rights.models  # noqa: F401
    from portal.db import Base, make_engine

    if database_url.startswith("postgresql"):
        _ensure_postgres_database(database_url)
        engine = make_engine(database_url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
            Base.metadata.create_all(connection)
    else:
        database = database_url.removeprefix("sqlite:///")
        for suffix in ("", "-wal", "-shm", ".records-lock"):
            Path(database + suffix).unlink(missing_ok=True)
        engine = make_engine(database_url)
        Base.metadata.create_all(engine)
    engine.dispose()


def _ensure_postgres_database(database_url: str) -> None:
    from sqlalchemy import create_engine, text

    base, _sep, name = database_url.rpartition("/")
    admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                    {"n": name}).scalar()
        if not exists:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def seed(app: Any, patients: int = 8) -> tuple[Any, list[Any]]:
    """The demo protocol, an establishment, a prescriber and patients with an initiation."""
    from portal.access import services as access
    from portal.access.models import Category, Scope
    from portal.accounts.models import User
    from portal.audit.services import cli_actor
    from portal.db import new_session
    from portal.permissions import Role
    from portal.protocols.builder import validate_answers
    from portal.protocols.services import install_protocol
    from portal.records import clinic_time, registrations, submissions

    cli = cli_actor("bench")
    with new_session(app) as db:
        install_protocol(db, cli, ROOT / "forms" / "put-sp-demo.yaml")
        _publish_patient_note(db, cli)
        place = access.create_establishment(db, cli, "750712184", "Centre hospitalier Banc")
        user = User(login="bench.prescriber", login_normalised="bench.prescriber",
                    first_name="Banc", last_name="Essai", email="bench@example.org")
        db.add(user)
        db.flush()
        access.add_member(db, cli, user, place)
        admin_a = _admin(db, cli, "bench.admin1")
        admin_b = _admin(db, cli, "bench.admin2")
        now = _now()
        grant = access.request_grant(db, admin_a, access.GrantRequest(
            user, Role.PRESCRIBER, Scope.IDENTIFYING, Category.HEALTH, now,
            now + timedelta(days=300), (place,),
        ))
        access.approve_grant(db, admin_b, grant)
        db.commit()
        made = []
        for index in range(patients):
            patient = registrations.register_patient(db, user, registrations.Registration(
                surname_letters="B" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[index % 26],
                first_name_letters="ZY"[index % 2], sex="F", birth_year=1950 + index,
                birth_month=1 + index % 12, establishment_id=place.id,
                protocol_key="put_sp_xyz123"))
            ref = submissions.current_form(db, patient, "initiation")
            result = validate_answers(ref.protocol, "initiation", _initiation(),
                                      today=clinic_time.clinical_today(db))
            assert result.valid, result.errors
            submissions.submit(db, user, patient, ref, result.answers, submissions.new_token())
            made.append(patient)
        db.commit()
        return user, made


def _admin(db: Any, cli: Any, login: str) -> Any:
    from portal.access import services as access
    from portal.access.models import Category, Scope
    from portal.accounts.models import User
    from portal.permissions import Role

    admin = User(login=login, login_normalised=login, first_name="Admin", last_name=login,
                 email=f"{login}@example.org")
    db.add(admin)
    db.flush()
    now = _now()
    access.request_grant(db, cli, access.GrantRequest(
        admin, Role.ADMINISTRATOR, Scope.AGGREGATED, Category.OTHER, now, now + timedelta(days=300),
    ))
    return admin


def _now() -> Any:
    from portal import clock

    return clock.now()


def _publish_patient_note(db: Any, cli: Any) -> None:
    from portal.notices import services as notices
    from portal.notices.catalog import Audience

    draft = notices.start_draft(db, cli, Audience.PATIENT)
    values = dict(draft.slots)
    values.update({
        "controller_address": "Laboratoire Exemple SAS\n12 rue des Lilas, 69007 Lyon",
        "controller_in_eu": "yes", "dpo_contact": "DPO, dpo@example.org",
        "transfers_outside_eu": "none", "transfers": [],
        "security_contact": "securite@example.org",
    })
    notices.update_draft(db, cli, draft, {k: v for k, v in values.items() if k in draft.slots})
    notices.publish(db, cli, draft, material=True)


def _initiation() -> dict[str, Any]:
    from datetime import date

    start = date.today() - timedelta(days=40)
    return {"info_note_given": "yes", "info_note_recipient": "patient",
            "info_note_date": start.isoformat(), "diagnosis_date": "2019-06",
            "indication": "IND-1", "disease_severity": "severe", "any_prior_treatment": "no",
            "wocbp": "no", "start_date": start.isoformat(), "dose_value": "50",
            "dose_unit": "mg", "frequency": "QD", "route": "oral",
            "baseline_efficacy_score": 50, "baseline_biomarker_status": "not_done"}


def follow_up_fields() -> dict[str, str]:
    """What the browser posts for a follow-up visit (about 40 inputs, 2 repeated entries)."""
    from datetime import date

    visit = (date.today() - timedelta(days=2)).isoformat()
    return {
        "f_visit_timepoint": "M1", "f_visit_date": visit, "f_visit_mode": "in_person",
        "f_renewal_visit": "no", "f_hospitalised_since_last": "no", "f_weight_kg": "71.4",
        "f_height_cm": "172", "f_systolic_bp": "128", "f_diastolic_bp": "79",
        "f_heart_rate": "72", "f_temperature_c": "36.8", "f_ecog": "1",
        "f_on_treatment": "yes", "f_dose_change": "reduced", "f_dose_change_reason": "AE",
        "f_current_dose_value": "25", "f_current_dose_unit": "mg", "f_current_frequency": "QD",
        "f_adherence": "gt90", "f_efficacy_global": "improved", "f_efficacy_score": "45",
        "f_physician_assessment": "7", "f_patient_reported_change": "better", "f_flares": "1",
        "f_biomarker_status": "done", "f_biomarker": "41.5", "f_biomarker_date": visit,
        "f_labs_status": "done", "f_haemoglobin": "12.9", "f_neutrophils": "3.41",
        "f_platelets": "250", "f_alt_uln": "1.2", "f_creatinine": "80", "f_labs_date": visit,
        "f_new_ae_since_last": "yes", "f_serious_ae_since_last": "no",
        "f_pregnancy_since_last": "no", "f_medication_error": "no", "f_overdose": "no",
        "f_continuation_decision": "continue", "f_renewal_requested": "yes",
        "f_renewal_reason": "benefit", "f_any_concomitant": "yes",
        "s_concomitant-0-f_cm_atc": "B01AA03", "s_concomitant-0-f_cm_indication": "comorbidity",
        "s_concomitant-0-f_cm_start": "2020-03", "s_concomitant-0-f_cm_ongoing": "yes",
        "s_concomitant-1-f_cm_atc": "C10AA01", "s_concomitant-1-f_cm_indication": "comorbidity",
        "s_concomitant-1-f_cm_start": "2018-01", "s_concomitant-1-f_cm_ongoing": "no",
        "s_concomitant-1-f_cm_stop": "2024-05",
    }


def credentials(app: Any, base: str, user: Any, patients: list[Any],
                form_key: str = "follow_up") -> list[tuple[str, str]]:
    """One logged-in session per connection: its cookie and its CSRF token (read from the fill
    page of `form_key`, which must answer 200)."""
    import requests
    from flask import Flask
    from flask.sessions import SecureCookieSessionInterface

    from portal import clock
    from portal.accounts import sessions
    from portal.accounts.models import UserSession
    from portal.db import new_session

    signer = Flask("cookie")
    signer.secret_key = SECRET
    serializer = SecureCookieSessionInterface().get_signing_serializer(signer)
    name = app.config["SESSION_COOKIE_NAME"]
    creds = []
    with new_session(app) as db:
        for index in range(CONNECTIONS):
            raw = secrets.token_urlsafe(32)
            now = clock.now()
            db.add(UserSession(id_hash=sessions.hash_id(raw), user_id=user.id, created_at=now,
                               last_seen_at=now, mfa_at=now))
            db.commit()
            web = requests.Session()
            web.cookies.set(name, serializer.dumps({sessions.SESSION_KEY: raw}),
                            domain="127.0.0.1", path="/")
            page = web.get(f"{base}/patients/{patients[index % len(patients)].handle}"
                           f"/forms/{form_key}", timeout=30)
            assert page.status_code == 200, page.status_code
            csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
            creds.append((f"{name}={web.cookies.get(name)}", csrf))
    return creds


