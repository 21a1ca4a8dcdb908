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
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONNECTIONS = 16
WORKERS = 2
SECRET = "b" * 48
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_records"


def bare_app() -> Any:
    """The bare page the POST is compared with: Flask, one view, nothing else."""
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
def gunicorn(target: str, env: dict[str, str], ready_path: str) -> Iterator[str]:
    """Serve `target` with gunicorn (two sync workers); yield the base URL once it answers."""
    import requests

    port = free_port()
    log = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "--workers", str(WORKERS),
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
            creds: list[tuple[str, str]] | None = None, connections: int = 0) -> Result:
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
    if match:
        errors += int(match.group(1))
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                      output)
    if match:
        errors += sum(int(x) for x in match.groups())
    figures = json.loads(output.split("JSON", 1)[1].splitlines()[0])
    return Result(rps, figures["p50"], figures["p99"], count, errors)


def run_python(base: str, paths: list[str], duration: int, body: str = "",
               creds: list[tuple[str, str]] | None = None, connections: int = 0) -> Result:
    """The Python load generator: one thread per connection, each a requests.Session."""
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
            if answer.status_code >= 400:
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


def load(*args: Any, **kwargs: Any) -> Result:
    return (run_wrk if GENERATOR == "wrk" else run_python)(*args, **kwargs)


# --- the portal under test -----------------------------------------------------------------------


def _env(workdir: Path, key_file: Path, database_url: str) -> dict[str, str]:
    return {"PORTAL_ENV": "testing", "PORTAL_INSTANCE_PATH": str(workdir / "instance"),
            "PORTAL_SECRET_KEY": SECRET, "PORTAL_KEY_FILE": str(key_file),
            "PORTAL_DATABASE_URL": database_url}


def _portal(workdir: Path, key_file: Path, database_url: str) -> Any:
    os.environ["PORTAL_INSTANCE_PATH"] = str(workdir / "instance")
    from portal import create_app

    return create_app({"ENV": "testing", "SECRET_KEY": SECRET, "KEY_FILE": str(key_file),
                       "DATABASE_URL": database_url, "MAIL_URL": "",
                       "PASSWORD_HASHER": {"time_cost": 1, "memory_cost": 1024,
                                           "parallelism": 1}})


def _fresh_schema(database_url: str) -> None:
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


def _seed(app: Any, patients: int = 8) -> tuple[Any, list[Any]]:
    """The demo protocol, an establishment, a prescriber and patients with an initiation."""
    from portal.access import services as access
    from portal.access.models import Category, Scope
    from portal.accounts.models import User
    from portal.audit.services import cli_actor
    from portal.db import new_session
    from portal.permissions import Role
    from portal.protocols.builder import validate_answers
    from portal.protocols.services import install_protocol
    from portal.records import services, submissions

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
        grant = access.request_grant(db, admin_a, user, Role.PRESCRIBER, Scope.IDENTIFYING,
                                     Category.HEALTH, now, now + timedelta(days=300), (place,))
        access.approve_grant(db, admin_b, grant)
        db.commit()
        made = []
        for index in range(patients):
            patient = services.register_patient(db, user, services.Registration(
                surname_letters="B" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[index % 26],
                first_name_letters="ZY"[index % 2], sex="F", birth_year=1950 + index,
                birth_month=1 + index % 12, establishment_id=place.id,
                protocol_key="put_sp_xyz123"))
            ref = submissions.current_form(db, patient, "initiation")
            result = validate_answers(ref.protocol, "initiation", _initiation(),
                                      today=services.clinical_today(db))
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
    access.request_grant(db, cli, admin, Role.ADMINISTRATOR, Scope.AGGREGATED, Category.OTHER,
                         now, now + timedelta(days=300))
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


def _credentials(app: Any, base: str, user: Any, patients: list[Any]) -> list[tuple[str, str]]:
    """One logged-in session per connection: its cookie and its CSRF token."""
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
                           "/forms/follow_up", timeout=30)
            assert page.status_code == 200, page.status_code
            csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
            creds.append((f"{name}={web.cookies.get(name)}", csrf))
    return creds


