"""20 clients submitting at once through gunicorn on PostgreSQL: each stored once, readable,
logged."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.audit.verify import verify
from portal.records import submissions
from portal.records.models import Patient, Submission
from tests.conftest import POSTGRES_URL
from tests.helpers_auth import session_cookie
from tests.records import helpers
from tests.servers import gunicorn

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not POSTGRES_URL, reason="needs PostgreSQL (PORTAL_TEST_DATABASE_URL)"),
]

CLIENTS = 20
SECRET = "c" * 48
TOKEN = re.compile(r'name="token"[^>]*value="([^"]+)"')
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def test_twenty_clients_submit_at_once(app, db, tmp_path: Path, key_file: Path, prescriber,
                                       site_a):
    patients = [helpers.register(db, prescriber, site_a, surname_letters=f"C{chr(65 + i)}")
                for i in range(CLIENTS)]
    cookies = [session_cookie(db, prescriber, SECRET) for _ in range(CLIENTS)]
    env = {
        "PORTAL_ENV": "testing", "PORTAL_INSTANCE_PATH": str(tmp_path / "instance"),
        "PORTAL_SECRET_KEY": SECRET, "PORTAL_KEY_FILE": str(key_file),
        "PORTAL_DATABASE_URL": POSTGRES_URL,
    }
    answers = helpers.form_data(helpers.initiation_answers(), "initiation", db)
    # Read before the rollback expires them: the client threads must not share this session.
    handles = [patient.handle for patient in patients]
    db.rollback()  # no transaction of ours open while the workers start
    results: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    with gunicorn(env, workers=2) as base:
        barrier = threading.Barrier(CLIENTS)

        def client(index: int) -> None:
            try:
                web = requests.Session()
                web.cookies.set(*cookies[index], domain="127.0.0.1", path="/")
                path = f"{base}/patients/{handles[index]}/forms/initiation"
                page = web.get(path, timeout=60)
                assert page.status_code == 200, page.status_code
                data = dict(answers, token=TOKEN.search(page.text).group(1), action="submit",
                            csrf_token=CSRF.search(page.text).group(1))
                barrier.wait(timeout=60)
                # Each client sends its form twice at once (a double click under load).
                statuses: list[int] = []
                twice = [threading.Thread(target=lambda: statuses.append(web.post(
                    path, data=data, allow_redirects=False, timeout=60).status_code))
                    for _ in range(2)]
                for thread in twice:
                    thread.start()
                for thread in twice:
                    thread.join()
                results.append((index, *statuses))
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                errors.append(exc)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors, errors
    assert len(results) == CLIENTS
    # Both sends of every client end on the saved form: never a conflict page nor an error.
    assert [r for r in results if (r[1], r[2]) != (303, 303)] == []
    db.expire_all()
    stored = db.scalars(select(Submission).where(Submission.form_key == "initiation")).all()
    assert len(stored) == CLIENTS
    assert {s.patient_id for s in stored} == {p.id for p in patients}
    for submission in stored:
        answers_back = submissions.read_answers(db, prescriber, submission)
        assert answers_back["dose_value"] == helpers.DISTINCTIVE["dose"]
    created = db.scalars(select(AuditEvent).where(
        AuditEvent.action == "records:submission:create")).all()
    assert sorted(e.target_ref for e in created) == sorted(s.audit_ref for s in stored)
    assert verify(db).ok
    assert db.scalar(select(Patient).where(Patient.id == patients[0].id)) is not None
