"""A NIR or INS, in any disguise, is refused in every input of every protocol form (submitted or
saved as a draft) and of the registration form, and never reaches the database (issue 26)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, inspect, select, text
from werkzeug.datastructures import MultiDict

from portal.audit.models import AuditEvent
from portal.identifiers import normalise_typed
from portal.protocols.builder import form_plan, validate_answers, validate_draft
from portal.protocols.fields import IDENTIFIER_MESSAGE
from portal.protocols.services import current_version
from portal.records import submissions
from portal.records.models import Patient, Submission
from tests.helpers_auth import login
from tests.records import helpers
from tests.records.disguises import any_disguise

REFUSED = "social security number"
_tokens = itertools.count()


def fuzz(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def _protocol(db):  # noqa: ANN001, ANN202
    version = current_version(db, helpers.PROTOCOL_KEY)
    return submissions.form_ref(version, "access").protocol


def _inputs(protocol, form_key: str) -> list[tuple[str, str]]:  # noqa: ANN001
    """(input name, answer key) of every input of a form, a repeated one in its first entry."""
    plan = form_plan(protocol, form_key)
    found = []
    for section in plan.sections.values():
        for fplan in section.fields:
            name = f"{section.name}-0-{fplan.name}" if section.repeated else fplan.name
            found.append((name, fplan.key))
    return found


def _every_input(protocol) -> list[tuple[str, str, str]]:  # noqa: ANN001
    return [(form.key, name, key) for form in protocol.definition.forms
            for name, key in _inputs(protocol, form.key)]


def _digits(value: str) -> str:
    """The identifier itself, as the disguise hides it (ASCII digits, A/B)."""
    return re.sub(r"[^0-9A-Z]", "", normalise_typed(value).upper())


def database_text(app, db) -> bytes:  # noqa: ANN001
    """Everything the database holds: the SQLite file and its WAL, or every column of every
    PostgreSQL table read as text (what a dump would show)."""
    db.commit()
    url = app.config["DATABASE_URL"]
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    chunks = []
    inspector = inspect(db.get_bind())
    for table in inspector.get_table_names():
        columns = [c["name"] for c in inspector.get_columns(table)]
        if not columns:
            continue
        select_list = ", ".join(f'"{c}"::text' for c in columns)
        for row in db.execute(text(f'SELECT {select_list} FROM "{table}"')):  # noqa: S608
            chunks.extend((value or "").encode() for value in row)
    return b"\n".join(chunks)


def assert_nowhere_stored(app, db, typed: list[str]) -> None:  # noqa: ANN001
    stored = database_text(app, db)
    for value in typed:
        digits = _digits(value)
        assert digits.encode() not in stored, f"{digits} stored (typed as {value!r})"
        assert value.strip().encode() not in stored, f"{value!r} stored"


def test_every_input_of_every_form_refuses_a_nir_in_programmatic_answers(db, protocol) -> None:
    """validate_answers and validate_draft (the services' checks) refuse it in every field."""
    loaded = _protocol(db)
    for form_key, name, key in _every_input(loaded):
        for nir in ("185057800608491", "1\u200b85 05 78 006 084 91", "1.85057800608491E+14",
                    "\uff12\uff19\uff10\uff11\uff12\uff12\uff21\uff10\uff10\uff14\uff11\uff12"
                    "\uff13\uff16\uff17"):
            draft = validate_draft(loaded, form_key, {name: [nir]})
            assert draft.errors.get(name) == [str(IDENTIFIER_MESSAGE)], (form_key, name, nir)
            assert name not in draft.texts
            section = form_plan(loaded, form_key).fields[key].section
            answers = ({section: [{key: nir}]} if name.startswith("s_") else {key: nir})
            result = validate_answers(loaded, form_key, answers)
            assert not result.valid and str(IDENTIFIER_MESSAGE) in str(result.errors), \
                (form_key, name, nir)


@fuzz(60)
@given(data=st.data(), draft=st.booleans())
def test_a_disguised_nir_or_ins_is_refused_in_every_protocol_form(app, db, client, prescriber,
                                                                  patient, data, draft) -> None:
    if not getattr(client, "disguise_logged_in", False):
        login(client, prescriber)
        client.disguise_logged_in = True
    loaded = _protocol(db)
    form_key, name, _key = data.draw(st.sampled_from(_every_input(loaded)))
    value = data.draw(any_disguise())
    answers = helpers.ANSWERS.get(form_key, dict)()
    posted = helpers.form_data(answers, form_key, db)
    posted[name] = value
    posted.update(token=f"disguise-{next(_tokens):08d}", action="draft" if draft else "submit")
    response = client.post(f"/patients/{patient.handle}/forms/{form_key}",
                           data=MultiDict(list(posted.items())))
    page = response.get_data(as_text=True)
    assert response.status_code == 422, (form_key, name, value)
    assert REFUSED in page
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Submission)) == 0
    assert_nowhere_stored(app, db, [value])


REGISTRATION_INPUTS = ["surname_letters", "first_name_letters", "birth_year", "birth_day",
                       "weight_kg", "height_cm", "sex", "birth_month", "establishment_id",
                       "protocol_key"]


@fuzz(30)
@given(data=st.data())
def test_a_disguised_nir_or_ins_is_refused_in_the_registration_form(app, db, client,
                                                                     prescriber, site_a,
                                                                     data) -> None:
    if not getattr(client, "disguise_logged_in", False):
        login(client, prescriber)
        client.disguise_logged_in = True
    name = data.draw(st.sampled_from(REGISTRATION_INPUTS))
    value = data.draw(any_disguise())
    posted = {"surname_letters": "Zqx", "first_name_letters": "Wk", "sex": "F",
              "birth_month": "4", "birth_year": "1961", "weight_kg": "64.2", "height_cm": "168",
              "establishment_id": str(site_a.id), "protocol_key": helpers.PROTOCOL_KEY}
    posted[name] = value
    response = client.post("/patients/new", data=posted)
    assert response.status_code == 422, (name, value)
    assert REFUSED in response.get_data(as_text=True)
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Patient)) == 0
    assert_nowhere_stored(app, db, [value])


def test_the_field_name_alone_is_logged(app, db, client, prescriber, patient) -> None:
    login(client, prescriber)
    nir = "\u0661\u0668\u0665\u0660\u0665\u0667\u0668\u0660\u0660\u0666\u0660\u0668\u0664\u0669" \
          "\u0661"
    posted = helpers.form_data(helpers.follow_up_answers(), "follow_up", db)
    posted.update(f_weight_kg=nir, token="disguise-log-00000001", action="draft")
    response = client.post(f"/patients/{patient.handle}/forms/follow_up", data=posted)
    assert response.status_code == 422
    assert_nowhere_stored(app, db, [nir])
    refused = db.scalars(select(AuditEvent).where(
        AuditEvent.action == "records:identifier:refuse")).all()
    assert [e.details for e in refused] == [{"field": "f_weight_kg", "context": "form:follow_up"}]
