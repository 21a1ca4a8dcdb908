"""A new account's first journey in a real browser: activation mail, password, TOTP, home page."""

from __future__ import annotations

import re

import pyotp
import pytest

from portal import clock
from portal.accounts import services
from portal.db import new_session
from portal.permissions import Role
from tests.conftest import make_test_config
from tests.helpers_auth import CHEAP_ARGON2, mail_body, make_user, outbox

pytestmark = pytest.mark.browser

PASSWORD = "Tq7!vLm#2xRp-Lagune"


@pytest.fixture
def app_config(tmp_path, key_file):  # noqa: ANN001, ANN201
    return make_test_config(tmp_path, key_file, PASSWORD_HASHER=CHEAP_ARGON2,
                            RATELIMIT_ENABLED=True)


def test_from_the_activation_mail_to_a_first_login(app, page, live_server) -> None:  # noqa: ANN001
    with new_session(app) as db:
        admin = make_user(db, "h.petit", role=Role.ADMINISTRATOR)
        _, token = services.create_user(db, admin, services.NewAccount(
            "j.lefebvre", "Julien", "Lefebvre", "j.lefebvre@example.org"))
        db.commit()
    # What the administrators' page sends after creating it: the mail goes to the outbox.
    from portal.accounts.notifications import notify

    with app.app_context(), new_session(app) as db:
        user = services.user_by_login(db, "j.lefebvre")
        notify(app, user, "activation", link=services.activation_url(db, token), hours=24)
    mail = next(m for m in outbox(app) if m["To"] == "j.lefebvre@example.org")
    link = re.search(r"https?://\S+/activate/\S+", mail_body(mail)).group(0)
    path = link.split("/activate/", 1)[1]

    page.goto(f"{live_server}/activate/{path}")
    assert page.url == f"{live_server}/activate"  # the token left the address bar
    assert "j.lefebvre" in page.locator("main").inner_text()
    page.locator("input[name=new_password]").fill(PASSWORD)
    page.locator("input[name=confirm]").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()

    page.wait_for_url(f"{live_server}/login/enrol")
    assert page.locator("main svg").count() == 1
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.locator("input[name=code]").fill(pyotp.TOTP(secret).at(clock.now()))
    page.locator("main form button[type=submit]").first.click()

    codes = page.locator(".recovery-codes code")
    codes.first.wait_for()
    assert codes.count() == 8
    page.locator("main a").last.click()
    page.wait_for_url(f"{live_server}/")
    header = page.locator("header .account").inner_text()
    assert "Julien Lefebvre" in header
    assert page.locator("header form[action='/logout'] button").count() == 1
