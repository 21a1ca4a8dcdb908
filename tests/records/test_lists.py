"""Records lists: a tampered row fails alone, the status column, keyset pages, search, sort,
and the pharmacovigilance review list."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from portal import clock
from portal.audit.models import AuditAlert, AuditEvent
from portal.permissions import Role
from portal.records import limitation, overview, submissions
from portal.records.models import Patient, ScheduleState, SubmissionRevision
from tests.helpers_auth import login, make_user
from tests.records import helpers


def _later(days: int = 1) -> datetime:
    """A moment after the grants of the fixtures started (they start at the real now)."""
    return clock.now() + timedelta(days=days)


def _flip(db, model, row_id: int, column: str, at: int = 20) -> None:  # noqa: ANN001
    value = bytearray(db.scalar(select(getattr(model, column)).where(model.id == row_id)))
    value[at] ^= 0x01
    db.execute(update(model).where(model.id == row_id).values({column: bytes(value)}))
    db.commit()


def _alerts(db) -> list[AuditAlert]:  # noqa: ANN001
    db.expire_all()
    return list(db.scalars(select(AuditAlert).where(AuditAlert.rule == "record_integrity")))


def _cases(page: str) -> list[str]:
    """The case numbers of the list's rows, in order (not the search box)."""
    body = re.search(r"<tbody>(.*?)</tbody>", page, re.S)
    return re.findall(r"\b[0-9A-Z]{4}-[0-9A-Z]{4}\b", body.group(1)) if body else []


# --- a tampered row ------------------------------------------------------------------------------


def test_a_tampered_patient_fails_alone_in_the_list(db, client, prescriber, site_a):
    good = helpers.register(db, prescriber, site_a, surname_letters="Bon")
    bad = helpers.register(db, prescriber, site_a, surname_letters="Mal")
    other = helpers.register(db, prescriber, site_a, surname_letters="Aut")
    _flip(db, Patient, bad.id, "identity")
    login(client, prescriber)
    response = client.get("/patients")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "BON-WK" in page and "AUT-WK" in page
    assert f'/patients/{good.handle}"' in page and f'/patients/{other.handle}"' in page
    assert bad.case_number in page and f"/patients/{bad.handle}" not in page
    assert "MAL-WK" not in page
    assert "Integrity check failed: not shown" in page
    [alert] = _alerts(db)
    assert alert.target_ref == bad.reference and alert.count == 1
    # The auditors' alerts page shows the case number beside the reference the alert keeps.
    auditor_client = client.application.test_client()
    login(auditor_client, make_user(db, "a.alerts", role=Role.AUDITOR))
    alerts_page = auditor_client.get("/audit/alerts").get_data(as_text=True)
    assert f"{bad.reference} ({bad.case_number})" in alerts_page
    # Shown again: the same alert, extended, not a second one.
    assert client.get("/patients").status_code == 200
    [alert] = _alerts(db)
    assert alert.count == 2


def test_a_tampered_schedule_fails_alone_in_my_patients(db, client, prescriber, site_a):
    # The overview reads each case's schedule state, not its forms: the sealed state is what
    # a row opens, and what fails alone when altered.
    with clock.frozen(_later()) as frozen:
        start = frozen.at.date() - timedelta(days=60)
        late = helpers.register(db, prescriber, site_a, surname_letters="Lat")
        broken = helpers.register(db, prescriber, site_a, surname_letters="Cas")
        for patient in (late, broken):
            helpers.submit(db, prescriber, patient, "initiation",
                           helpers.initiation_answers(start))
        state = db.scalar(select(ScheduleState).where(ScheduleState.patient_id == broken.id))
        _flip(db, ScheduleState, state.id, "facts")
        login(client, prescriber)
        response = client.get("/my-patients")
        page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f"/patients/{late.handle}" in page and "Overdue" in page
    assert broken.case_number in page and f"/patients/{broken.handle}" not in page
    assert "Integrity check failed" in page
    [alert] = _alerts(db)
    assert alert.target_ref == broken.reference


