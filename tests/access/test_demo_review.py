"""The demo shows the annual review with one grant due for it."""

from __future__ import annotations

from portal import clock
from portal.access import services
from portal.access.demo import DUE_FOR_REVIEW_ROLE, seed_demo
from portal.accounts import demo as accounts_demo
from portal.accounts.services import user_by_login


def test_the_demo_has_one_running_grant_due_for_its_review(app, db) -> None:
    app.config["ENV"] = "development"
    accounts_demo.seed_demo(app, db)
    lines = seed_demo(app, db)
    db.commit()
    assert sum("due for its annual review" in line for line in lines) == 1
    due = [g for group in services.grants_due_for_review(db) for g in group.grants]
    (person,) = [p for p in accounts_demo.DEMO_PEOPLE if p.role == DUE_FOR_REVIEW_ROLE]
    assert [g.user_id for g in due] == [user_by_login(db, person.login).id]
    (grant,) = due
    assert grant.role == DUE_FOR_REVIEW_ROLE
    assert grant.valid_from < clock.now() < grant.valid_until
    assert services.review_due_at(grant) <= clock.now()
    # Seeding again asks for nothing more.
    assert seed_demo(app, db) == []
    assert len([g for group in services.grants_due_for_review(db) for g in group.grants]) == 1
