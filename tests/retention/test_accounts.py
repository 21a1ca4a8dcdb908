"""RET-05: unused accounts without cases are disabled after 2 years, erased a year later."""

from __future__ import annotations

from datetime import timedelta

from portal import clock
from portal.accounts.models import User
from portal.permissions import Role
from portal.retention import jobs
from portal.retention.accounts import is_erased
from tests.helpers_auth import make_user
from tests.records import helpers as records
from tests.retention.helpers import CLI


def _run_after(db, days: int) -> None:  # noqa: ANN001
    with clock.frozen(clock.now() + timedelta(days=days)):
        jobs.run(db, CLI)


def test_an_account_without_cases_is_disabled_then_erased(db, prescriber, site_a,
                                                           archive) -> None:
    idle = records.professional(db, "i.dle", site_a)
    lab = make_user(db, "l.abo", role=Role.PHARMACOVIGILANCE)
    records.register(db, prescriber, site_a)  # the prescriber is linked to a case
    _run_after(db, 365 * 2 - 2)
    db.expire_all()
    assert db.get(User, idle.id).disabled_at is None
    _run_after(db, 365 * 2 + 1)
    db.expire_all()
    assert db.get(User, idle.id).disabled_at is not None
    assert not is_erased(db.get(User, idle.id))
    _run_after(db, 365 * 3 + 3)
    db.expire_all()
    erased = db.get(User, idle.id)
    assert is_erased(erased)
    assert "dle" not in (erased.login + erased.email + erased.first_name + erased.last_name).lower()
    assert erased.password_hash is None
    # RET-05 is about professionals' accounts: the laboratory's follow the access rules only.
    assert not is_erased(db.get(User, lab.id))
    # The prescriber who registered a case follows the case: kept, still enabled.
    kept = db.get(User, prescriber.id)
    assert not is_erased(kept)
