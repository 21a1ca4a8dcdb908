"""Writers in parallel on PostgreSQL: the chain stays gap-free, ordered and verifiable."""

from __future__ import annotations

import threading

from flask import Flask
from sqlalchemy.orm import Session

from portal.audit.services import Actor, record
from portal.audit.verify import verify
from portal.db import new_session
from tests.audit.conftest import requires_postgres
from tests.audit.helpers import entries

THREADS = 8
PER_THREAD = 25


@requires_postgres
def test_eight_threads_recording_leave_a_gap_free_verifying_chain(app: Flask, db: Session) -> None:
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        actor = Actor("system", f"job{number}")
        try:
            barrier.wait()
            for n in range(PER_THREAD):
                with new_session(app) as session:
                    record(session, actor, "records:patient:read", ("patient", f"T{number}-{n}"))
                    if n % 5 == 4:
                        session.rollback()  # an abandoned change gives its number back
                    else:
                        session.commit()
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []

    kept = THREADS * PER_THREAD * 4 // 5
    rows = entries(db)
    assert [e.seq for e in rows] == list(range(1, kept + 1))
    assert len({e.target_ref for e in rows}) == kept
    assert not any(e.target_ref.endswith(("-4", "-9", "-14", "-19", "-24")) for e in rows)
    result = verify(db)
    assert result.ok, result.problem
    assert result.count == kept
