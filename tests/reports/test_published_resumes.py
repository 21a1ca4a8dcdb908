"""The approved résumés are published for anyone, linked from the notice pages (PUT-13): no
login and no cookie, approved résumés only, aggregates only, each download audited."""

from __future__ import annotations

import io
from datetime import timedelta

from pypdf import PdfReader
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.reports.calendar import record_approval, record_submission
from portal.reports.routes import RESUME_DOWNLOAD_LIMIT
from portal.reports.services import generate
from tests.records import helpers
from tests.reports.conftest import LOCK


def _approve(db, cohort) -> None:  # noqa: ANN001
    after = LOCK + timedelta(days=1)
    record_submission(db, helpers.CLI, cohort.report, submitted_on=after, reference="S-1")
    record_approval(db, helpers.CLI, cohort.report, approved_on=after, reference="A-1")
    db.commit()


def test_an_unapproved_resume_is_not_published(client, db, cohort) -> None:
    generate(db, helpers.CLI, helpers.PROTOCOL_KEY, LOCK)
    db.commit()
    page = client.get("/reports/resumes?lang=fr")
    assert page.status_code == 200
    assert "Aucun résumé n'a encore été approuvé." in page.get_data(as_text=True)
    assert client.get(f"/reports/resumes/{cohort.report.id}/resume.pdf").status_code == 404
    assert client.get("/reports/resumes/999999/resume.pdf").status_code == 404


def test_the_notice_pages_link_the_approved_resumes(client, db, cohort) -> None:
    generated = generate(db, helpers.CLI, helpers.PROTOCOL_KEY, LOCK)
    _approve(db, cohort)
    notice = client.get("/notices/patient?lang=fr")
    assert notice.status_code == 200
    assert 'href="/reports/resumes?lang=fr"' in notice.get_data(as_text=True)
    page = client.get("/reports/resumes?lang=fr")
    assert page.status_code == 200
    assert "Set-Cookie" not in page.headers
    body = page.get_data(as_text=True)
    assert "Résumés approuvés des rapports périodiques de synthèse" in body
    assert "(A-1)" in body
    assert "affiché « &lt;5 »" in body
    link = f"/reports/resumes/{cohort.report.id}/resume.pdf"
    assert f'href="{link}"' in body
    english = client.get("/reports/resumes?lang=en").get_data(as_text=True)
    assert "Approved résumés of the periodic summary reports" in english
    pdf = client.get(link)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert "Set-Cookie" not in pdf.headers
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages)
    assert "Résumé du rapport périodique de synthèse n° 1" in text
    assert generated.generation.fingerprint in text.replace("\n", "")
    assert "(sur la période)" not in text
    for number in cohort.case_numbers:
        assert number not in text
    entry = db.scalars(
        select(AuditEvent).where(AuditEvent.action == "reports:report:download")
    ).one()
    assert entry.details["file"] == "resume.pdf"
    assert entry.details["published"] == 1
    assert entry.actor_id is None


def test_downloads_of_a_resume_are_limited_per_address(client, db, cohort) -> None:  # noqa: ANN001
    generate(db, helpers.CLI, helpers.PROTOCOL_KEY, LOCK)
    _approve(db, cohort)
    link = f"/reports/resumes/{cohort.report.id}/resume.pdf"
    allowed = int(RESUME_DOWNLOAD_LIMIT.split()[0])
    assert all(client.get(link).status_code == 200 for _ in range(allowed))
    refused = client.get(link)
    assert refused.status_code == 429
    entries = db.scalars(
        select(AuditEvent).where(AuditEvent.action == "reports:report:download")
    ).all()
    assert len(entries) == allowed  # the refused one built nothing and wrote nothing
