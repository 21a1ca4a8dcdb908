"""What the notices are: the audiences, and the structured slots the DPO fills for each.

The slots follow the checklist of section 4.1 of the domain requirements (GDPR articles 13 and
14, the French additions and section 12.3 of the referential on transfers). Each slot says which
audiences show it, whether publication needs it, and whether changing it is a *material* change
(purposes, recipients, transfers, retention or rights: professionals acknowledge again).
"""

from __future__ import annotations

import enum
import functools
import unicodedata
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l

LANGS = ("fr", "en")


class Audience(enum.StrEnum):
    """Who a notice is written for; the value is also the public URL segment."""

    PATIENT = "patient"
    RELATIVE = "relative"
    PROFESSIONAL = "professional"
    TRANSPARENCY = "transparency"
    WEBSITE = "website"


AUDIENCE_TITLES: dict[Audience, Any] = {
    Audience.PATIENT: _l("Information note for patients"),
    Audience.RELATIVE: _l("Information note for relatives affected by the medicine"),
    Audience.PROFESSIONAL: _l("Information notice for healthcare professionals"),
    Audience.TRANSPARENCY: _l("Information for users of the portal, logging and IT charter"),
    Audience.WEBSITE: _l("Data protection: compassionate access programme"),
}

AUDIENCE_DESCRIPTIONS: dict[Audience, Any] = {
    Audience.PATIENT: _l("Handed over by the prescriber to the patient or their legal "
                         "representative before the treatment starts (GDPR article 14)."),
    Audience.RELATIVE: _l("For a person close to the patient who was affected by the medicine, "
                          "for example a partner during a pregnancy (GDPR article 14)."),
    Audience.PROFESSIONAL: _l("For the prescribers, pharmacists and care staff whose data the "
                              "portal holds (GDPR article 13)."),
    Audience.TRANSPARENCY: _l("Shown to every user at first login and after each material "
                              "change: personal data, logging of actions and the IT charter."),
    Audience.WEBSITE: _l("The page the laboratory publishes on its website (section 10.4 of "
                         "the referential)."),
}

#: article 14 notices: the data do not come from the person
ARTICLE_14 = frozenset({Audience.PATIENT, Audience.RELATIVE, Audience.WEBSITE})


class SlotKind(enum.StrEnum):
    """How a slot is entered and stored."""

    #: one value for both languages (a name, an address, an e-mail address)
    TEXT = "text"
    #: a French and an English value
    BILINGUAL = "bilingual"
    #: one code from a fixed list
    CHOICE = "choice"
    #: the list of transfers outside the EU: recipient, country, mechanism
    TRANSFERS = "transfers"


@dataclass(frozen=True)
class Slot:
    """One piece of a notice that the DPO fills."""

    key: str
    label: Any
    kind: SlotKind
    #: which legal item it answers, shown to the editor
    reference: str
    help: Any = ""
    audiences: frozenset[Audience] = frozenset(Audience)
    #: publication is refused while it is empty; the EU representative, the transfers and the
    #: copy of safeguards are required only in some cases (see services.missing_slots)
    required: bool = True
    #: changing it changes purposes, recipients, transfers, retention or rights
    material: bool = False
    #: the same value in every audience's notice (copied when a new draft starts)
    shared: bool = True
    multiline: bool = True
    max_length: int = 4000
    choices: tuple[tuple[str, Any], ...] = ()


EU_CHOICES = (("yes", _l("Yes, the laboratory is established in the EU")),
              ("no", _l("No: it has appointed a representative in the EU (article 27)")))
TRANSFER_CHOICES = (("none", _l("No transfer outside the EU")),
                    ("listed", _l("Transfers outside the EU, listed below")))


class Mechanism(enum.StrEnum):
    """The legal ground of a transfer outside the EU (chapter V of the GDPR)."""

    ADEQUACY = "adequacy"
    SCC = "scc"
    BCR = "bcr"
    ART49 = "art49"