def bench_post(label: str, database_url: str, workdir: Path, key_file: Path, duration: int,
               bare: Result) -> Result:
    """Seed a database, serve the portal, load the follow-up POST; print and return."""
    from sqlalchemy import func, select

    from portal.db import new_session
    from portal.records.models import Submission

    _fresh_schema(database_url)
    app = _portal(workdir, key_file, database_url)
    user, patients = _seed(app)
    body = urlencode(follow_up_fields())
    paths = [f"/patients/{p.handle}/forms/follow_up" for p in patients]
    with gunicorn("portal:create_app()", _env(workdir, key_file, database_url),
                  "/healthz") as base:
        creds = _credentials(app, base, user, patients)
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
    print(f"       stored {stored} follow-ups for {result.count + alone.count} POSTs sent "
          f"(each stored once)")
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
    from portal.records import services, submissions
    from portal.records.crypto_store import revision_aad, ring_of, seal_value
    from portal.records.models import Patient, Submission, SubmissionRevision

    with new_session(app) as db:
        version = current_version(db, "put_sp_xyz123")
        patients = list(db.scalars(select(Patient)))
        ref = submissions.form_ref(version, "follow_up")
        posted = {k.removeprefix("f_"): v for k, v in follow_up_fields().items()
                  if k.startswith("f_")}
        posted["concomitant"] = [{"cm_atc": "B01AA03", "cm_indication": "comorbidity",
                                  "cm_start": "2020-03", "cm_ongoing": "yes"}]
        result = validate_answers(ref.protocol, "follow_up", posted,
                                  today=services.clinical_today(db))
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
                handle = services.new_handle()
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


def _floor(app: Any) -> tuple[float, float, int]:
    """The same work in memory, on rows already loaded, in a tight loop.

    Returns (seconds to unwrap + decrypt + parse, seconds to do that and format the CSV rows,
    rows). The export's own primitives are used, so the comparison isolates what streaming from
    the database costs.
    """
    import csv
    import io
    import json as json_module

    from sqlalchemy import select

    from portal.db import new_session
    from portal.protocols.models import ProtocolVersion
    from portal.records.crypto_store import BulkOpener, revision_aad, ring_of
    from portal.records.export import CsvLayout, submitted_text
    from portal.records.models import Patient, Submission, SubmissionRevision
    from portal.records.versions import protocol_of

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
                                    "csv", "en")
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
    _fresh_schema(database_url)
    app = _portal(workdir, key_file, database_url)
    _seed(app, patients=50)
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
    global CONNECTIONS, GENERATOR
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per load run")
    parser.add_argument("--export-rows", type=int, default=100_000)
    parser.add_argument("--postgres", default=os.environ.get("PORTAL_BENCH_DATABASE_URL",
                                                             DEFAULT_POSTGRES))
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--skip-post", action="store_true")
    parser.add_argument("--skip-export", action="store_true")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--generator", choices=("wrk", "python"), default=GENERATOR)
    args = parser.parse_args()
    CONNECTIONS = args.connections
    GENERATOR = args.generator

    from portal.keys import new_keyring, write_key_file

    workdir = Path(tempfile.mkdtemp(prefix="records-bench-"))
    key_file = workdir / "portal.keys"
    write_key_file(key_file, new_keyring())
    generator = "wrk" if GENERATOR == "wrk" else "Python threads and requests.Session"
    print(f"records bench: gunicorn {WORKERS} workers, {CONNECTIONS} connections, "
          f"{args.duration} s per run, load generator {generator}")
    targets = [("SQLite", f"sqlite:///{workdir / 'bench.db'}", 0.16)]
    if not args.no_postgres:
        targets.append(("PostgreSQL", args.postgres, 0.12))
    if not args.skip_post:
        with gunicorn("records_bench:bare_app()", {}, "/") as base:
            bare = load(base, ["/"], args.duration)
        print(f"  GET  bare page  {bare}")
        for label, url, target in targets:
            result, alone = bench_post(label, url, workdir, key_file, args.duration, bare)
            ratio = result.rps / bare.rps
            print(f"       target ratio >= {target}: "
                  f"{'met' if ratio >= target else 'NOT met'} ({ratio:.3f}); "
                  f"p99 < 50 ms: one client {'met' if alone.p99 < 50 else 'NOT met'} "
                  f"({alone.p99:.1f} ms), {CONNECTIONS} clients "
                  f"{'met' if result.p99 < 50 else 'NOT met'} ({result.p99:.1f} ms: queueing, "
                  f"{CONNECTIONS} clients / {result.rps:.0f} req/s = "
                  f"{1000 * CONNECTIONS / result.rps:.0f} ms on average)")
    if not args.skip_export:
        for label, url, _target in targets:
            bench_export(label, url, workdir, key_file, args.export_rows)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
