"""The second factor: enrolment, accepted steps, replay, sealing, recovery codes (SEC-AUT-2)."""

from __future__ import annotations

import base64
import re
import threading
import time
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import requests
from sqlalchemy import select, text, update

from portal import clock
from portal.accounts import authentication, totp_codes
from portal.accounts.actions import AccountAction
from portal.accounts.models import RecoveryCode, User
from portal.audit.models import AuditEvent
from portal.keys import keyring_of
from portal.permissions import Role
from portal.sealing import IntegrityCheckFailed, open_
from tests.helpers_auth import DEFAULT_PASSWORD, login, mail_body, make_user, outbox, totp_code
from tests.servers import threaded

T0 = datetime(2026, 3, 2, 9, 0, 10, tzinfo=UTC)
CODES = re.compile(r"<code>([0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4})</code>")


def _events(db, action: str) -> list[AuditEvent]:  # noqa: ANN001
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _secret(db, user: User) -> str:  # noqa: ANN001
    db.expire_all()
    return authentication.totp_secret(db, db.get(User, user.id))


def enrol(client, db, user: User) -> list[str]:  # noqa: ANN001
    """Log in a person without second factor and enrol; return the recovery codes shown."""
    assert client.post("/login", data={"login": user.login, "password": DEFAULT_PASSWORD}
                       ).headers["Location"] == "/login/enrol"
    page = client.get("/login/enrol").get_data(as_text=True)
    shown = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")
    code = pyotp.TOTP(shown).at(clock.now())
    response = client.post("/login/enrol", data={"code": code})
    assert response.status_code == 200
    return CODES.findall(response.get_data(as_text=True))


# --- enrolment -----------------------------------------------------------------------------


def test_enrolment_shows_a_qr_code_and_the_secret_then_recovery_codes(app, db, client) -> None:  # noqa: ANN001
    user = make_user(db, "c.martin", role=Role.PRESCRIBER, enrolled=False)
    client.post("/login", data={"login": user.login, "password": DEFAULT_PASSWORD})
    page = client.get("/login/enrol").get_data(as_text=True)
    assert "<svg" in page and 'class="segno"' in page
    shown = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")
    assert shown == _secret(db, user)
    # A wrong first code does not enrol.
    assert "not valid" in client.post("/login/enrol", data={"code": "123456"}).get_data(
        as_text=True)
    db.expire_all()
    assert db.get(User, user.id).totp_confirmed_at is None
    response = client.post("/login/enrol", data={"code": pyotp.TOTP(shown).at(clock.now())})
    codes = CODES.findall(response.get_data(as_text=True))
    assert len(codes) == 8 and len(set(codes)) == 8
    assert all(len(c.replace("-", "")) * 4 >= 64 for c in codes)
    db.expire_all()
    assert db.get(User, user.id).totp_confirmed_at is not None
    assert client.get("/account").status_code == 200  # logged in
    assert _events(db, AccountAction.TOTP_ENROL)
    assert any("second factor" in m["Subject"] for m in outbox(app))


def test_secret_and_uri_follow_rfc_6238_with_160_bits(app, db) -> None:  # noqa: ANN001
    """SEC-AUT-2c."""
    user = make_user(db, "c.martin", enrolled=False)
    authentication.prepare_enrolment(db, user)
    uri = authentication.provisioning_uri(db, user)
    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.TOTP)
    assert parsed.digits == 6 and parsed.interval == 30 and parsed.digest().name == "sha1"
    assert len(base64.b32decode(parsed.secret)) >= 20
    assert parsed.issuer == "AAC Portal"


def test_enrolment_is_mandatory_before_any_page(app, db, client) -> None:  # noqa: ANN001
    user = make_user(db, "c.martin", role=Role.PRESCRIBER, enrolled=False)
    client.post("/login", data={"login": user.login, "password": DEFAULT_PASSWORD})
    for path in ("/account", "/account/password", "/admin/users/"):
        assert client.get(path).headers["Location"] == "/login/enrol"


# --- accepted steps and replay ---------------------------------------------------------------


def test_only_the_current_and_previous_steps_are_accepted(app, db) -> None:  # noqa: ANN001
    """SEC-AUT-2d: {T-1, T}; T-2, T+1 and T+2 refused."""
    with clock.frozen(T0):
        user = make_user(db, "c.martin")
        secret = _secret(db, user)
        table = {}
        for offset in (-2, -1, 0, 1, 2):
            user.totp_last_step = 0
            db.commit()
            code = pyotp.TOTP(secret).at(T0 + timedelta(seconds=30 * offset))
            table[offset] = authentication.check_totp(db, user, code)
            db.commit()
    accepted = authentication.CodeCheck.ACCEPTED
    assert {k for k, v in table.items() if v is accepted} == {-1, 0}


