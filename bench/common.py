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
import shutil
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
    """Requests per second and latency percentiles of one load run, the answers' statuses and
    how busy the load generator itself was."""

    def __init__(self, requests_per_s: float, p50: float, p99: float, count: int,
                 errors: int, statuses: dict[int, int] | None = None,
                 generator_cpu: float = 0.0, generator_capacity: float = 1.0) -> None:
        self.rps, self.p50, self.p99, self.count, self.errors = (
            requests_per_s, p50, p99, count, errors)
        self.statuses = statuses or {}
        #: CPU seconds per second the generator used, and what it could use at most (wrk: its
        #: threads; the Python generator: one core, because of the GIL)
        self.generator_cpu, self.generator_capacity = generator_cpu, generator_capacity

    @property
    def acknowledged(self) -> int:
        """Answers with a 2xx or 3xx status."""
        return sum(n for status, n in self.statuses.items() if 200 <= status < 400)

    @property
    def saturated(self) -> bool:
        """The generator used 90 % or more of what it can: the figure may be its own limit."""
        return self.generator_cpu >= 0.9 * self.generator_capacity

    def generator_note(self) -> str:
        verdict = ("SATURATED: the figure may be the generator's" if self.saturated
                   else "not saturated")
        return (f"generator CPU {self.generator_cpu:.2f} of {self.generator_capacity:.0f} "
                f"core(s): {verdict}")

    def __str__(self) -> str:
        return (f"{self.rps:8.1f} req/s   p50 {self.p50:6.1f} ms   p99 {self.p99:6.1f} ms   "
                f"({self.count} requests, {self.errors} errors; {self.generator_note()})")


#: wrk's script: one cookie and CSRF token per request in turn, statuses counted per thread
WRK_SCRIPT = r"""
local creds = %(creds)s
local paths = %(paths)s
local body = %(body)s
local counter = 0
local thread_number = 0
local threads = {}
statuses = {}
function setup(thread)
  thread_number = thread_number + 1
  thread:set("id", thread_number)
  table.insert(threads, thread)
end
function init(args)
  math.randomseed(id * 7919 + os.time())
end
function request()
  counter = counter + 1
  local c = creds[(counter %% #creds) + 1]
  if body == "" then
    if c[1] == "" then
      return wrk.format("GET", paths[(counter %% #paths) + 1])
    end
    return wrk.format("GET", paths[(counter %% #paths) + 1], {["Cookie"] = c[1]})
  end
  local token = string.format("bench-%%d-%%d-%%d", id, counter, math.random(1, 1000000000))
  return wrk.format("POST", paths[(counter %% #paths) + 1], {
    ["Cookie"] = c[1], ["Content-Type"] = "application/x-www-form-urlencoded"
  }, body .. "&token=" .. token .. "&csrf_token=" .. c[2])
end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
done = function(summary, latency, requests)
  local all = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      all[status] = (all[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(all) do
    table.insert(parts, string.format("\"%%d\": %%d", status, n))
  end
  io.write(string.format("JSON{\"p50\": %%f, \"p99\": %%f, \"statuses\": {%%s}}\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, table.concat(parts, ", ")))
end
"""

