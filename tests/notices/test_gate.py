"""First login (referential 10.6, INF-02, INF-03): the transparency notice and IT charter come
before any other page, and again at the next login after a material change."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal import clock
from portal.audit.models import AuditEvent
from portal.notices import acknowledgements as acks
from portal.notices import services
from portal.notices.catalog import Audience
from portal.notices.models import NoticeAcknowledgement
from portal.permissions import Role, declared_access
from tests.clock_starts import medium_date
from tests.helpers_auth import login, make_user
from tests.notices.conftest import CLI, publish_notice

ACK_PAGE = "/notices/acknowledge"
RETENTION = {"fr": "Les données sont conservées cinq ans.", "en": "The data are kept five years."}


def _text(response) -> str:  # noqa: ANN001
    return response.get_data(as_text=True).replace("&#39;", "'")


def _main(response) -> str:  # noqa: ANN001
    page = _text(response)
    return page[page.index("<main"):page.index("</main>")]


def _sent_to_acknowledge(response) -> bool:  # noqa: ANN001
    return response.status_code in (302, 303) and \
        response.headers["Location"].startswith(ACK_PAGE)


def _confirm(client, db, next_path: str = "/account"):  # noqa: ANN001, ANN202
    version = services.current_published(db, Audience.TRANSPARENCY)
    return client.post(f"{ACK_PAGE}?next={next_path}",
                       data={"version_id": str(version.id), "read": "y"})


def _relogin(client, user) -> None:  # noqa: ANN001
    client.post("/logout")
    login(client, user)


@pytest.fixture
def transparency(db):  # noqa: ANN201
    return publish_notice(db, Audience.TRANSPARENCY)


@pytest.fixture
def prescriber(db):  # noqa: ANN201
    return make_user(db, "c.martin", role=Role.PRESCRIBER, first_name="Claire",
                     last_name="Martin")


def _gated_pages(app) -> list[str]:  # noqa: ANN001
    """Every page (GET without URL arguments) that needs a permission."""
    pages = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if "GET" not in rule.methods or rule.arguments or not declared_access(view):
            continue
        if rule.endpoint in ("notices.acknowledge", "notices.closed", "accounts.change_password"):
            continue
        pages.append(rule.rule)
    return pages


def test_a_new_professional_cannot_reach_any_page_before_acknowledging(
    app, client, db, transparency, prescriber
) -> None:
    after_login = login(client, prescriber)
    first_page = client.get(after_login.headers["Location"])
    assert _sent_to_acknowledge(first_page), "the first page after login is the notice"

    pages = _gated_pages(app)
    assert "/account" in pages and "/notices/manage" in pages
    for page in pages:
        response = client.get(page)
        assert _sent_to_acknowledge(response), page
        assert response.headers["Location"] == f"{ACK_PAGE}?next={page}"


def test_the_notice_page_shows_everything_and_is_not_consent(
    client, db, transparency, prescriber
) -> None:
    login(client, prescriber)

    page = _text(client.get(ACK_PAGE))

    # The notice is shown in the person's language (English here, from the browser).
    assert "Information for users of the portal" in page
    assert "are logged" in page
    assert "Sanctions" in page and "226-13" in page  # the IT charter, in full
    assert "I have read this information and the IT charter" in page
    # Information received, not consent (INF-03).
    assert "I consent" not in page and "je consens" not in page.lower()
    assert "It is not a consent" in page


def test_logout_and_the_public_notices_stay_reachable(client, db, transparency,
                                                      prescriber) -> None:
    login(client, prescriber)

    assert client.get("/notices/transparency?lang=en").status_code == 200
    assert client.get("/notices/").status_code == 200
    logout = client.post("/logout")
    assert logout.status_code == 302 and not _sent_to_acknowledge(logout)
    assert client.get("/account").headers["Location"].startswith("/login")


def test_acknowledging_records_who_read_which_version_and_when(
    client, db, transparency, prescriber, test_clock
) -> None:
    login(client, prescriber)
    refused = client.post(ACK_PAGE, data={"version_id": str(transparency.id)})
    assert refused.status_code == 200
    assert "Tick the box to confirm" in _text(refused)

    moment = test_clock + timedelta(hours=1)
    with clock.frozen(moment):
        login(client, prescriber)
        response = _confirm(client, db)

    assert response.status_code == 302
    assert response.headers["Location"] == "/account"
    stored = db.scalars(select(NoticeAcknowledgement)).one()
    assert (stored.user_id, stored.notice_version_id, stored.acknowledged_at) == (
        prescriber.id, transparency.id, moment)
    event = db.scalars(select(AuditEvent).where(
        AuditEvent.action == "notices:acknowledgement:create")).one()
    assert event.actor_id == prescriber.id
    assert event.details == {"notice": "transparency-v1"}
    assert client.get("/account").status_code == 200


def test_a_material_change_is_shown_again_at_the_next_login(
    client, db, transparency, prescriber
) -> None:
    login(client, prescriber)
    _confirm(client, db)

    publish_notice(db, Audience.TRANSPARENCY, material=True, retention=RETENTION)

    # Not in the middle of someone's work: the current session goes on.
    assert client.get("/account").status_code == 200
    _relogin(client, prescriber)
    assert _sent_to_acknowledge(client.get("/account"))
    assert "The data are kept five years." in _text(client.get(f"{ACK_PAGE}?lang=en"))
    _confirm(client, db)
    assert client.get("/account").status_code == 200
    assert [a.version.number for a in acks.acknowledgements_of(db, prescriber)] == [1, 2]


def test_a_minor_change_is_not_shown_again(client, db, transparency, prescriber) -> None:
    login(client, prescriber)
    _confirm(client, db)

    publish_notice(db, Audience.TRANSPARENCY, material=False, retention=RETENTION)
    _relogin(client, prescriber)

    assert client.get("/account").status_code == 200
    assert acks.pending_version(db, prescriber) is None


def test_a_minor_change_after_an_unread_material_one_still_asks(
    client, db, transparency, prescriber
) -> None:
    login(client, prescriber)
    _confirm(client, db)
    publish_notice(db, Audience.TRANSPARENCY, material=True, retention=RETENTION)
    publish_notice(db, Audience.TRANSPARENCY, material=False,
                   complaint="CNIL, https://www.cnil.fr")

    _relogin(client, prescriber)

    assert _sent_to_acknowledge(client.get("/account"))
    _confirm(client, db)  # reading version 3 covers the material version 2
    assert client.get("/account").status_code == 200


@pytest.mark.parametrize("role", [Role.SUPPLY, Role.DPO, Role.ADMINISTRATOR])
def test_laboratory_staff_acknowledge_the_charter_too(client, db, transparency, role) -> None:
    person = make_user(db, "l.staff", role=role)
    login(client, person)

    assert _sent_to_acknowledge(client.get("/account"))


def test_nobody_is_held_up_while_no_transparency_notice_is_published(
    client, db, prescriber
) -> None:
    publish_notice(db, Audience.PATIENT)  # another audience does not count
    login(client, prescriber)

    assert client.get("/account").status_code == 200


def test_a_person_without_a_valid_grant_is_not_asked(client, db, transparency) -> None:
    person = make_user(db, "no.grant")
    login(client, person)

    assert client.get("/account").status_code == 403


def test_a_version_published_while_the_page_was_open_is_shown_instead(
    client, db, transparency, prescriber
) -> None:
    login(client, prescriber)
    client.get(ACK_PAGE)
    newer = publish_notice(db, Audience.TRANSPARENCY, material=True, retention=RETENTION)

    response = client.post(ACK_PAGE, data={"version_id": str(transparency.id), "read": "y"})

    assert response.status_code == 200
    assert "A newer version of this information was published" in _text(response)
    assert db.scalars(select(NoticeAcknowledgement)).all() == []
    assert f'value="{newer.id}"' in _text(response)


def test_the_dpo_sees_who_acknowledged_which_version(client, db, transparency, prescriber,
                                                     dpo, test_clock) -> None:
    first_read = test_clock + timedelta(hours=1)
    with clock.frozen(first_read):
        login(client, prescriber)
        _confirm(client, db)
    second = publish_notice(db, Audience.TRANSPARENCY, material=True, retention=RETENTION)
    with clock.frozen(first_read + timedelta(days=1)):
        _relogin(client, prescriber)
        _confirm(client, db)
    client.post("/logout")

    login(client, dpo)
    _confirm(client, db)
    page = _main(client.get("/notices/manage/acknowledgements"))
    only_first = _main(client.get(f"/notices/manage/acknowledgements?version={transparency.id}"))

    assert "3 acknowledgements" in page or "3 accusés" in page
    assert page.count("Claire Martin") == 2 and "Isabelle Laurent" in page
    assert "c.martin" in page
    assert medium_date(first_read, "en") in page
    assert only_first.count("Claire Martin") == 1
    assert "Isabelle Laurent" not in only_first
    assert f"/notices/manage/versions/{second.id}" not in only_first


def test_the_acknowledgements_list_takes_any_typed_page_or_version(client, db, transparency,
                                                                    dpo) -> None:
    login(client, dpo)
    _confirm(client, db)
    for query in ("page=" + "9" * 30, "version=" + "9" * 30, "page=%C2%B2", "version=%C2%B2",
                  "page=1000001"):
        response = client.get(f"/notices/manage/acknowledgements?{query}")
        assert response.status_code == 200, query


def test_the_service_level_rules_of_the_gate(db, transparency, prescriber) -> None:
    login_time = clock.now()
    assert acks.pending_version(db, prescriber, login_at=login_time) == transparency
    acks.acknowledge(db, prescriber, transparency)
    assert acks.pending_version(db, prescriber) is None
    later = clock.now() + timedelta(seconds=5)
    with clock.frozen(later):
        second = publish_notice(db, Audience.TRANSPARENCY, CLI, material=True,
                                retention=RETENTION)
    # Published after this session's login: asked at the next login, not now.
    assert acks.pending_version(db, prescriber, login_at=login_time) is None
    assert acks.pending_version(db, prescriber, login_at=later + timedelta(minutes=1)) == second
    assert acks.acknowledge(db, prescriber, second) == acks.acknowledge(db, prescriber, second)


def test_data_pages_are_closed_while_no_user_notice_is_published(
    app_config, tmp_path, monkeypatch  # noqa: ANN001
) -> None:
    from portal import create_app
    from portal.db import new_session
    from tests.conftest import app_database

    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    app_config["DATA_PAGES_WITHOUT_USER_NOTICE"] = False
    with app_database(create_app(app_config)) as app, new_session(app) as db:
        prescriber = make_user(db, "c.martin", role=Role.PRESCRIBER)
        dpo = make_user(db, "i.laurent", role=Role.DPO)
        client = app.test_client()
        login(client, prescriber)
        refused = client.get("/account")
        assert refused.status_code == 302 and refused.headers["Location"] == "/notices/closed"
        page = _main(client.get("/notices/closed"))
        assert "Data pages are closed" in page
        assert "The data protection officer publishes it" in page
        assert "/notices/manage" not in page
        french = _main(client.get("/notices/closed", headers={"Accept-Language": "fr"}))
        assert "Les pages de données sont fermées" in french and "Ask them" not in french

        dpo_client = app.test_client()
        login(dpo_client, dpo)
        assert dpo_client.get("/account").headers["Location"] == "/notices/closed"
        page = _main(dpo_client.get("/notices/closed"))
        assert "You can publish it" in page and "/notices/manage" in page
        assert dpo_client.get("/notices/manage").status_code == 200

        publish_notice(db, Audience.TRANSPARENCY)
        assert _sent_to_acknowledge(client.get("/account"))


def test_development_and_tests_open_data_pages_without_a_notice_only_when_set(
    client, db, prescriber
) -> None:
    login(client, prescriber)
    assert client.get("/account").status_code == 200


def test_production_never_opens_data_pages_without_a_notice(monkeypatch) -> None:  # noqa: ANN001
    from portal.config import ConfigError
    from portal.notices.gate import configure

    monkeypatch.delenv("PORTAL_DATA_PAGES_WITHOUT_USER_NOTICE", raising=False)
    production = _production_app()
    configure(production)
    assert production.config["DATA_PAGES_WITHOUT_USER_NOTICE"] is False
    monkeypatch.setenv("PORTAL_DATA_PAGES_WITHOUT_USER_NOTICE", "true")
    with pytest.raises(ConfigError, match="^PORTAL_DATA_PAGES_WITHOUT_USER_NOTICE is on"):
        configure(_production_app())


def _production_app():  # noqa: ANN202
    from flask import Flask

    app = Flask(__name__)
    app.config["ENV"] = "production"
    return app
