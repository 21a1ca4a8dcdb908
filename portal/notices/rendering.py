"""Turn a notice's slot values into its French or English text, from the Jinja templates."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from flask import Flask, current_app, has_request_context, render_template
from flask_babel import force_locale, get_locale
from markupsafe import Markup, escape

from portal.notices.catalog import (
    LANGS,
    MECHANISMS_WITH_COPY,
    SLOTS_BY_KEY,
    Audience,
    SlotKind,
    country_name,
    template_name,
)

_BLANK_LINE = re.compile(r"\n\s*\n")


def paragraphs(text: str) -> Markup:
    """Render plain text as paragraphs; a block whose lines all start with "- " is a list."""
    blocks = [block for block in _BLANK_LINE.split((text or "").strip()) if block.strip()]
    parts = []
    for block in blocks:
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if all(line.startswith("- ") for line in lines):
            items = Markup("").join(Markup("<li>{}</li>").format(line[2:].strip())
                                    for line in lines)
            parts.append(Markup("<ul>{}</ul>").format(items))
        else:
            parts.append(Markup("<p>{}</p>").format(Markup("<br>").join(lines)))
    return Markup("\n").join(parts)


@dataclass(frozen=True)
class TransferView:
    """One transfer outside the EU as a notice shows it."""

    recipient: str
    country: str
    country_code: str
    mechanism: str


class SlotView:
    """The slot values of a notice in one language, as the templates read them.

    In a draft preview an empty slot shows a visible marker instead of nothing, so that the
    editor sees what is missing where it would appear.
    """

    def __init__(self, values: dict[str, Any], lang: str, preview: bool = False) -> None:
        self._values = values
        self.lang = lang
        self.preview = preview

    def get(self, key: str) -> str:
        """Return a slot's text in this language ('' when empty)."""
        value = self._values.get(key)
        if isinstance(value, dict):
            return str(value.get(self.lang) or "").strip()
        if isinstance(value, str):
            return value.strip()
        return ""

    def _missing(self, key: str) -> Markup:
        label = SLOTS_BY_KEY[key].label if key in SLOTS_BY_KEY else key
        return Markup('<mark class="slot-missing">[{}]</mark>').format(str(label))

    def inline(self, key: str) -> Markup:
        """Return a slot's text for use inside a sentence."""
        text = self.get(key)
        if not text and self.preview:
            return self._missing(key)
        return Markup("<br>").join(escape(line) for line in text.splitlines() if line.strip())

    def para(self, key: str) -> Markup:
        """Return a slot's text as paragraphs and lists."""
        text = self.get(key)
        if not text and self.preview:
            return Markup("<p>{}</p>").format(self._missing(key))
        return paragraphs(text)

    def choice(self, key: str) -> str:
        """Return the code chosen for a choice slot ('' when none)."""
        value = self._values.get(key)
        return value if isinstance(value, str) else ""

    @property
    def outside_eu(self) -> bool:
        """True when the notice declares transfers outside the EU."""
        return self.choice("transfers_outside_eu") == "listed"

    @property
    def transfers(self) -> list[TransferView]:
        """Return the declared transfers, with country names in this language."""
        rows = self._values.get("transfers") or []
        return [
            TransferView(
                recipient=str(row.get("recipient") or ""),
                country=country_name(str(row.get("country") or ""), self.lang),
                country_code=str(row.get("country") or ""),
                mechanism=str(row.get("mechanism") or ""),
            )
            for row in rows
            if isinstance(row, dict)
        ]

    @property
    def copy_applies(self) -> bool:
        """True when a transfer relies on safeguards the person may ask a copy of."""
        return self.outside_eu and any(t.mechanism in MECHANISMS_WITH_COPY
                                       for t in self.transfers)


def current_lang() -> str:
    """Return the language of the current request ("fr" outside one)."""
    try:
        locale = get_locale()
    except Exception:  # noqa: BLE001 - no app or request: the portal's first language
        locale = None
    language = getattr(locale, "language", None)
    return language if language in LANGS else "fr"


def local_date(app: Flask, moment: datetime | None, lang: str) -> str:
    """Return a date in the portal's time zone, written out in `lang`."""
    if moment is None:
        return ""
    zone = ZoneInfo(app.config["TIMEZONE"])
    return format_date(moment.astimezone(zone).date(), format="long", locale=lang)


def init_app(app: Flask) -> None:
    """Add the date filters and the notice title helper to the templates."""
    from portal.notices.catalog import audience_title

    app.add_template_global(audience_title, "notice_title")


def render_body(
    audience: Audience,
    values: dict[str, Any],
    lang: str,
    *,
    number: int | None = None,
    published_at: datetime | None = None,
    preview: bool = False,
    app: Flask | None = None,
) -> Markup:
    """Render a notice's full text in `lang` from its slot values.

    Works inside a request or outside one (the demo seeder, the CLI): the text depends only on
    the values, the language and the version's number and date.
    """
    if lang not in LANGS:
        raise ValueError(f"unknown notice language {lang!r}")
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    context = {
        "s": SlotView(values, lang, preview=preview),
        "lang": lang,
        "audience": audience.value,
        "number": number,
        "published_on": local_date(app, published_at, lang),
        "preview": preview,
        "controller_in_eu": SlotView(values, lang).choice("controller_in_eu") != "no",
        "audit_retention_days": int(app.config["AUDIT_RETENTION_DAYS"]),
    }
    if has_request_context():
        with force_locale(lang):
            return Markup(render_template(template_name(audience, lang), **context))  # noqa: S704
    with app.test_request_context("/"), force_locale(lang):
        return Markup(render_template(template_name(audience, lang), **context))  # noqa: S704


def slot_display(key: str, value: Any, lang: str) -> str:
    """Return one slot value as plain text, for the editor's diff."""
    slot = SLOTS_BY_KEY.get(key)
    if slot is None:
        return str(value)
    if slot.kind == SlotKind.BILINGUAL:
        value = value if isinstance(value, dict) else {}
        return str(value.get(lang) or "")
    if slot.kind == SlotKind.TRANSFERS:
        rows = value if isinstance(value, list) else []
        return "\n".join(
            " · ".join(part for part in (
                str(row.get("recipient") or ""),
                country_name(str(row.get("country") or ""), lang),
                str(row.get("mechanism") or "—"),
            ) if part)
            for row in rows if isinstance(row, dict)
        )
    if slot.kind == SlotKind.CHOICE:
        labels = dict(slot.choices)
        return str(labels.get(value, value or ""))
    return str(value or "")
