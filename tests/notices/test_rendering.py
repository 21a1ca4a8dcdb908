"""How slot values become the notice text: paragraphs, lists, escaping, the logging section."""

from __future__ import annotations

from jinja2 import BaseLoader, TemplateNotFound

from portal.notices import services
from portal.notices.catalog import Audience
from portal.notices.rendering import paragraphs, render_body
from tests.notices.conftest import CLI, complete_values, publish_notice


def test_blank_lines_make_paragraphs_and_dashes_make_lists() -> None:
    html = str(paragraphs("First line\nsame paragraph\n\n- one\n- two <b>\n\nLast"))

    assert html == ("<p>First line<br>same paragraph</p>\n"
                    "<ul><li>one</li><li>two &lt;b&gt;</li></ul>\n"
                    "<p>Last</p>")


def test_slot_values_are_escaped_in_the_published_text(db) -> None:
    version = publish_notice(db, Audience.PATIENT,
                             dpo_contact='<script>alert("x")</script> dpo@example.org')

    assert "<script>" not in version.body_fr
    assert "&lt;script&gt;" in version.body_en


def test_a_draft_preview_marks_each_missing_slot(app, db) -> None:
    draft = services.start_draft(db, CLI, Audience.PATIENT)
    values = complete_values(draft, purposes={"fr": "", "en": "Follow-up."},
                             transfers_outside_eu="")

    with app.app_context():
        french = str(render_body(Audience.PATIENT, values, "fr", number=1, preview=True))
        english = str(render_body(Audience.PATIENT, values, "en", number=1, preview=True))

    assert '<mark class="slot-missing">[Finalités]</mark>' in french
    assert "[Transferts hors de l'Union européenne : à préciser]" in french
    assert "Projet de version 1 : pas encore publié." in french
    assert "Follow-up." in english and "[Purposes]" not in english


def test_the_transparency_notice_includes_the_logging_notice_and_the_charter(db) -> None:
    version = publish_notice(db, Audience.TRANSPARENCY)

    # The audit area's text (SEC-JOU-2) and its retention period.
    assert 'class="logging-notice"' in version.body_en
    assert "365 days" in version.body_en
    assert "securite@example.org" in version.body_fr  # the charter's incident contact
    assert "articles 226-16 to 226-24" in version.body_en


class _WithoutAuditNotice(BaseLoader):
    """The portal's templates, minus the audit area's logging text."""

    def __init__(self, inner: BaseLoader) -> None:
        self.inner = inner

    def get_source(self, environment, template):  # noqa: ANN001, ANN201
        if template == "audit/_logging_notice.html":
            raise TemplateNotFound(template)
        return self.inner.get_source(environment, template)


def test_without_the_audit_text_the_notice_still_explains_the_logging(app, db) -> None:
    app.jinja_env.loader = _WithoutAuditNotice(app.jinja_env.loader)
    app.jinja_env.cache.clear()

    version = publish_notice(db, Audience.TRANSPARENCY)

    assert "La journalisation de vos actions" in version.body_fr
    assert "Les traces sont conservées 365 jours, puis supprimées." in version.body_fr
    assert "The records are kept for 365 days, then deleted." in version.body_en