MECHANISM_LABELS: dict[str, Any] = {
    Mechanism.ADEQUACY: _l("Adequacy decision of the European Commission (article 45)"),
    Mechanism.SCC: _l("Standard contractual clauses of the European Commission (article 46)"),
    Mechanism.BCR: _l("Binding corporate rules (article 47)"),
    Mechanism.ART49: _l("Derogation for a specific situation (article 49)"),
}
#: the mechanisms whose safeguards the person may ask a copy of (articles 13(1)(f), 14(1)(f))
MECHANISMS_WITH_COPY = frozenset({Mechanism.SCC, Mechanism.BCR})

_ALL = frozenset(Audience)
_ART14 = ARTICLE_14
_PROVISION = frozenset({Audience.PATIENT, Audience.PROFESSIONAL, Audience.TRANSPARENCY,
                        Audience.WEBSITE})

SLOTS: tuple[Slot, ...] = (
    Slot("controller_name", _l("Controller's name"), SlotKind.TEXT, "13(1)(a) · 14(1)(a)",
         _l("The laboratory holding the rights to use the medicine."),
         multiline=False, max_length=200),
    Slot("controller_address", _l("Controller's postal address and contact"), SlotKind.TEXT,
         "13(1)(a) · 14(1)(a)", max_length=600),
    Slot("controller_in_eu", _l("Controller established in the European Union"),
         SlotKind.CHOICE, "27", choices=EU_CHOICES, multiline=False),
    Slot("eu_representative", _l("Representative in the EU, name and contact"), SlotKind.TEXT,
         "13(1)(a) · 27", _l("Required when the controller is not established in the EU."),
         required=False, max_length=600),
    Slot("dpo_contact", _l("Data protection officer's contact details"), SlotKind.TEXT,
         "13(1)(b) · 14(1)(b)", _l("Postal address and e-mail address of the DPO."),
         max_length=600),
    Slot("product", _l("Medicine"), SlotKind.TEXT, "L. 5121-12-1 CSP",
         _l("Taken from the installed protocol when there is one."), multiline=False,
         max_length=300),
    Slot("indication", _l("Indication"), SlotKind.BILINGUAL, "L. 5121-12-1 CSP",
         _l("Taken from the installed protocol when there is one."), max_length=1000),
    Slot("purposes", _l("Purposes"), SlotKind.BILINGUAL, "13(1)(c) · 14(1)(c)",
         material=True),
    Slot("legal_bases", _l("Legal bases"), SlotKind.BILINGUAL, "13(1)(c) · 14(1)(c)",
         _l("Article 6(1)(c) legal obligation and article 9(2)(i) public health."),
         material=True),
    Slot("data_categories", _l("Categories of data"), SlotKind.BILINGUAL, "14(1)(d)",
         _l("What this audience's data are. Start a line with \"- \" to make a list."),
         shared=False),
    Slot("data_source", _l("Source of the data"), SlotKind.BILINGUAL, "14(2)(f)",
         _l("Who sends the data to the laboratory; no publicly accessible source."),
         audiences=_ART14, shared=False),
    Slot("recipients", _l("Recipients"), SlotKind.BILINGUAL, "13(1)(e) · 14(1)(e)",
         _l("Start a line with \"- \" to make a list."), material=True),
    Slot("transfers_outside_eu", _l("Transfers outside the European Union"), SlotKind.CHOICE,
         "13(1)(f) · 14(1)(f) · referential 12.3", choices=TRANSFER_CHOICES, material=True,
         multiline=False),
    Slot("transfers", _l("Transfers: recipient, country and mechanism"), SlotKind.TRANSFERS,
         "13(1)(f) · 14(1)(f) · 45-49",
         _l("Every transfer needs a country and a mechanism; remote access from outside the "
            "EU counts as a transfer (referential 12.4)."), required=False, material=True),
    Slot("transfer_copy", _l("How to obtain a copy of the safeguards"), SlotKind.BILINGUAL,
         "13(1)(f) · 14(1)(f)",
         _l("Required when a transfer relies on standard clauses or binding corporate rules."),
         required=False, material=True),
    Slot("retention", _l("Retention periods, in plain words"), SlotKind.BILINGUAL,
         "13(2)(a) · 14(2)(a)", material=True),
    Slot("rights", _l("Rights that apply"), SlotKind.BILINGUAL, "13(2)(b) · 14(2)(c)",
         _l("Access, rectification and limitation."), material=True),
    Slot("rights_not_applicable", _l("Rights that do not apply, and why"), SlotKind.BILINGUAL,
         "13(2)(b) · referential 11.3",
         _l("Objection, erasure and portability, and the reason."), material=True),
    Slot("rights_exercise", _l("How to exercise the rights"), SlotKind.BILINGUAL,
         "referential 11.4-11.6", material=True, shared=False),
    Slot("complaint", _l("Supervisory authority for complaints"), SlotKind.TEXT,
         "13(2)(d) · 14(2)(e)", _l("The CNIL's address or complaint page."), max_length=400),
    Slot("post_mortem", _l("Directives after death"), SlotKind.BILINGUAL,
         "loi Informatique et Libertés, art. 85"),
    Slot("provision_requirement", _l("Whether providing the data is required"),
         SlotKind.BILINGUAL, "13(2)(e)", audiences=_PROVISION, shared=False),
    Slot("automated_decisions", _l("Automated decisions"), SlotKind.BILINGUAL,
         "13(2)(f) · 14(2)(g)"),
    Slot("security_contact", _l("Where to report a security incident"), SlotKind.TEXT,
         "SEC-SEN-2", _l("Shown in the IT charter."),
         audiences=frozenset({Audience.TRANSPARENCY}), max_length=400),
)