def test_a_tampered_form_fails_alone_in_my_patients_once_rebuilt(db, client, prescriber,
                                                                 site_a):
    with clock.frozen(_later()) as frozen:
        start = frozen.at.date() - timedelta(days=60)
        late = helpers.register(db, prescriber, site_a, surname_letters="Lat")
        broken = helpers.register(db, prescriber, site_a, surname_letters="Cas")
        for patient in (late, broken):
            helpers.submit(db, prescriber, patient, "initiation",
                           helpers.initiation_answers(start))
        initiation = db.scalar(select(SubmissionRevision).join(SubmissionRevision.submission)
                               .where(SubmissionRevision.submission.has(patient_id=broken.id)))
        _flip(db, SubmissionRevision, initiation.id, "payload")
        done = submissions.rebuild_schedules(db, helpers.CLI)
        assert (done.cases, done.failed) == (2, 1)
        login(client, prescriber)
        response = client.get("/my-patients")
        page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f"/patients/{late.handle}" in page and "Overdue" in page
    assert broken.case_number in page and f"/patients/{broken.handle}" not in page
    assert "Integrity check failed" in page
    assert len(_alerts(db)) == 1


def test_an_export_lists_the_refused_rows(db, client, prescriber, pharmacovigilance, site_a):
    first = helpers.register(db, prescriber, site_a)
    second = helpers.register(db, prescriber, site_a, surname_letters="Yvo")
    kept = helpers.submit(db, prescriber, first, "follow_up", helpers.follow_up_answers("M1"))
    bad = helpers.submit(db, prescriber, second, "follow_up", helpers.follow_up_answers("M1"))
    _flip(db, SubmissionRevision, bad.revisions[0].id, "payload")
    login(client, pharmacovigilance)
    data = {"protocol_key": helpers.PROTOCOL_KEY, "form_key": "follow_up", "fmt": "csv",
            "purpose": "data_quality"}
    text = client.post("/exports", data=data).get_data(as_text=True)
    rows = {row["record_id"]: row for row in csv.DictReader(io.StringIO(text))}
    assert rows[kept.audit_ref]["integrity_check"] == "ok"
    assert rows[kept.audit_ref]["weight_kg"] == helpers.DISTINCTIVE["weight"]
    refused = rows[bad.audit_ref]
    assert refused["integrity_check"] == "failed"
    assert refused["case_number"] == second.case_number and refused["weight_kg"] in ("", None)
    assert helpers.DISTINCTIVE["weight"] not in "".join(
        v or "" for v in refused.values() if isinstance(v, str))
    [alert] = _alerts(db)
    assert alert.target_ref == bad.audit_ref
    odm = client.post("/exports", data={**data, "fmt": "odm"}).get_data(as_text=True)
    assert f"not exported: {bad.audit_ref} (case {second.case_number})" in odm
    assert f'StudyEventRepeatKey="{kept.audit_ref}"' in odm
    assert f'StudyEventRepeatKey="{bad.audit_ref}"' not in odm
    [alert] = _alerts(db)
    assert alert.count == 2


# --- the status column ---------------------------------------------------------------------------


def test_the_status_column_shows_where_each_case_stands(db, client, prescriber, site_a):
    waiting = helpers.register(db, prescriber, site_a, surname_letters="Att")
    treated = helpers.register(db, prescriber, site_a, surname_letters="Tra")
    stopped = helpers.register(db, prescriber, site_a, surname_letters="Arr")
    limited = helpers.register(db, prescriber, site_a, surname_letters="Lim")
    helpers.submit(db, prescriber, waiting, "access")
    for patient in (treated, stopped):
        helpers.submit(db, prescriber, patient, "initiation")
    helpers.submit(db, prescriber, stopped, "discontinuation")
    limitation.limit_patient(db, helpers.CLI, limited, "accuracy_contested")
    db.commit()
    login(client, prescriber)
    page = client.get("/patients").get_data(as_text=True)
    statuses = dict(re.findall(
        r'/patients/[^"]+">([0-9A-Z-]{9})</a>.*?<td class="case-status">(?:<strong>)?([^<]+)',
        page, re.S))
    assert statuses == {
        waiting.case_number: "Initiation not submitted yet",
        treated.case_number: "On treatment",
        stopped.case_number: "Treatment discontinued",
        limited.case_number: "Records limited",
    }


