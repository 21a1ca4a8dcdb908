"""Expiry also runs lazily before requests, at most once per interval in each process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from portal import clock
from portal.access.models import Category, GrantStatus, Scope
from portal.permissions import Role
from tests.access.helpers import grant, make_user

START = datetime(2026, 2, 2, 10, 0, tzinfo=UTC)


def _statuses(db, *grants) -> list[str]:
    db.expire_all()
    return [g.status for g in grants]


def test_a_request_runs_expiry_at_most_once_per_interval(app, client, db) -> None:
    with clock.frozen(START) as frozen:
        first = grant(db, make_user(db, last_login_at=START), Role.SUPPLY, Scope.AGGREGATED,
                      Category.OTHER, days=1)
        second = grant(db, make_user(db, last_login_at=START), Role.SUPPLY, Scope.AGGREGATED,
                       Category.OTHER, days=2)
        db.commit()
        frozen.tick(timedelta(days=1, seconds=1))
        assert client.get("/").status_code == 200
        assert _statuses(db, first, second) == [GrantStatus.EXPIRED, GrantStatus.ACTIVE]
        frozen.tick(timedelta(days=1))
        client.get("/")
        assert _statuses(db, second) == [GrantStatus.EXPIRED]


def test_not_twice_within_the_interval(app, client, db) -> None:
    with clock.frozen(START) as frozen:
        made = grant(db, make_user(db, last_login_at=START), Role.SUPPLY, Scope.AGGREGATED,
                     Category.OTHER, days=1)
        db.commit()
        frozen.tick(timedelta(days=1) - timedelta(minutes=2))
        client.get("/")  # runs: nothing to do yet
        frozen.tick(timedelta(minutes=3))
        client.get("/")  # one minute after the end, but only 3 minutes after the last run
        assert _statuses(db, made) == [GrantStatus.ACTIVE]
        frozen.tick(timedelta(minutes=2))
        client.get("/")
        assert _statuses(db, made) == [GrantStatus.EXPIRED]


def test_lazy_expiry_can_be_switched_off(app, client, db) -> None:
    app.config["ACCESS_LAZY_EXPIRE"] = False
    with clock.frozen(START) as frozen:
        made = grant(db, make_user(db), Role.SUPPLY, Scope.AGGREGATED, Category.OTHER, days=1)
        db.commit()
        frozen.tick(timedelta(days=2))
        client.get("/")
        assert _statuses(db, made) == [GrantStatus.ACTIVE]
