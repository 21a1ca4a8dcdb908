"""The demo seeder publishes version 1 of every notice for the fictitious laboratory."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.notices import services
from portal.notices.catalog import Audience
from portal.notices.demo import seed_demo
from portal.notices.models import NoticeStatus, NoticeVersion


def test_the_demo_publishes_every_notice_once(app, db) -> None:
    lines = seed_demo(app, db)
    db.commit()
    again = seed_demo(app, db)
    db.commit()

    assert lines == ["Notices published (version 1, approved by portal demo): patient, relative, "
                     "professional, transparency, website."]
    assert again == ["Notices: already published."]
    assert db.scalar(select(func.count(NoticeVersion.id))) == len(Audience)
    for audience in Audience:
        version = services.current_published(db, audience)
        assert (version.number, version.status) == (1, NoticeStatus.PUBLISHED)
        assert "Laboratoire Exemple SAS" in version.body_fr
        assert "Exemple Pharma Inc., États-Unis" in version.body_fr
        assert "standard contractual clauses" in version.body_en


def test_the_demo_dpo_approves_the_demo_notices(app, db, dpo) -> None:
    seed_demo(app, db)

    version = services.current_published(db, Audience.PATIENT)
    assert version.approved_by_id == dpo.id
    assert version.approved_by_label == "Isabelle Laurent"