# --- pages, sort, search ---------------------------------------------------------------


@pytest.fixture
def five(db, prescriber, site_a):  # noqa: ANN001, ANN201
    """Five patients registered a day apart, oldest first."""
    made = []
    for day in range(5):
        with clock.frozen(_later(day + 1)):
            made.append(helpers.register(db, prescriber, site_a,
                                         surname_letters=f"P{'abcde'[day]}x"))
    return made


def test_pages_follow_each_other_without_gaps_or_repeats(db, client, prescriber, five,
                                                         monkeypatch):
    monkeypatch.setattr(overview, "PAGE_SIZE", 2)
    login(client, prescriber)
    seen, url, pages = [], "/patients", 0
    while url:
        page = client.get(url).get_data(as_text=True)
        pages += 1
        seen.extend(_cases(page))
        found = re.search(r'href="(/patients\?[^"]*after=[^"]+)" rel="next"', page)
        url = found.group(1).replace("&amp;", "&") if found else ""
        assert pages <= 5
    newest_first = [p.case_number for p in reversed(five)]
    assert seen == newest_first and pages == 3
    # Every address carries only the sort and a random handle.
    assert not any(p.case_number in url for p in five)


def test_lists_sort_by_registration_or_case_number(db, prescriber, five):
    def cases(sort: str) -> list[str]:
        return [r.patient.case_number for r in
                overview.patient_page(db, prescriber, sort=sort).rows]

    assert cases("oldest") == [p.case_number for p in five]
    assert cases("newest") == [p.case_number for p in reversed(five)]
    assert cases("case") == sorted(p.case_number for p in five)
    assert cases("case_desc") == sorted((p.case_number for p in five), reverse=True)
    assert cases("nonsense") == cases("newest")
    page = overview.patient_page(db, prescriber, sort="case", page_size=2)
    after = overview.patient_page(db, prescriber, sort="case", page_size=2,
                                  after=page.next_after)
    assert [r.patient.case_number for r in page.rows + after.rows] == cases("case")[:4]