#: The open-loop script (wrk2's way, with wrk): one connection per wrk thread, each sending on
#: its own fixed schedule (`interval` apart, the connections staggered), and the latency of an
#: answer counted from the time its request was *scheduled*, not sent. When an answer is late,
#: the requests due meanwhile go out at once and carry the wait in their latency, so a slow
#: answer cannot hide the ones queued behind it (no coordinated omission). wrk's own delay()
#: timer has a 1 ms resolution; the clock is CLOCK_MONOTONIC read through LuaJIT's ffi.
OPEN_LOOP_SCRIPT = r"""
local ffi = require("ffi")
ffi.cdef[[ typedef struct { long tv_sec; long tv_nsec; } portal_ts;
           int clock_gettime(int, portal_ts*); ]]
local ts = ffi.new("portal_ts")
local function now_ms()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local creds = %(creds)s
local paths = %(paths)s
local body = %(body)s
local interval = %(interval)f
local connections = %(connections)d
local thread_number = 0
local threads = {}
latencies = {}
statuses = {}
local counter = 0
local next_at = nil
local sent_at = {}
function setup(thread)
  thread_number = thread_number + 1
  thread:set("id", thread_number)
  table.insert(threads, thread)
end
function init(args)
  math.randomseed(id * 7919 + os.time())
end
function delay()
  if next_at == nil then
    next_at = now_ms() + 50 + (id - 1) * interval / connections
  end
  local wait = next_at - now_ms()
  if wait < 0 then return 0 end
  return math.floor(wait)
end
function request()
  counter = counter + 1
  if next_at == nil then next_at = now_ms() end  -- wrk sends the first request undelayed
  table.insert(sent_at, next_at)
  next_at = next_at + interval
  local c = creds[((counter + id) %% #creds) + 1]
  local path = paths[((counter + id) %% #paths) + 1]
  if body == "" then
    if c[1] == "" then return wrk.format("GET", path) end
    return wrk.format("GET", path, {["Cookie"] = c[1]})
  end
  local token = string.format("open-%%d-%%d-%%d", id, counter, math.random(1, 1000000000))
  return wrk.format("POST", path, {
    ["Cookie"] = c[1], ["Content-Type"] = "application/x-www-form-urlencoded"
  }, body .. "&token=" .. token .. "&csrf_token=" .. c[2])
end
function response(status, headers, body)
  local scheduled = table.remove(sent_at, 1)
  table.insert(latencies, now_ms() - scheduled)
  statuses[status] = (statuses[status] or 0) + 1
end
done = function(summary, latency, requests)
  local all = {}
  local counts = {}
  for _, thread in ipairs(threads) do
    for _, value in ipairs(thread:get("latencies")) do table.insert(all, value) end
    for status, n in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + n
    end
  end
  table.sort(all)
  local function pct(p)
    if #all == 0 then return 0 end
    return all[math.max(1, math.ceil(#all * p / 100))]
  end
  local parts = {}
  for status, n in pairs(counts) do
    table.insert(parts, string.format("\"%%d\": %%d", status, n))
  end
  io.write(string.format(
    "JSON{\"p50\": %%f, \"p99\": %%f, \"max\": %%f, \"count\": %%d, \"statuses\": {%%s}}\n",
    pct(50), pct(99), pct(100), #all, table.concat(parts, ", ")))
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


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _wrk(script: str, arguments: list[str], base: str) -> tuple[str, float]:
    """Run wrk with `script`; return its output and the CPU seconds it used."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt install wrk), or pass --generator python")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        before = _children_cpu()
        done = subprocess.run(["wrk", *arguments, "-s", handle.name, base],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done.stdout, _children_cpu() - before
    finally:
        os.unlink(handle.name)


def _statuses(figures: dict[str, Any]) -> dict[int, int]:
    return {int(status): int(n) for status, n in figures.get("statuses", {}).items()}


def _errors(statuses: dict[int, int], expect: int | None) -> int:
    """An answer is an error if its status is 400 or more, or, with `expect`, any other."""
    return sum(n for status, n in statuses.items()
               if (status != expect if expect is not None else status >= 400))


def run_wrk(base: str, paths: list[str], duration: int, body: str = "",
            creds: list[tuple[str, str]] | None = None, connections: int = 0,
            expect: int | None = None) -> Result:
    """Drive the load with wrk (closed loop: each connection sends when it has its answer)."""
    connections = connections or CONNECTIONS
    threads = min(2, connections)
    script = WRK_SCRIPT % {"creds": _lua_list(creds or [("", "")]), "paths": _lua_list(paths),
                           "body": _lua_list([body])[1:-1]}
    output, cpu = _wrk(script, ["-t", str(threads), "-c", str(connections), "-d",
                                f"{duration}s", "--timeout", "10s"], base)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    count = int(re.search(r"(\d+) requests in", output).group(1))
    figures = json.loads(output.split("JSON", 1)[1].splitlines()[0])
    statuses = _statuses(figures)
    errors = _errors(statuses, expect)
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                      output)
    if match:
        errors += sum(int(x) for x in match.groups())
    return Result(rps, figures["p50"], figures["p99"], count, errors, statuses,
                  cpu / duration, threads)


def open_loop(base: str, paths: list[str], rate: float, duration: int, body: str = "",
              creds: list[tuple[str, str]] | None = None, connections: int = 0,
              expect: int | None = None) -> Result:
    """Send `rate` requests/s on a fixed schedule (wrk and OPEN_LOOP_SCRIPT); latency counted
    from each request's scheduled time. Needs wrk."""
    connections = connections or CONNECTIONS
    script = OPEN_LOOP_SCRIPT % {
        "creds": _lua_list(creds or [("", "")]), "paths": _lua_list(paths),
        "body": _lua_list([body])[1:-1], "interval": 1000.0 * connections / rate,
        "connections": connections}
    output, cpu = _wrk(script, ["-t", str(connections), "-c", str(connections), "-d",
                                f"{duration}s", "--timeout", "10s"], base)
    figures = json.loads(output.split("JSON", 1)[1].splitlines()[0])
    statuses = _statuses(figures)
    return Result(figures["count"] / duration, figures["p50"], figures["p99"],
                  figures["count"], _errors(statuses, expect), statuses, cpu / duration,
                  min(connections, os.cpu_count() or 1))


def run_python(base: str, paths: list[str], duration: int, body: str = "",
               creds: list[tuple[str, str]] | None = None, connections: int = 0,
               expect: int | None = None) -> Result:
    """The Python load generator: one thread per connection, each a requests.Session.

    An answer is an error if its status is 400 or more, or, with `expect`, any other status.
    """
    connections = connections or CONNECTIONS
    import requests

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    stop = time.monotonic() + duration

    def worker(index: int) -> None:
        web = requests.Session()
        cookie, csrf = (creds or [("", "")])[index % len(creds or [("", "")])]
        mine = []
        seen: dict[int, int] = {}
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
            seen[answer.status_code] = seen.get(answer.status_code, 0) + 1
        with lock:
            latencies.extend(mine)
            for status, n in seen.items():
                statuses[status] = statuses.get(status, 0) + n

    began = time.monotonic()
    cpu = time.process_time()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    cpu = time.process_time() - cpu
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1] if latencies else 0.0
    return Result(len(latencies) / elapsed, statistics.median(latencies) if latencies else 0.0,
                  p99, len(latencies), _errors(statuses, expect), statuses, cpu / elapsed, 1.0)


#: wrk by default: the Python generator shares the CPUs with the server and caps the bare page
#: (its ratios are squeezed toward 1); every result says whether its generator was saturated
GENERATOR = "wrk"


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


def generator_name() -> str:
    return ("wrk (2 threads, closed loop)" if GENERATOR == "wrk"
            else "Python threads and requests.Session")


def machine() -> str:
    """One line naming the machine, for the figures."""
    import platform

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return (f"{platform.node()}, {os.cpu_count()} CPUs ({model or platform.machine()}), "
            f"Python {platform.python_version()}, load average {load1:.1f} at start")


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