def test_a_code_is_accepted_once_even_inside_its_window(app, db, client) -> None:  # noqa: ANN001
    """SEC-AUT-2e (1) and (3): the second use is refused, audited and mailed."""
    with clock.frozen(T0):
        user = make_user(db, "c.martin", role=Role.PRESCRIBER)
        code = pyotp.TOTP(_secret(db, user)).at(T0)
        client.post("/login", data={"login": user.login, "password": DEFAULT_PASSWORD})
        assert client.post("/login/code", data={"code": code}).headers["Location"] == "/"
        client.post("/logout")
        client.post("/login", data={"login": user.login, "password": DEFAULT_PASSWORD})
        replay = client.post("/login/code", data={"code": code})
        assert replay.status_code == 200
        assert "already used" in replay.get_data(as_text=True)
        assert client.get("/account").headers["Location"] == "/login/code"
        # An older step is a replay too once a newer one was used.
        older = pyotp.TOTP(_secret(db, user)).at(T0 - timedelta(seconds=30))
        assert client.post("/login/code", data={"code": older}).status_code == 200
    assert len(_events(db, AccountAction.TOTP_REPLAY)) == 2
    alerts = [m for m in outbox(app) if "Unusual" in m["Subject"]]
    assert alerts and "already been used" in mail_body(alerts[0])


