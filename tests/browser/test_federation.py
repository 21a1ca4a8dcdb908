"""A prescriber logs in through the identity federation in Chromium (a real OpenID Connect
provider on 127.0.0.1), acknowledges the first-login notice, registers a patient, and logs out
at both ends (issue 22)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import select

import portal.notices.models  # noqa: F401 - every table on the metadata (PostgreSQL schema)
import portal.records.models  # noqa: F401
import portal.rights.models  # noqa: F401
from portal.access import services as access
from portal.access.models import Category, Scope
from portal.accounts.models import User
from portal.audit.models import AuditEvent
from portal.notices.catalog import Audience
from portal.permissions import Role
from portal.records.models import Patient
from tests.helpers_auth import CLI, grant_role, make_user
from tests.notices.conftest import publish_notice
from tests.oidc_provider import Provider, identity_for, running_provider
from tests.records import helpers

pytestmark = pytest.mark.browser

CLIENT_ID = "aac-portal"
CLIENT_SECRET = "browser-test-client-secret"  # noqa: S105 - a test value
RPPS = "10003641205"


@pytest.fixture
def provider() -> Iterator[Provider]:
    with running_provider() as running:
        running.identity = identity_for(RPPS, given_name="Claire", family_name="Martin")
        yield running


@pytest.fixture
def app_config(app_config: dict[str, object], provider: Provider) -> dict[str, object]:
    app_config.update({
        "FEDERATION_DISCOVERY_URL": provider.discovery_url, "FEDERATION_CLIENT_ID": CLIENT_ID,
        "FEDERATION_CLIENT_SECRET": CLIENT_SECRET,
        "FEDERATION_LOCAL_LOGIN_REFUSED_ROLES": "prescriber,hospital_pharmacist",
    })
    return app_config


def test_a_prescriber_logs_in_through_the_federation_and_out_at_both_ends(
        app, db, page, live_server, provider) -> None:  # noqa: ANN001
    # The portal's public address is the live server's: the provider sends the browser back there.
    app.config["BASE_URL"] = live_server
    provider.register_client(CLIENT_ID, CLIENT_SECRET, live_server + "/login/federation/callback",
                             live_server + "/login/federation/logged-out")
    helpers.install_demo(db)
    publish_notice(db, Audience.TRANSPARENCY)
    site = helpers.site(db, helpers.FINESS_A, "Centre hospitalier Alpha")
    # Created for the federation only: no password, no second factor.
    doctor = make_user(db, "c.martin", password=None, first_name="Claire", last_name="Martin")
    doctor.rpps = RPPS
    access.add_member(db, CLI, doctor, site)
    grant_role(db, doctor, Role.PRESCRIBER, scope=Scope.IDENTIFYING, category=Category.HEALTH,
               establishments=(site,))
    db.commit()

    page.goto(live_server + "/language/en")
    page.goto(live_server + "/login")
    page.get_by_role("button", name="Log in with Pro Santé Connect").click()
    # At the provider: its own page, then back to the portal.
    page.wait_for_url(re.compile(re.escape(provider.base) + r"/authorize\?"))
    assert "Claire Martin" in page.locator("main").inner_text()
    page.get_by_role("button", name="Authenticate with e-CPS").click()

    # First login: the notice for the portal's users before anything else.
    page.wait_for_url(re.compile(r"/notices/acknowledge"))
    page.get_by_label(re.compile("I have read this information")).check()
    page.get_by_role("button", name="Confirm and continue").click()
    page.wait_for_load_state()
    assert "/notices/acknowledge" not in page.url

    # A form: the prescriber registers a patient of their establishment.
    page.get_by_role("link", name="My patients").click()
    page.get_by_role("link", name="Register a patient").click()
    page.fill("#surname_letters", "Zqx")
    page.fill("#first_name_letters", "Wk")
    page.check("input[name=sex][value=F]")
    page.select_option("#birth_month", "4")
    page.fill("#birth_year", "1961")
    page.fill("#weight_kg", "64.2")
    page.fill("#height_cm", "168")
    page.get_by_role("button", name="Register").click()
    page.wait_for_url(re.compile(r".*/patients/[A-Za-z0-9_-]{20,}$"))
    assert "Patient registered" in page.locator(".flash").inner_text()
    db.expire_all()
    assert db.scalar(select(Patient)) is not None

    # The provider has a session for this browser; logging out ends both.
    page.goto(provider.base + "/whoami")
    assert page.locator("#who").inner_text() == f"Logged in as psc-{RPPS}"
    page.goto(live_server + "/account")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(re.escape(live_server) + r"/login$"))
    flash = page.locator(".flash").inner_text()
    assert "logged out of the portal and of Pro Santé Connect" in flash
    assert len(provider.logouts) == 1 and provider.logouts[0]["hinted_sid"]
    page.goto(provider.base + "/whoami")
    assert page.locator("#who").inner_text() == "No session at the provider."
    page.goto(live_server + "/account")
    assert "/login" in page.url

    db.expire_all()
    user = db.scalar(select(User).where(User.login == "c.martin"))
    assert user.federated_subject == f"psc-{RPPS}" and user.password_hash is None
    actions = [e.action for e in db.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
    assert "accounts:login:federated" in actions and "accounts:session:logout" in actions