SLOTS_BY_KEY: dict[str, Slot] = {slot.key: slot for slot in SLOTS}


def slots_for(audience: Audience) -> tuple[Slot, ...]:
    """Return the slots a notice for `audience` shows, in the editor's order."""
    return tuple(slot for slot in SLOTS if audience in slot.audiences)


def audience_title(audience: Audience) -> str:
    """Return the translated title of an audience's notice."""
    return str(AUDIENCE_TITLES[audience])


def template_name(audience: Audience, lang: str) -> str:
    """Return the template holding the text of a notice in one language."""
    return f"notices/{audience.value}.{lang}.html"


#: EU member states (with the outermost regions that have their own code) and the EEA: sending
#: data there is not a transfer outside the EU
EU_EEA = frozenset({
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT",
    "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
    "AX", "GF", "GP", "MQ", "RE", "YT", "MF", "IC", "EA",
    "IS", "LI", "NO",
})
#: codes in the CLDR list that are not countries or territories one sends data to
_NOT_COUNTRIES = frozenset({"AC", "CP", "CQ", "DG", "EU", "EZ", "QO", "TA", "UN", "XA", "XB",
                            "ZZ"})


@functools.lru_cache(maxsize=4)
def _territories(lang: str) -> dict[str, str]:
    from babel import Locale

    return dict(Locale.parse(lang).territories)


def is_third_country(code: str) -> bool:
    """True for a known country or territory outside the EU and the EEA."""
    return (len(code) == 2 and code.isalpha() and code.isupper() and code not in EU_EEA
            and code not in _NOT_COUNTRIES and code in _territories("en"))


def country_name(code: str, lang: str) -> str:
    """Return a country's name in `lang`, or the code when unknown."""
    return _territories(lang).get(code, code)


def third_country_choices(lang: str) -> list[tuple[str, str]]:
    """Return (code, name) of every country outside the EU/EEA, sorted by name in `lang`."""
    names = _territories(lang)
    codes = [code for code in names if is_third_country(code)]
    return sorted(((code, names[code]) for code in codes), key=lambda item: _sort_key(item[1]))


def _sort_key(name: str) -> str:
    # "États-Unis" sorts with the E's, not after "Zimbabwe".
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().casefold()
