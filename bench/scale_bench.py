"""Scale bench: whole page views at 1,000 and at 100,000 patients (issue 27).

Not a test: it prints figures. For each database and size it seeds a database of its own: the
bench prescriber and two patients through the services (one of them with 30 follow-ups), then
patients in bulk, sealed exactly as the portal seals them: identity, an initiation form, and
the case's schedule state (next visit, window, sealed inputs); one case in four is
discontinued. Treatment starts are spread over the last two years, so some cases have a visit
due and others not yet. Each page is requested through the Flask test client as the logged-in
prescriber (routing, permission, query, decryption, audit entry, template), the median of
`REPEAT` requests, the sizes measured in alternating rounds so that the machine's changes of
speed fall on both sides of each ratio.

Pages: `/my-patients`; `/patients` page 1 and a deep page (after the middle patient, a keyset
position); a patient page of a bulk case (one form) and of the case with 30 follow-ups. The
target (issue 27): each within 1.5x between the two sizes, and under 100 ms at 100,000.

    .venv/bin/python bench/scale_bench.py [--no-postgres] [--postgres URL] [--sizes 1000,100000]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SECRET, fresh_schema, make_portal, seed  # noqa: E402

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_scale"
REPEAT = 9
ROUNDS = 3
TARGET_RATIO = 1.5
TARGET_MS = 100.0
HISTORY = 30


def _initiation(start: date) -> dict[str, Any]:
    return {"info_note_given": "yes", "info_note_recipient": "patient",
            "info_note_date": start.isoformat(), "diagnosis_date": "2019-06",
            "indication": "IND-1", "disease_severity": "severe", "any_prior_treatment": "no",
            "wocbp": "no", "start_date": start.isoformat(), "dose_value": "50",
            "dose_unit": "mg", "frequency": "QD", "route": "oral",
            "baseline_efficacy_score": 50, "baseline_biomarker_status": "not_done"}


def _history(app: Any, user: Any, patient: Any) -> None:
    """Give one seeded case a long history: follow-ups through the services."""
    from common import follow_up_fields

    from portal.db import new_session
    from portal.protocols.builder import validate_answers
    from portal.records import clinic_time, submissions

    fields = {k.removeprefix("f_"): v for k, v in follow_up_fields().items()
              if k.startswith("f_")}
    with app.test_request_context(), new_session(app) as db:
        from portal.accounts.models import User
        from portal.records.models import Patient

        actor = db.get(User, user.id)
        case = db.get(Patient, patient.id)
        ref = submissions.current_form(db, case, "follow_up")
        for index in range(HISTORY):
            answers = dict(fields, visit_timepoint="UNSCHED" if index else "M1",
                           any_concomitant="no")
            result = validate_answers(ref.protocol, "follow_up", answers,
                                      today=clinic_time.clinical_today(db))
            assert result.valid, result.errors
            submissions.submit(db, actor, case, ref, result.answers, submissions.new_token())
            db.commit()


def _grow(app: Any, total: int) -> None:
    """Add sealed patients, each with an initiation and a schedule state, up to `total`."""
    from sqlalchemy import func, insert, select, text

    from portal import clock
    from portal.db import get_engine, new_session
    from portal.protocols.services import current_version
    from portal.records import identities, registrations
    from portal.records.models import Patient, ScheduleState, Submission, SubmissionRevision
    from portal.records.schedule import next_visit
    from portal.records.schedule_state import fact_of
    from portal.records.versions import protocol_of
    from portal.sealing import (
        case_reference,
        patient_aad,
        revision_aad,
        ring_of,
        schedule_state_aad,
        seal_value,
    )

    with app.app_context(), new_session(app) as db:
        have = db.scalar(select(func.count()).select_from(Patient)) or 0
        first = db.scalar(select(Patient).order_by(Patient.id))
        version = current_version(db, "put_sp_xyz123")
        loaded = protocol_of(version)
        form = loaded.definition.form("initiation")
        stop_form = loaded.definition.form("discontinuation")
        ring = ring_of(db)
        now = clock.now()
        today = now.date()
        next_id = (db.scalar(select(func.max(Patient.id))) or 0) + 1
        next_sub = (db.scalar(select(func.max(Submission.id))) or 0) + 1
        nexts: dict[tuple[int, bool], Any] = {}
        batch = 2000
        for start in range(have, total, batch):
            patients, subs, revs, states = [], [], [], []
            for index in range(start, min(total, start + batch)):
                handle = registrations.new_handle()
                identity = identities.Identity(letters="BNC-ZY", sex="F", birth_year=1950,
                                               birth_month=1 + index % 12).to_json()
                sealed = seal_value(ring, patient_aad(handle, version.protocol_key), identity)
                patient_id = next_id + index - have
                case_number = registrations.new_case_number()
                patients.append({
                    "id": patient_id, "handle": handle, "case_number": case_number,
                    "reference": case_reference(ring, case_number),
                    "protocol_key": version.protocol_key,
                    "establishment_id": first.establishment_id, "identity": sealed.payload,
                    "wrapped_key": sealed.wrapped_key, "kek_version": sealed.kek_version,
                    "duplicate_index": secrets.token_hex(32),
                    "created_at": now - timedelta(minutes=index),
                    "created_by_id": first.created_by_id})
                days = 20 + index % 700
                begun = today - timedelta(days=days)
                sub_id, next_sub = next_sub, next_sub + 1
                sub_handle = registrations.new_handle()
                subs.append({
                    "id": sub_id, "handle": sub_handle, "patient_id": patient_id,
                    "protocol_version_id": version.id, "form_key": "initiation",
                    "singleton_key": "initiation", "status": "submitted", "version": 1,
                    "revision_number": 1, "created_at": now, "updated_at": now,
                    "submitted_at": now})
                answers = _initiation(begun)
                payload = seal_value(ring, revision_aad(
                    sub_handle, 1, "original", handle, version.protocol_key,
                    version.content_hash, "initiation"), answers)
                revs.append({"submission_id": sub_id, "number": 1, "kind": "original",
                             "token": secrets.token_urlsafe(24), "author_label": "bench",
                             "created_at": now, "payload": payload.payload,
                             "wrapped_key": payload.wrapped_key,
                             "kek_version": payload.kek_version})
                facts = [fact_of(sub_id, sub_handle, form, today, answers)]
                stopped = index % 4 == 3
                if stopped:
                    stop_id, next_sub = next_sub, next_sub + 1
                    stop_handle = registrations.new_handle()
                    stop = {"stop_date": today.isoformat(), "last_dose_date": today.isoformat(),
                            "stop_reason": "patient_decision", "last_efficacy_global": "stable"}
                    subs.append({
                        "id": stop_id, "handle": stop_handle, "patient_id": patient_id,
                        "protocol_version_id": version.id, "form_key": "discontinuation",
                        "singleton_key": "discontinuation", "status": "submitted",
                        "version": 1, "revision_number": 1, "created_at": now,
                        "updated_at": now, "submitted_at": now})
                    sealed_stop = seal_value(ring, revision_aad(
                        stop_handle, 1, "original", handle, version.protocol_key,
                        version.content_hash, "discontinuation"), stop)
                    revs.append({"submission_id": stop_id, "number": 1, "kind": "original",
                                 "token": secrets.token_urlsafe(24), "author_label": "bench",
                                 "created_at": now, "payload": sealed_stop.payload,
                                 "wrapped_key": sealed_stop.wrapped_key,
                                 "kek_version": sealed_stop.kek_version})
                    facts.append(fact_of(stop_id, stop_handle, stop_form, today, stop))
                key = (days, stopped)
                if key not in nexts:
                    nexts[key] = next_visit(loaded.definition, [f.filled for f in facts])
                nxt = nexts[key]
                box = seal_value(ring, schedule_state_aad(handle, version.protocol_key),
                                 {"v": 1, "forms": [f.to_json() for f in facts]})
                states.append({
                    "patient_id": patient_id, "protocol_version_id": version.id,
                    "next_visit": nxt.code, "next_form_key": nxt.form_key,
                    "window_start": nxt.window_start, "window_end": nxt.window_end,
                    "ended": nxt.ended, "failed": False, "computed_at": now,
                    "facts": box.payload, "wrapped_key": box.wrapped_key,
                    "kek_version": box.kek_version})
            db.execute(insert(Patient), patients)
            db.execute(insert(Submission), subs)
            db.execute(insert(SubmissionRevision), revs)
            db.execute(insert(ScheduleState), states)
            db.commit()
    with get_engine(app).connect().execution_options(isolation_level="AUTOCOMMIT") as raw:
        raw.execute(text("ANALYZE"))


def _client(app: Any, user: Any) -> Any:
    """A test client logged in as `user` (a session row and its signed cookie)."""
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
    client = app.test_client()
    client.set_cookie(app.config["SESSION_COOKIE_NAME"],
                      serializer.dumps({sessions.SESSION_KEY: raw}))
    return client


def _pages(app: Any, long_case: Any) -> dict[str, str]:
    from sqlalchemy import func, select

    from portal.db import new_session
    from portal.records.models import Patient

    with new_session(app) as db:
        total = db.scalar(select(func.count()).select_from(Patient)) or 0
        middle = db.scalar(select(Patient).order_by(Patient.created_at.desc(), Patient.id.desc())
                           .offset(total // 2).limit(1))
        bulk = db.scalar(select(Patient).order_by(Patient.id.desc()).limit(1))
        return {
            "/my-patients": "/my-patients",
            "/patients page 1": "/patients",
            "/patients deep page (half-way)": f"/patients?after={middle.handle}",
            "patient page (1 form)": f"/patients/{bulk.handle}",
            f"patient page ({HISTORY} follow-ups)": f"/patients/{long_case.handle}",
        }


def _measure(client: Any, pages: dict[str, str]) -> dict[str, float]:
    figures = {}
    for name, path in pages.items():
        times = []
        for _ in range(REPEAT):
            began = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, (path, response.status_code)
        figures[name] = statistics.median(times)
    return figures


def bench(label: str, database_url: str, workdir: Path, key_file: Path,
          sizes: list[int]) -> None:
    from portal.db import get_engine

    runs = []
    for size in sizes:
        url = (f"{database_url}_{size}" if database_url.startswith("postgresql")
               else f"sqlite:///{workdir / f'scale-{size}.db'}")
        fresh_schema(url)
        app = make_portal(workdir, key_file, url)
        user, made = seed(app, patients=2)
        _history(app, user, made[0])
        began = time.perf_counter()
        _grow(app, size)
        print(f"  {label}: {size:,} patients seeded in {time.perf_counter() - began:.1f} s",
              flush=True)
        client = _client(app, user)
        pages = _pages(app, made[0])
        _measure(client, pages)  # warm: templates compiled, caches filled
        runs.append((size, app, client, pages))
    rounds: dict[int, list[dict[str, float]]] = {size: [] for size, *_rest in runs}
    for _ in range(ROUNDS):
        for size, _app, client, pages in runs:
            rounds[size].append(_measure(client, pages))
    small, large = sizes[0], sizes[-1]
    medians = {size: {name: statistics.median(r[name] for r in found) for name in found[0]}
               for size, found in rounds.items()}
    print(f"\n  {label}: median ms per page view ({ROUNDS} alternating rounds of {REPEAT} "
          f"requests, Flask test client), {small:,} → {large:,} patients")
    print(f"    {'page':<34} {small:>9,} {large:>9,}   ratio   ≤{TARGET_RATIO}x  "
          f"<{TARGET_MS:.0f} ms")
    for name, before in medians[small].items():
        after = medians[large][name]
        ratio = after / before
        print(f"    {name:<34} {before:9.1f} {after:9.1f}   x{ratio:4.2f}  "
              f"{'met' if ratio <= TARGET_RATIO else 'NOT met':>7}  "
              f"{'met' if after < TARGET_MS else 'NOT met':>7}")
    for _size, app, _unused, _paths in runs:
        get_engine(app).dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("PORTAL_BENCH_DATABASE_URL",
                                                             DEFAULT_POSTGRES))
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--sizes", default="1000,100000")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    from portal.keys import new_keyring, write_key_file

    workdir = Path(tempfile.mkdtemp(prefix="scale-bench-"))
    key_file = workdir / "portal.keys"
    write_key_file(key_file, new_keyring())
    print(f"scale bench: sizes {sizes}")
    targets = [("SQLite", f"sqlite:///{workdir / 'bench.db'}")]
    if not args.no_postgres:
        targets.append(("PostgreSQL", args.postgres))
    for label, url in targets:
        bench(label, url, workdir, key_file, sizes)


if __name__ == "__main__":
    main()
