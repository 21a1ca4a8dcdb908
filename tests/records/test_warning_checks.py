"""An unusual value (a `severity: warning` check, as imported from an ODM soft range check):
the form is saved only once the professional confirms it, and the confirmation is kept with the
submission and in the audit trail (the mechanism of the out-of-window visit)."""

from __future__ import annotations

import re
from datetime import timedelta

import yaml
from sqlalchemy import func, select

from portal import clock
from portal.audit.models import AuditEvent
from portal.protocols.services import install_protocol
from portal.records.models import Submission
from tests.helpers_auth import login
from tests.records import helpers


def _install_with_warning(db, tmp_path):  # noqa: ANN001, ANN202
    definition = yaml.safe_load(helpers.DEMO_PROTOCOL.read_text(encoding="utf-8"))
    definition["version"] = "1.1"
    initiation = next(f for f in definition["forms"] if f["key"] == "initiation")
    initiation.setdefault("checks", []).append({
        "key": "score_usual", "expression": "baseline_efficacy_score <= 90",
        "message": {"fr": "Score inhabituel (au-delà de 90) : vérifiez-le.",
                    "en": "Unusual score (above 90): check it."},
        "fields": ["baseline_efficacy_score"], "severity": "warning"})
    path = tmp_path / "demo-warning.yaml"
    path.write_text(yaml.safe_dump(definition, allow_unicode=True, sort_keys=False),
                    encoding="utf-8")
    install_protocol(db, helpers.CLI, path)
    db.commit()


def _post(client, db, patient, score: int, **extra):  # noqa: ANN001, ANN003, ANN202
    url = f"/patients/{patient.handle}/forms/initiation"
    page = client.get(url).get_data(as_text=True)
    token = re.search(r'name="token"[^>]*value="([^"]+)"', page).group(1)
    answers = helpers.initiation_answers()
    answers["baseline_efficacy_score"] = score
    data = helpers.form_data(answers, "initiation", db)
    data.update(token=token, action="submit", **extra)
    return client.post(url, data=data)


def _initiations(db) -> int:  # noqa: ANN001
    return db.scalar(select(func.count()).select_from(Submission)
                     .where(Submission.form_key == "initiation"))


def test_an_unusual_value_is_saved_once_confirmed_and_the_confirmation_is_kept(
        db, client, prescriber, site_a, tmp_path):
    with clock.frozen(clock.now() + timedelta(days=1)):
        _install_with_warning(db, tmp_path)
        patient = helpers.register(db, prescriber, site_a)
        login(client, prescriber)

        response = _post(client, db, patient, 95)
        page = response.get_data(as_text=True)
        assert response.status_code == 422 and _initiations(db) == 0
        assert "Unusual score (above 90): check it." in page or \
            "Score inhabituel (au-delà de 90) : vérifiez-le." in page
        assert 'value="95"' in page  # what was typed is shown again
        confirm = re.search(r'name="confirm_warnings" value="([0-9a-f]+)"', page).group(1)

        # A confirmation of another value does not count: asked again.
        again = _post(client, db, patient, 96, confirm_warnings=confirm)
        assert again.status_code == 422 and _initiations(db) == 0

        saved = _post(client, db, patient, 95, confirm_warnings=confirm)
        assert saved.status_code == 303, saved.get_data(as_text=True)[:2000]
        submission = db.scalar(select(Submission).where(Submission.form_key == "initiation"))
        assert submission.revisions[-1].confirmed_checks == "score_usual"
        entry = db.scalar(select(AuditEvent).where(
            AuditEvent.action == "records:submission:checks_confirmed"))
        assert entry is not None and entry.target_ref == submission.audit_ref
        assert entry.details["checks"] == "score_usual"


def test_a_usual_value_needs_no_confirmation(db, client, prescriber, site_a, tmp_path):
    with clock.frozen(clock.now() + timedelta(days=1)):
        _install_with_warning(db, tmp_path)
        patient = helpers.register(db, prescriber, site_a)
        login(client, prescriber)
        response = _post(client, db, patient, 50)
        assert response.status_code == 303
        submission = db.scalar(select(Submission).where(Submission.form_key == "initiation"))
        assert submission.revisions[-1].confirmed_checks is None
