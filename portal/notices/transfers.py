"""Transfers outside the EU as another area keeps them (the processors register).

A notice's transfer paragraph (item 6 of section 4.1) must not disagree with the register of
processors and transfers. The registers area installs the list it keeps with
`use_transfer_register`; once that list holds an entry, the notices take their
`transfers_outside_eu` and `transfers` slots from it when a draft is previewed or published,
whatever the editor typed. Without a register, or while it is empty, the editor's slots are used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, has_request_context, render_template_string
from flask_babel import force_locale
from markupsafe import Markup
from sqlalchemy.orm import Session

from portal.db import app_of
from portal.notices.catalog import LANGS, Mechanism, country_name, is_third_country
from portal.notices.rendering import SlotView

#: returns one {"recipient", "country", "mechanism"} row per transfer outside the EU, or None
#: while the register is not kept yet (then the editor's slots are used)
TransferSource = Callable[[Session], list[dict[str, str]] | None]

_SOURCE = "portal.notices.transfer_source"

__all__ = ["Mechanism", "TransferSource", "country_name", "is_third_country",
           "register_transfers", "transfer_paragraph", "use_transfer_register",
           "with_register_transfers"]


def use_transfer_register(app: Flask, source: TransferSource) -> None:
    """Make `source` the one list the notices' transfer paragraphs are generated from."""
    app.extensions[_SOURCE] = source


def register_transfers(session: Session) -> list[dict[str, str]] | None:
    """Return the transfers of the installed register, or None when there is none."""
    source = app_of(session).extensions.get(_SOURCE)
    rows = source(session) if source is not None else None
    if rows is None:
        return None
    return [{"recipient": str(row.get("recipient") or ""), "country": str(row["country"]),
             "mechanism": str(row.get("mechanism") or "")} for row in rows]


def with_register_transfers(session: Session, values: dict[str, Any]) -> dict[str, Any]:
    """Return slot values whose transfer slots come from the register (a copy; or `values`)."""
    rows = register_transfers(session)
    if rows is None:
        return values
    merged = dict(values)
    merged["transfers_outside_eu"] = "listed" if rows else "none"
    merged["transfers"] = rows
    return merged


_PARAGRAPH = ('{% import "notices/_blocks." ~ lang ~ ".html" as blocks %}'
              '{{ blocks.transfers(s) }}')


def transfer_paragraph(session: Session, lang: str, values: dict[str, Any] | None = None
                       ) -> Markup:
    """Render the transfer paragraph the notices show, in `lang`, from the register."""
    if lang not in LANGS:
        raise ValueError(f"unknown notice language {lang!r}")
    merged = with_register_transfers(session, values or {})
    app = app_of(session) if not has_request_context() else current_app._get_current_object()  # type: ignore[attr-defined]
    context = {"s": SlotView(merged, lang), "lang": lang}
    if has_request_context():
        with force_locale(lang):
            return Markup(render_template_string(_PARAGRAPH, **context))  # noqa: S704
    with app.test_request_context("/"), force_locale(lang):
        return Markup(render_template_string(_PARAGRAPH, **context))  # noqa: S704
