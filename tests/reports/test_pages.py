"""The reports' pages for medical affairs: calendar, a report's tables and files, the dashboard
with its charts; aggregates only, nothing identifying, each generation and download audited."""

from __future__ import annotations

import io
import re

from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.permissions import Role
from tests.helpers_auth import csrf_token, login
from tests.records import helpers

SMALL_CELL = re.compile(r"<td>\s*[1-4]\s*</td>")


def _no_case_numbers(body: str, cohort) -> None:  # noqa: ANN001
    for number in cohort.case_numbers:
        assert number not in body


def test_medical_affairs_reads_the_calendar_and_a_report(
    client, db, cohort, medical_affairs
) -> None:
    login(client, medical_affairs)
    home = client.get("/reports/")
    assert home.status_code == 200
    body = home.get_data(as_text=True)
    assert f"{helpers.PROTOCOL_KEY} n° 1" in body
    page = f"/reports/{cohort.report.id}"
    assert "has not been computed yet" in client.get(page).get_data(
        as_text=True
    ) or "pas encore été calculé" in client.get(page).get_data(as_text=True)
    posted = client.post(f"{page}/generate", data=csrf_token(client, page))
    assert posted.status_code == 303
    body = client.get(page).get_data(as_text=True)
    assert "Demandes d&#39;accès par sexe (sur la période)" in body
    assert not SMALL_CELL.search(body)
    assert "&lt;5" in body
    _no_case_numbers(body, cohort)
    pdf = client.get(f"{page}/rapport.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages)
    assert "Rapport périodique de synthèse n° 1" in text
    book = load_workbook(io.BytesIO(client.get(f"{page}/tableaux.xlsx").data))
    assert "sex_cumul" in book.sheetnames
    assert client.get(f"{page}/secret.txt").status_code == 404
    actions = list(
        db.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.action.like("reports:%"))
            .order_by(AuditEvent.seq)
        )
    )
    assert actions[-3:] == [
        "reports:report:generate",
        "reports:report:download",
        "reports:report:download",
    ]


def test_the_dashboard_shows_charts_and_suppressed_tables(client, cohort, medical_affairs) -> None:
    login(client, medical_affairs)
    response = client.get("/reports/dashboard")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert body.count("<svg") == 4
    assert "<script" not in body.split("<main", 1)[-1].split("</main>", 1)[0]
    assert not SMALL_CELL.search(body)
    assert not re.search(r">\s*[1-4]\s*</text>", body)  # no small count in a chart label
    _no_case_numbers(body, cohort)
    assert "Content-Security-Policy" in response.headers


def test_a_prescriber_has_no_reports(client, db, cohort) -> None:
    prescriber = db.scalar(select(helpers.User).where(helpers.User.login == "c.martin"))
    login(client, prescriber)
    assert client.get("/reports/").status_code == 403
    assert client.get("/reports/dashboard").status_code == 403


def test_medical_affairs_sees_nothing_identifying(client, db, cohort, medical_affairs) -> None:
    login(client, medical_affairs)
    page = f"/reports/{cohort.report.id}"
    client.post(f"{page}/generate", data=csrf_token(client, page))
    bodies = [client.get(path).get_data(as_text=True)
              for path in ("/reports/", page, "/reports/dashboard")]
    for body in bodies:
        _no_case_numbers(body, cohort)
        for patient in cohort.patients:
            assert patient.handle not in body
        # The identity letters the cohort was registered with.
        assert "Zqx" not in body and "ZQX" not in body
        assert "/patients/" not in body
    # A patient's page stays closed to an aggregate-only role.
    patient = cohort.patients[0]
    assert client.get(f"/patients/{patient.handle}").status_code in (403, 404)


def test_the_pharmacist_in_charge_sees_the_calendar_and_the_dashboard(client, db, cohort) -> None:
    person = helpers.lab_person(db, "p.resp", Role.PHARMACIST_IN_CHARGE)
    login(client, person)
    assert client.get("/reports/").status_code == 200
    response = client.get("/reports/dashboard")
    assert response.status_code == 200
    assert not SMALL_CELL.search(response.get_data(as_text=True))
