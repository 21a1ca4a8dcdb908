"""Every route, for every kind of person, answers junk with a page, never a 500.

Each route of `app.url_map` is opened by a prescriber, a pharmacovigilance officer, the DPO,
an administrator and an auditor, with its real parameters (a patient, a submission, a rights
request, a grant...) and with junk ones, and with junk in the query string and the form body.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

import portal.notices.models  # noqa: F401 - every table on the metadata (PostgreSQL schema)
import portal.records.models  # noqa: F401
import portal.rights.models  # noqa: F401
from portal import clock
from portal.access.models import AccessGrant
from portal.notices.models import NoticeVersion
from portal.permissions import Role
from portal.registers import services as registers
from portal.rights import services as rights
from portal.rights.models import RequestKind
from tests.conftest import make_test_config
from tests.helpers_auth import CHEAP_ARGON2, CLI, login, make_user
from tests.records import helpers
from tests.rights.helpers import make_dpo

JUNK = [
    "", " ", "0", "-1", "1e400", "NaN", "99999999999999999999", "2024-02-30", "13/2024",
    "yes", "no", "M1", "patient", "IND-1", "\x00", "\r\nX-Injected: 1", "é" * 300, "a" * 5000,
    "<script>alert(1)</script>", "' OR 1=1 --", "../../etc/passwd", "1 85 05 78 006 084 91",
    "%s%s%n", "☃", "{}", "[]", "null", "true",
]
JUNK_IDS = [0, 2**31 - 1, 2**63]
FIELDS = [
    "login", "password", "new_password", "confirm", "code", "token", "version", "action",
    "reason", "email", "first_name", "last_name", "role", "scope", "category", "valid_from",
    "valid_until", "establishments", "finess", "name", "city", "months", "kind", "case_number",
    "surname_letters", "first_name_letters", "sex", "birth_year", "birth_month", "weight_kg",
    "height_cm", "establishment_id", "protocol_key", "confirm_duplicate", "user_id", "format",
    "form", "form_key", "material", "expected_revision", "revision", "decision", "note", "next",
    "f_visit_date", "f_weight_kg", "s_concomitant-0-f_cm_atc", "letter", "answer", "due",
    "identity", "secrecy", "audience", "from", "to", "q", "page", "csrf_token",
]
#: run last: it ends the session the other requests use
LAST = ("accounts.logout",)


@pytest.fixture
def app_config(tmp_path, key_file) -> dict[str, object]:  # noqa: ANN001
    return make_test_config(tmp_path, key_file, PASSWORD_HASHER=CHEAP_ARGON2)


def _world(db: Session) -> tuple[dict[str, Any], list[Any]]:
    """A patient with submissions and a rights request, and the people who open the routes."""
    helpers.install_demo(db)
    site = helpers.site(db)
    doctor = helpers.professional(db, "c.martin", site)
    patient = helpers.register(db, doctor, site)
    helpers.submit(db, doctor, patient, "initiation")
    follow_up = helpers.submit(db, doctor, patient, "follow_up")
    request = rights.submit_request(db, doctor, kind=RequestKind.ACCESS,
                                    case_number=patient.case_number)
    breach = registers.save_breach(db, CLI, None, {
        "title": "Lost laptop", "aware_at": clock.now(), "nature": ["confidentiality"],
        "risk": "risk", "cases": [patient.case_number]})
    registers.save_processor(db, CLI, None, {"name": "HostCo", "role": "host", "country": "FR"})
    registers.send_prescriber_letters(db, CLI, breach.item_no)
    db.commit()
    people = [
        doctor,
        helpers.lab_person(db, "p.vigie", Role.PHARMACOVIGILANCE),
        make_dpo(db),
        make_user(db, "h.petit", role=Role.ADMINISTRATOR),
        make_user(db, "l.durand", role=Role.AUDITOR),
    ]
    db.commit()
    grant = db.query(AccessGrant).first()
    notice = db.query(NoticeVersion).first()
    real = {
        "patient": patient.handle, "submission": follow_up.handle, "rights": request.handle,
        "form_key": "follow_up", "protocol_key": patient.protocol_key, "audience": "patient",
        "number": 1, "version_id": notice.id if notice else 1, "grant_id": grant.id if grant
        else 1, "user_id": doctor.id, "establishment_id": site.id, "code": "en",
        "token": "x" * 40, "kind": "breach", "item_no": breach.item_no, "letter_id": 1,
        "register": "breaches", "fmt": "csv",
    }
    return real, people


def _value(endpoint: str, name: str, converter: Any, real: dict[str, Any],
           rng: random.Random, junk: bool) -> Any:
    choices = getattr(converter, "items", None)
    if choices:  # <any(keep, revoke):decision>
        return rng.choice(sorted(choices))
    if type(converter).__name__ == "IntegerConverter":
        return rng.choice(JUNK_IDS) if junk else real.get(name, 1)
    if junk:
        return rng.choice(JUNK[1:]) or "x"
    if name == "handle":
        area = endpoint.partition(".")[0]
        if area == "rights":
            return real["rights"]
        return real["submission"] if endpoint.startswith("records.submission") or \
            endpoint in ("records.edit", "records.history") else real["patient"]
    return real.get(name, "x")


def _body(rng: random.Random) -> MultiDict:
    return MultiDict([(rng.choice(FIELDS), rng.choice(JUNK)) for _ in range(rng.randint(0, 8))])


def test_no_route_answers_junk_with_a_500(app: Flask, db: Session) -> None:
    real, people = _world(db)
    rng = random.Random(20261129)
    rules = sorted((r for r in app.url_map.iter_rules()
                    if r.endpoint != "static" and not r.endpoint.endswith(".static")),
                   key=lambda r: (r.endpoint in LAST, r.rule))
    failures: list[str] = []
    opened = 0
    for person in people:
        client = app.test_client()
        login(client, person)
        adapter = app.url_map.bind("localhost")
        for rule in rules:
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                for junk in (False, True, True):
                    values = {name: _value(rule.endpoint, name, rule._converters[name], real,
                                           rng, junk)
                              for name in rule.arguments if name not in (rule.defaults or {})}
                    try:
                        url = adapter.build(rule.endpoint, values)
                    except Exception:  # noqa: BLE001 - a value its converter refuses
                        continue
                    query = {rng.choice(FIELDS): rng.choice(JUNK) for _ in range(2)}
                    response = client.open(url, method=method, query_string=query,
                                           data=_body(rng) if method == "POST" else None)
                    response.get_data()  # a streamed answer (CSV export) runs to its end
                    response.close()
                    opened += 1
                    if response.status_code >= 500:
                        failures.append(f"{person.login} {method} {url} -> "
                                        f"{response.status_code}")
    assert opened > 500
    assert failures == []
