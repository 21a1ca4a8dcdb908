"""Demo accounts: nominative fictitious people, development only; no generic account anywhere."""

from __future__ import annotations

import re
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import func, select

from portal import clock
from portal.accounts.demo import DEMO_PASSWORD, DEMO_PEOPLE, DemoRefused, seed_demo
from portal.accounts.models import User
from portal.accounts.services import GENERIC_LOGINS, is_generic_login
from portal.permissions import Role

ROOT = Path(__file__).resolve().parents[2]
#: the deny-list of SEC-AUT-1a, plus the obvious variants
DENIED = {"admin", "administrator", "root", "test", "demo", "guest", "user", "superuser"}


@pytest.fixture
def app_config(app_config):  # noqa: ANN001, ANN201
    return {**app_config, "ENV": "development"}


def test_at_least_one_nominative_person_per_role(app) -> None:  # noqa: ANN001
    assert {person.role for person in DEMO_PEOPLE} == set(Role)
    assert len({person.login for person in DEMO_PEOPLE}) == len(DEMO_PEOPLE)
    # Two prescribers (one per establishment) and two administrators (maker-checker).
    roles = [person.role for person in DEMO_PEOPLE]
    assert roles.count(Role.PRESCRIBER) == 2 and roles.count(Role.ADMINISTRATOR) == 2
    for person in DEMO_PEOPLE:
        assert re.fullmatch(r"[a-z]\.[a-z]+", person.login), person.login
        assert person.last_name.lower().startswith(person.login.split(".")[1][:3])
        assert not is_generic_login(person.login)
        assert person.email.endswith("@example.org")


def test_seeding_twice_is_seeding_once_and_prints_logins_and_secrets(app, db) -> None:  # noqa: ANN001
    first = seed_demo(app, db)
    db.commit()
    second = seed_demo(app, db)
    db.commit()
    assert first == second
    assert db.scalar(select(func.count()).select_from(User)) == len(DEMO_PEOPLE)
    text = "\n".join(first)
    assert DEMO_PASSWORD in text
    for person in DEMO_PEOPLE:
        line = next(line for line in first if f" {person.login} " in line)
        secret = re.search(r"TOTP secret ([A-Z2-7]{32})", line).group(1)
        assert len(secret) * 5 >= 160


def test_a_demo_person_logs_in_with_what_was_printed(app, db) -> None:  # noqa: ANN001
    lines = seed_demo(app, db)
    db.commit()
    line = next(line for line in lines if " c.martin " in line)
    secret = re.search(r"TOTP secret ([A-Z2-7]{32})", line).group(1)
    client = app.test_client()
    assert client.post("/login", data={"login": "c.martin", "password": DEMO_PASSWORD}
                       ).headers["Location"] == "/login/code"
    code = pyotp.TOTP(secret).at(clock.now())
    assert client.post("/login/code", data={"code": code}).headers["Location"] == "/"


def test_demo_accounts_are_refused_outside_development(app, db) -> None:  # noqa: ANN001
    app.config["ENV"] = "testing"
    with pytest.raises(DemoRefused):
        seed_demo(app, db)
    app.config["ENV"] = "production"
    with pytest.raises(DemoRefused):
        seed_demo(app, db)
    assert db.scalar(select(func.count()).select_from(User)) == 0


def test_no_seed_migration_or_fixture_creates_a_generic_account() -> None:
    """SEC-AUT-1a: scan the demo people, migrations, seeders and test helpers."""
    assert DENIED <= GENERIC_LOGINS
    for person in DEMO_PEOPLE:
        assert person.login.split(".")[-1] not in DENIED
    sources = [*ROOT.glob("migrations/versions/*.py"), *ROOT.glob("portal/*/demo.py"),
               ROOT / "portal" / "demo.py", ROOT / "tests" / "helpers_auth.py"]
    quoted = re.compile(r"""(?:login|LOGIN)\s*[=:,(]\s*["']([^"']+)["']""")
    found = []
    for path in sources:
        for value in quoted.findall(path.read_text()):
            if is_generic_login(value) or value.lower() in DENIED:
                found.append(f"{path.relative_to(ROOT)}: {value}")
    assert found == []
