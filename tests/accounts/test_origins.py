"""Access from outside the EU (issue 24, referential 12.4): the declared networks and countries,
the offline country file, the transfers register, and the forwarded-header rules."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from portal.accounts import origins
from portal.audit.models import AuditAlert, AuditEvent
from portal.config import ConfigError
from portal.permissions import Role
from portal.registers import services as registers
from tests.helpers_auth import CLI, DEFAULT_PASSWORD, login, make_user

INSIDE = "10.20.30.40"
OUTSIDE = "198.51.100.7"
US = "203.0.113.5"
COUNTRIES = """# start,end,country: a synthetic list in the layout of the free ones
10.0.0.0,10.255.255.255,FR
198.51.100.0,198.51.100.255,CN
203.0.113.0,203.0.113.255,US
2001:db8::,2001:db8::ffff,DE
"""


@pytest.fixture
def origin_settings() -> dict[str, Any]:
    """The declaration of a test (a test parametrizes it to change it)."""
    return {"ACCESS_ALLOWED_NETWORKS": "10.0.0.0/8"}


@pytest.fixture
def app_config(app_config: dict[str, object], origin_settings: dict[str, Any],
               tmp_path: Path) -> dict[str, object]:
    settings = dict(origin_settings)
    if settings.pop("country_file", False):
        path = tmp_path / "countries.csv"
        path.write_text(COUNTRIES, encoding="utf-8")
        settings["ACCESS_COUNTRY_DB"] = str(path)
    app_config.update(settings)
    return app_config


def client_from(app, address: str):  # noqa: ANN001, ANN201
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def post_login(client, user, password: str = DEFAULT_PASSWORD, **headers: str):  # noqa: ANN001, ANN201
    return client.post("/login?lang=en", data={"login": user.login, "password": password},
                       headers=headers)


def entries(db, action: str) -> list[AuditEvent]:  # noqa: ANN001
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)
                           .order_by(AuditEvent.seq)))


def test_a_login_from_a_network_outside_the_allow_list_is_refused_and_audited(app, db) -> None:  # noqa: ANN001
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    response = post_login(client_from(app, OUTSIDE), user)
    assert response.status_code == 403
    assert "cannot be used from where you are connecting" in response.get_data(as_text=True)
    refused = entries(db, "accounts:origin:refused")
    assert len(refused) == 1 and refused[0].outcome == "denied"
    assert refused[0].client_address == OUTSIDE
    assert refused[0].details["reason"] == "not_declared"
    # The password was not even checked: no second step started.
    assert not any(e.action.startswith("accounts:login") and e.outcome == "success"
                   for e in db.scalars(select(AuditEvent)))
    # From a declared network the same person logs in.
    login(client_from(app, INSIDE), user)


def test_a_data_access_from_elsewhere_in_a_session_is_refused(app, db) -> None:  # noqa: ANN001
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    client = client_from(app, INSIDE)
    login(client, user)
    assert client.get("/account").status_code == 200
    client.environ_base["REMOTE_ADDR"] = OUTSIDE
    assert client.get("/account").status_code == 403
    assert entries(db, "accounts:origin:refused")[-1].actor_id == user.id
    # Pages that need no account stay open from anywhere.
    assert client_from(app, OUTSIDE).get("/rights/ask").status_code == 200


@pytest.mark.parametrize("origin_settings", [{"ACCESS_ALLOWED_NETWORKS": "10.0.0.0/8",
                                              "ACCESS_OUTSIDE_POLICY": "alert"}])
def test_alert_mode_lets_the_access_through_with_an_alert_and_an_entry(app, db) -> None:  # noqa: ANN001
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    client = client_from(app, OUTSIDE)
    login(client, user)
    assert client.get("/account").status_code == 200
    alerted = len(entries(db, "accounts:origin:alerted"))
    assert alerted >= 1
    # Once per session and address, however many pages follow.
    assert client.get("/account").status_code == 200
    assert client.get("/account").status_code == 200
    assert len(entries(db, "accounts:origin:alerted")) == alerted
    last = entries(db, "accounts:origin:alerted")[-1]
    assert last.client_address == OUTSIDE and last.details["policy"] == "alert"
    alert = db.scalar(select(AuditAlert).where(AuditAlert.rule == origins.ALERT_RULE))
    assert alert is not None and alert.subject == f"origin:{OUTSIDE}"
    assert entries(db, "accounts:origin:refused") == []


@pytest.mark.parametrize(("origin_settings", "status"), [
    ({"ACCESS_ALLOWED_NETWORKS": "10.0.0.0/8", "TRUSTED_PROXIES": 1}, 200),
    ({"ACCESS_ALLOWED_NETWORKS": "10.0.0.0/8", "TRUSTED_PROXIES": 0}, 403),
])
def test_a_forwarded_address_counts_only_through_the_declared_proxies(app, db, status) -> None:  # noqa: ANN001
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    # A wrong password: the login form again (200) once the origin check let it through.
    response = post_login(client_from(app, OUTSIDE), user, "wrong password",
                          **{"X-Forwarded-For": INSIDE})
    assert response.status_code == status


@pytest.mark.parametrize("origin_settings", [{"ACCESS_ALLOWED_COUNTRIES": "FR, US",
                                              "country_file": True}])
def test_countries_come_from_the_operators_file_and_need_their_mechanism(app, db) -> None:  # noqa: ANN001
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    login(client_from(app, INSIDE), user)  # FR, in the EU
    assert post_login(client_from(app, OUTSIDE), user).status_code == 403  # CN: not declared
    assert entries(db, "accounts:origin:refused")[-1].details["country"] == "CN"
    # US is declared, but a transfer: refused until the register holds its mechanism.
    assert post_login(client_from(app, US), user).status_code == 403
    assert entries(db, "accounts:origin:refused")[-1].details["reason"] == "no_mechanism"
    assert origins.missing_mechanisms(db) == ["US"]
    registers.save_processor(db, CLI, None, {"name": "Support Inc.", "role": "remote_access",
                                             "country": "US", "mechanism": "scc"})
    db.commit()
    assert origins.missing_mechanisms(db) == []
    assert registers.remote_access_countries(db) == [("US", "scc")]
    login(client_from(app, US), user)


@pytest.mark.parametrize("origin_settings", [{"ACCESS_ALLOWED_NETWORKS": "10.0.0.0/8",
                                              "ACCESS_ALLOWED_COUNTRIES": "US"}])
def test_without_a_country_file_the_network_list_alone_applies(app, db) -> None:  # noqa: ANN001
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    assert post_login(client_from(app, US), user).status_code == 403
    login(client_from(app, INSIDE), user)


@pytest.mark.parametrize("origin_settings", [{"ACCESS_ALLOWED_NETWORKS":
                                              "10.0.0.0/8, 203.0.113.0/24=US"}])
def test_a_network_outside_the_eu_needs_its_mechanism_too(app, db, client) -> None:  # noqa: ANN001
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    assert post_login(client_from(app, US), user).status_code == 403
    registers.save_processor(db, CLI, None, {"name": "Support Inc.", "role": "support",
                                             "country": "US", "mechanism": "adequacy"})
    db.commit()
    login(client_from(app, US), user)


@pytest.mark.parametrize("origin_settings", [{}])
def test_with_nothing_declared_nothing_is_checked(app, db) -> None:  # noqa: ANN001
    login(client_from(app, OUTSIDE), make_user(db, "c.martin", role=Role.PRESCRIBER))
    assert entries(db, "accounts:origin:refused") == []


def test_a_bad_declaration_or_country_file_is_refused_at_startup(tmp_path: Path) -> None:
    path = tmp_path / "countries.csv"
    path.write_text("10.0.0.0,10.255.255.255,FR\n10.x,10.1.0.0,DE\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{path}, line 2"):
        origins.load_country_table(str(path))
    path.write_text("10.0.0.0,10.255.255.255,FR\n10.1.0.0,10.2.0.0,DE\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="overlap"):
        origins.load_country_table(str(path))
    with pytest.raises(ConfigError, match="cannot read"):
        origins.load_country_table(str(tmp_path / "absent.csv"))
    with pytest.raises(ConfigError, match="ACCESS_ALLOWED_NETWORKS"):
        origins.parse_networks("10.0.0.0/8, not-a-network")
    with pytest.raises(ConfigError, match="ACCESS_ALLOWED_COUNTRIES"):
        origins.parse_countries("FR, France")
    with pytest.raises(ConfigError, match="ACCESS_OUTSIDE_POLICY"):
        origins.load({"ACCESS_OUTSIDE_POLICY": "shrug"})


def test_the_lookup_reads_both_address_families(tmp_path: Path) -> None:
    path = tmp_path / "countries.csv"
    path.write_text(COUNTRIES, encoding="utf-8")
    table = origins.load_country_table(str(path))
    assert table.country_of(ipaddress.ip_address(US)) == "US"
    assert table.country_of(ipaddress.ip_address("10.0.0.0")) == "FR"
    assert table.country_of(ipaddress.ip_address("10.255.255.255")) == "FR"
    assert table.country_of(ipaddress.ip_address("2001:db8::12")) == "DE"
    assert table.country_of(ipaddress.ip_address("192.0.2.1")) is None