def test_two_simultaneous_submissions_of_one_code_give_one_session(app, db, monkeypatch) -> None:  # noqa: ANN001
    """SEC-AUT-2e (2): both requests match the code; the atomic update lets one through."""
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    secret = _secret(db, user)
    original = totp_codes.matching_step

    def slow_match(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        step = original(*args, **kwargs)
        time.sleep(0.3)  # both requests are past the match before either claims the step
        return step

    monkeypatch.setattr(totp_codes, "matching_step", slow_match)
    barrier = threading.Barrier(2)
    outcomes: list[int] = []
    with threaded(app) as base:
        browsers = [requests.Session() for _ in range(2)]
        for browser in browsers:
            first = browser.post(base + "/login", allow_redirects=False,
                                 data={"login": user.login, "password": DEFAULT_PASSWORD})
            assert first.headers["Location"] == "/login/code"
        code = pyotp.TOTP(secret).at(clock.now())

        def submit(browser: requests.Session) -> None:
            barrier.wait()
            response = browser.post(base + "/login/code", data={"code": code},
                                    allow_redirects=False)
            outcomes.append(response.status_code)

        threads = [threading.Thread(target=submit, args=(b,)) for b in browsers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert sorted(outcomes) == [200, 302]
    assert len(_events(db, AccountAction.LOGIN_SUCCESS)) == 1
    assert len(_events(db, AccountAction.TOTP_REPLAY)) == 1


# --- sealing ---------------------------------------------------------------------------------


def test_the_secret_is_sealed_with_the_totp_key_only(app, db) -> None:  # noqa: ANN001
    """SEC-AUT-2g: raw column differs from the secret; data key and another row fail."""
    user = make_user(db, "c.martin")
    other = make_user(db, "j.lefebvre")
    secret = _secret(db, user)
    raw = db.execute(text("SELECT totp_secret_sealed FROM users WHERE id = :id"),
                     {"id": user.id}).scalar_one()
    raw = bytes(raw)
    assert secret.encode() not in raw and base64.b32decode(secret) not in raw
    ring = keyring_of(db)
    aad = f"aac-portal/users/{user.id}/totp_secret_sealed".encode()
    assert open_(ring.key("totp"), raw, aad).decode() == secret
    with pytest.raises(IntegrityCheckFailed):
        open_(ring.kek()[1], raw, aad)
    db.execute(update(User).where(User.id == other.id).values(totp_secret_sealed=raw))
    db.commit()
    db.expire_all()
    with pytest.raises(IntegrityCheckFailed):
        authentication.totp_secret(db, db.get(User, other.id))


# --- recovery codes --------------------------------------------------------------------------


def test_recovery_codes_are_argon2_hashes_and_single_use(app, db, client) -> None:  # noqa: ANN001
    """SEC-AUT-2f."""
    user = make_user(db, "c.martin", role=Role.PRESCRIBER, enrolled=False)
    codes = enrol(client, db, user)
    client.post("/logout")
    stored = list(db.scalars(select(RecoveryCode.code_hash).where(
        RecoveryCode.user_id == user.id)))
    assert len(stored) == 8
    assert all(h.startswith("$argon2id$") for h in stored)
    assert not any(c.replace("-", "") in h or c in h for c in codes for h in stored)

    client.post("/login", data={"login": user.login, "password": DEFAULT_PASSWORD})
    used = client.post("/login/recovery", data={"code": codes[3].upper().replace("-", " ")})
    assert used.headers["Location"] == "/"
    assert client.get("/account").status_code == 200
    client.post("/logout")
    client.post("/login", data={"login": user.login, "password": DEFAULT_PASSWORD})
    again = client.post("/login/recovery", data={"code": codes[3]})
    assert again.status_code == 200 and "not valid or was already used" in again.get_data(
        as_text=True)
    assert _events(db, AccountAction.RECOVERY_USE)[0].details == {"remaining": 7}
    assert any("recovery code was used" in m["Subject"] for m in outbox(app))


def test_regenerating_needs_password_and_code_and_voids_old_codes(app, db, client) -> None:  # noqa: ANN001
    user = make_user(db, "c.martin", role=Role.PRESCRIBER, enrolled=False)
    old = enrol(client, db, user)
    wrong_password = client.post("/account/recovery-codes", data={
        "password": "Not-The-Password-1", "code": totp_code(app, user)})
    assert "password is not correct" in wrong_password.get_data(as_text=True)
    wrong_code = client.post("/account/recovery-codes", data={
        "password": DEFAULT_PASSWORD, "code": "000000"})
    assert "code is not valid" in wrong_code.get_data(as_text=True)
    fresh = client.post("/account/recovery-codes", data={
        "password": DEFAULT_PASSWORD, "code": totp_code(app, user)})
    new = CODES.findall(fresh.get_data(as_text=True))
    assert len(new) == 8 and not set(new) & set(old)
    client.post("/logout")
    client.post("/login", data={"login": user.login, "password": DEFAULT_PASSWORD})
    assert client.post("/login/recovery", data={"code": old[0]}).status_code == 200
    assert client.post("/login/recovery", data={"code": new[0]}).status_code == 302
    assert _events(db, AccountAction.RECOVERY_REGENERATE)
    assert any("New recovery codes" in m["Subject"] for m in outbox(app))


# --- limits ----------------------------------------------------------------------------------


def test_sixth_wrong_code_in_five_minutes_is_refused_and_drops_the_login(app, db, client) -> None:  # noqa: ANN001
    """SEC-AUT-5c: 5 per 5 minutes per account; the pending state is dropped, the owner told."""
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    client.post("/login", data={"login": user.login, "password": DEFAULT_PASSWORD})
    for _ in range(5):
        assert client.post("/login/code", data={"code": "000000"}).status_code == 200
    limited = client.post("/login/code", data={"code": totp_code(app, user)})
    assert limited.status_code == 429
    assert "<html" in limited.get_data(as_text=True).lower()
    assert client.get("/login/code").headers["Location"] == "/login"
    assert _events(db, AccountAction.TOTP_LIMITED)
    assert any("Unusual" in m["Subject"] for m in outbox(app))
    # The limit is per account: logging in again does not reset it.
    client.post("/login", data={"login": user.login, "password": DEFAULT_PASSWORD})
    assert client.post("/login/code", data={"code": totp_code(app, user)}).status_code == 429


def test_correct_codes_do_not_count_against_the_limit(app, db) -> None:  # noqa: ANN001
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    for _ in range(7):
        client = app.test_client()
        assert login(client, user).headers["Location"] == "/"


def test_replays_and_breaches_mail_one_alert_per_window(app, db) -> None:  # noqa: ANN001
    """Issue 26: an incident of many replays and limit breaches is one mail, not one each; a
    new incident after the window is mailed again. Each attempt is still audited."""
    with clock.frozen(T0) as frozen:
        user = make_user(db, "c.martin", role=Role.PRESCRIBER)
        code = pyotp.TOTP(_secret(db, user)).at(T0)
        first = app.test_client()
        first.post("/login", data={"login": user.login, "password": DEFAULT_PASSWORD})
        assert first.post("/login/code", data={"code": code}).status_code == 302
        for n in range(4):
            client = app.test_client()
            client.post("/login", data={"login": user.login, "password": DEFAULT_PASSWORD},
                        environ_base={"REMOTE_ADDR": f"198.51.100.{n + 1}"})
            assert client.post("/login/code", data={"code": code},
                               environ_base={"REMOTE_ADDR": f"198.51.100.{n + 1}"}
                               ).status_code == 200
        # The fifth wrong code trips the per-account limit; the sixth is refused by it.
        for n in range(2):
            client = app.test_client()
            client.post("/login", data={"login": user.login, "password": DEFAULT_PASSWORD},
                        environ_base={"REMOTE_ADDR": f"198.51.100.{n + 10}"})
            client.post("/login/code", data={"code": "000000"},
                        environ_base={"REMOTE_ADDR": f"198.51.100.{n + 10}"})
        assert len(_events(db, AccountAction.TOTP_REPLAY)) == 4
        alerts = [m for m in outbox(app) if "Unusual" in m["Subject"]]
        assert len(alerts) == 1
        frozen.tick(authentication.SECOND_FACTOR_ALERT_WINDOW + timedelta(seconds=1))
        # The limiter's counters run on the real clock: lapse them as the hour would.
        from portal.extensions import limiter

        limiter.reset()
        later = pyotp.TOTP(_secret(db, user)).at(clock.now())
        client = app.test_client()
        client.post("/login", data={"login": user.login, "password": DEFAULT_PASSWORD})
        assert client.post("/login/code", data={"code": later}).status_code == 302
        client = app.test_client()
        client.post("/login", data={"login": user.login, "password": DEFAULT_PASSWORD})
        assert client.post("/login/code", data={"code": later}).status_code == 200
    alerts = [m for m in outbox(app) if "Unusual" in m["Subject"]]
    assert len(alerts) == 2