def test_search_by_case_number_in_a_post_only(db, client, prescriber, five):
    wanted = five[2]
    login(client, prescriber)
    for typed in (wanted.case_number, wanted.case_number.lower().replace("-", ""),
                  f" {wanted.case_number[:6]} "):
        response = client.post("/patients", data={"q": typed})
        page = response.get_data(as_text=True)
        assert response.status_code == 200
        assert wanted.case_number in _cases(page), typed
        if len(typed.strip()) >= 8:
            assert _cases(page) == [wanted.case_number]
    # A text that cannot be a case number: a clear error, the text kept as typed.
    response = client.post("/patients", data={"q": "Dupont <Jean>"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "A case number has eight letters or digits" in page
    assert 'value="Dupont &lt;Jean&gt;"' in page
    nobody = client.post("/patients", data={"q": "ZZZZ-ZZZZ"}).get_data(as_text=True)
    assert "No patient with this case number" in nobody


def test_a_search_continues_on_the_next_page_by_post(db, client, prescriber, five,
                                                     monkeypatch):
    monkeypatch.setattr(overview, "PAGE_SIZE", 1)
    prefix = five[0].case_number[:1]
    matching = sorted(p.case_number for p in five if p.case_number.startswith(prefix))
    login(client, prescriber)
    page = client.post("/patients", data={"q": prefix, "sort": "case"}).get_data(as_text=True)
    assert _cases(page)[:1] == matching[:1]
    if len(matching) > 1:
        after = re.search(r'name="after" value="([^"]+)"', page).group(1)
        nxt = client.post("/patients", data={"q": prefix, "sort": "case", "after": after})
        assert _cases(nxt.get_data(as_text=True))[:1] == matching[1:2]
    assert f"q={prefix}" not in page


def test_my_patients_pages_are_full_whatever_lies_between(db, prescriber, site_a):
    # Cases with nothing due (a visit done, a discontinuation) lie between the due ones: the
    # query leaves them out, so every page but the last is full.
    with clock.frozen(_later()) as frozen:
        start = frozen.at.date() - timedelta(days=60)
        due = []
        for index, letters in enumerate(("Aaa", "Bbb", "Ccc", "Ddd", "Eee")):
            patient = helpers.register(db, prescriber, site_a, surname_letters=letters)
            helpers.submit(db, prescriber, patient, "initiation",
                           helpers.initiation_answers(start))
            due.append(patient)
            for other in range(index % 2 + 1):
                quiet = helpers.register(db, prescriber, site_a,
                                         surname_letters=f"Z{letters[0]}{'yx'[other]}")
                helpers.submit(db, prescriber, quiet, "initiation",
                               helpers.initiation_answers(start))
                helpers.submit(db, prescriber, quiet, "discontinuation")
        pages = [overview.my_patients(db, prescriber, sort="oldest", page_size=2)]
        while pages[-1].next_after:
            pages.append(overview.my_patients(db, prescriber, sort="oldest", page_size=2,
                                              after=pages[-1].next_after))
    assert [len(p.rows) for p in pages] == [2, 2, 1]
    listed = [r.patient.case_number for p in pages for r in p.rows]
    assert listed == [p.case_number for p in due]


# --- the pharmacovigilance review list ---------------------------------------------------


def test_the_review_list_shows_adverse_events_only(db, client, prescriber, pharmacovigilance,
                                                  site_a, monkeypatch):
    first = helpers.register(db, prescriber, site_a)
    second = helpers.register(db, prescriber, site_a, surname_letters="Yvo")
    follow_up = helpers.submit(db, prescriber, first, "follow_up")
    events = [helpers.submit(db, prescriber, patient, "adverse_event", parent=parent)
              for patient, parent in ((first, follow_up), (first, follow_up), (second, None))]
    login(client, pharmacovigilance)
    monkeypatch.setattr(overview, "PAGE_SIZE", 2)
    page = client.get("/pharmacovigilance").get_data(as_text=True)
    assert page.count("/submissions/") == 2
    assert f"/submissions/{events[2].handle}" in page and f"/submissions/{events[1].handle}" \
        in page
    assert f"/submissions/{follow_up.handle}" not in page
    assert "ZQX" not in page  # pseudonymised: case numbers only
    after = re.search(r'href="(/pharmacovigilance\?[^"]+)" rel="next"', page).group(1)
    rest = client.get(after.replace("&amp;", "&")).get_data(as_text=True)
    assert f"/submissions/{events[0].handle}" in rest and "rel=\"next\"" not in rest
    searched = client.post("/pharmacovigilance", data={"q": second.case_number})
    assert _cases(searched.get_data(as_text=True)) == [second.case_number]
    entries = db.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "records:patient:list"))
    assert entries == 3


def test_the_review_list_keeps_to_the_perimeter(db, client, prescriber, prescriber_b,
                                               site_a, site_b):
    mine = helpers.register(db, prescriber, site_a)
    theirs = helpers.register(db, prescriber_b, site_b, surname_letters="Yvo")
    helpers.submit(db, prescriber, mine, "adverse_event")
    helpers.submit(db, prescriber_b, theirs, "adverse_event")
    login(client, prescriber)
    page = client.get("/pharmacovigilance").get_data(as_text=True)
    assert mine.case_number in page and theirs.case_number not in page


def test_case_search_normalises_or_refuses():
    assert overview.case_search(" 7k3m9qxa ") == "7K3M-9QXA"
    assert overview.case_search("7K3M-9Q") == "7K3M-9Q"
    assert overview.case_search("") is None
    for typed in ("Dupont", "7K3M--9QXA", "1 85 05 78 006 084 91", "7K3M-9QXA1"):
        with pytest.raises(overview.SearchError):
            overview.case_search(typed)
