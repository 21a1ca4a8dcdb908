"""The compliance linter: data-minimisation rules of the referential, section 7.

Each rule has a stable id (used in messages, tests and documentation) and yields `Finding`s that
point to a path inside the definition; the loader turns paths into file:line:column.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from portal.protocols.expressions import NUMBER, ExpressionError, compile_expression
from portal.protocols.patterns import admits, pattern_facts
from portal.protocols.schema import (
    EXPOSURE_FORM_KINDS,
    IDENTIFIES_VALUES,
    MAX_CODED_LENGTH,
    PROFESSIONAL_VALUES,
    SENSITIVE_CATEGORIES,
    Category,
    CodedFieldDef,
    FieldDef,
    Form,
    IntegerFieldDef,
    Protocol,
    ReportStatistic,
    Section,
)
from portal.protocols.scope import DependencyCycle, evaluation_order, form_scope, section_scope

Path = tuple[str | int, ...]


class Rule(StrEnum):
    """Stable rule ids, as printed between brackets."""

    no_free_text = "no-free-text"
    coded_value_bounded = "coded-value-bounded"
    patient_identification = "patient-identification"
    full_birth_date = "full-birth-date"
    no_nir_ins = "no-nir-ins"
    sensitive_justification = "sensitive-justification"
    no_complete_genome = "no-complete-genome"
    related_persons = "related-persons"
    professional_data = "professional-data"
    put_ref_required = "put-ref-required"
    unique_keys = "unique-keys"
    unique_choice_codes = "unique-choice-codes"
    expression = "expression"
    schedule = "schedule"
    report_tables = "report-tables"
    #: Warnings: `protocol check` passes with them, `protocol install` refuses them.
    review_pending = "review-pending"
    placeholder = "placeholder"


@dataclass(frozen=True)
class Finding:
    """One broken rule, located by its path in the definition."""

    path: Path
    field_key: str | None
    rule: Rule
    message: str
    fix: str


#: Field types that would be free-text zones; none exists in the schema (referential 7.3).
FREE_TEXT_TYPES = frozenset(
    {"text", "textarea", "string", "str", "notes", "note", "free_text", "freetext", "comment",
     "memo", "richtext", "rich_text", "textline", "paragraph", "essay", "descriptive", "file"}
)
#: Minimum length of a necessity justification: a sentence, not a placeholder.
MIN_JUSTIFICATION = 20


def plain(text: str) -> str:
    """Lower-case `text` and strip accents so that word lists match French and English."""
    decomposed = unicodedata.normalize("NFKD", text.replace("’", "'"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def _words(*patterns: str) -> re.Pattern[str]:
    """Match any of the words or phrases, as whole words."""
    return re.compile(r"(?<![a-z0-9])(?:" + "|".join(patterns) + r")(?![a-z0-9])")


# Word lists run on the key (underscores read as spaces) and on both labels and helps.
_NIR_INS = _words(
    "nir", "ins", "nia", "insee", "ssn", "secu", "securite sociale", "social security",
    "matricule ins", "matricule", "identite nationale de sante", "national health identifier",
    "repertoire national d'identification", "carte vitale", "numero de secu",
)
_FREE_TEXT_WORDS = _words(
    "comments?", "commentaires?", "remarks?", "remarques?", "notes?", "observations?",
    "precisez", "preciser", "specify", "free text", "texte libre", "details?", "description",
)
_PERSON_NAME = _words(
    "surname", "firstname", "lastname", "prenoms?", "fullname", "full name",
    "first name", "last name", "family name", "given name", "maiden name", "patient'?s? name",
    "name of the patient", "nom de (?:famille|naissance|jeune fille|usage)", "nom du patient",
    "initials", "initiales (?:du|de la|des)", "lettres du (?:nom|prenom)",
)
_CONTACT = _words(
    "address", "adresse", "postcode", "post code", "postal code", "code postal", "zip",
    "phone", "telephone", "mobile", "email", "e-mail", "courriel", "mail", "ipp",
    "medical record", "mrn", "numero de dossier", "dossier number", "photo", "photograph",
    "lieu de naissance", "birthplace", "place of birth", "commune de naissance",
)
_BIRTH = _words(
    "birth", "birthdate", "naissance", "dob", "ddn", "born",
)
_RELATED = _words(
    "partner", "partenaire", "conjointe?", "spouse", "husband", "wife", "father", "mother",
    "pere", "mere", "neonate", "newborn", "nouveau-ne", "nouveau ne", "baby", "bebe", "foetus",
    "fetus", "sibling",
)
_GENOME = _words(
    "complete genome", "whole genome", "whole-genome", "genome complet", "genome entier",
    "wgs", "full genome",
)
_SENSITIVE_WORDS: dict[Category, re.Pattern[str]] = {
    Category.substance_use: _words(
        "tobacco", "tabac", "tabagisme", "smok\\w*", "fumeur", "fumeuse", "cigarettes?",
        "alcohol\\w*", "alcool\\w*", "drug use", "recreational drugs?", "substance use",
        "stupefiants?", "drogues?", "cannabis", "toxicomanie", "addiction",
    ),
    Category.ethnic_origin: _words(
        "ethnic\\w*", "ethnie", "ethnique", "race", "racial", "origine ethnique", "ancestry",
    ),
    Category.genetic: _words(
        "genetic\\w*", "genetique", "genotype", "genotypage", "genotyping", "mutations?",
        "variants? genetiques?", "gene", "genes", "hla", "sequencing", "sequencage",
    ),
    Category.sex_life: _words(
        "sexual\\w*", "sexuelle?s?", "sex life", "vie sexuelle", "orientation sexuelle",
        "sexual orientation",
    ),
}
_PRIVATE_PRO = _words(
    "private", "personal", "personnelle?", "domicile", "home", "bank", "bancaire", "iban",
    "rib", "salary", "salaire", "birth", "naissance",
)
_RPPS_WORDS = _words("rpps", "adeli")
#: Synthetic NIR/INS-shaped values (domain requirements 2.3) a pattern must not accept.
_NIR_VECTORS = (
    "185057800608491", "290122A00412367", "290122B00412394", "1850578006084",
    "1 85 05 78 006 084 91", "185057800608492",
)
_SMALLEST_13_DIGITS = 10**12
#: Digit counts of a NIR body, a NIR with its key, and the former calculated INS (INS-C).
_NIR_INS_DIGITS = frozenset({13, 14, 15, 22})


def _field_text(fld: FieldDef) -> str:
    """Key, labels and helps, lower-cased without accents, for the word lists."""
    parts = [fld.key.replace("_", " "), fld.label.fr, fld.label.en]
    if fld.help:
        parts += [fld.help.fr, fld.help.en]
    return plain(" | ".join(parts))


def _names_a_person(fld: FieldDef, text: str) -> bool:
    """Whether the field asks for a name; `nom` alone is only trusted in keys (nom du produit)."""
    return bool(_PERSON_NAME.search(text) or re.search(r"(^|_)nom(_|$)", fld.key))


def _choice_text(fld: FieldDef) -> str:
    choices = getattr(fld, "choices", None) or []
    return plain(" | ".join(f"{c.label.fr} | {c.label.en}" for c in choices))


@dataclass(frozen=True)
class _Item:
    """A field with everything a rule needs to locate and judge it."""

    form_index: int
    section_index: int
    field_index: int
    form: Form
    section: Section
    field: FieldDef
    #: The field's words, computed once for all the rules.
    text: str

    @property
    def path(self) -> Path:
        return ("forms", self.form_index, "sections", self.section_index,
                "fields", self.field_index)

    def at(self, *attr: str | int) -> Path:
        return self.path + attr

    def finding(self, rule: Rule, message: str, fix: str, *attr: str | int) -> Finding:
        return Finding(self.at(*attr), self.field.key, rule, message, fix)


def _items(protocol: Protocol) -> Iterator[_Item]:
    for form_index, form in enumerate(protocol.forms):
        for si, fi, section, fld in form.iter_fields():
            yield _Item(form_index, si, fi, form, section, fld, _field_text(fld))


# ---------------------------------------------------------------------------------------------
# Rules on single fields


def _no_free_text(item: _Item, protocol: Protocol) -> Iterator[Finding]:
    fld = item.field
    if fld.type != "coded" or not fld.pattern:
        return
    if pattern_facts(fld.pattern).admits_whitespace:
        yield item.finding(
            Rule.no_free_text,
            f"pattern {fld.pattern!r} accepts spaces, so it is a free-text zone (referential 7.3)",
            "restrict the pattern to a code without spaces, or use a choice list",
            "pattern",
        )
    elif _FREE_TEXT_WORDS.search(item.text):
        yield item.finding(
            Rule.no_free_text,
            "a typed comment, remark or 'specify' value is a free-text zone (referential 7.3)",
            "replace it with coded choices (including a coded 'other' or 'unknown'), or remove it",
            "label",
        )


def _coded_value_bounded(item: _Item, protocol: Protocol) -> Iterator[Finding]:
    fld = item.field
    if fld.type != "coded":
        return
    if bool(fld.code_list) == bool(fld.pattern):
        yield item.finding(
            Rule.coded_value_bounded,
            "a coded value needs exactly one of `code_list` or `pattern`",
            "name a code list declared under `code_lists`, or give a strict `pattern` "
            f"with `max_length` (at most {MAX_CODED_LENGTH})",
        )
        return
    if fld.code_list:
        if fld.code_list not in protocol.code_lists:
            yield item.finding(
                Rule.coded_value_bounded,
                f"code list {fld.code_list!r} is not declared",
                "declare it under `code_lists` or correct the name",
                "code_list",
            )
        return
    assert fld.pattern is not None
    pattern_max = pattern_facts(fld.pattern).max_length
    limits = [n for n in (fld.max_length, pattern_max) if n is not None]
    if not limits or min(limits) > MAX_CODED_LENGTH:
        yield item.finding(
            Rule.coded_value_bounded,
            f"pattern {fld.pattern!r} accepts values longer than {MAX_CODED_LENGTH} characters",
            f"bound the pattern's repetitions or set `max_length` to at most {MAX_CODED_LENGTH}",
            "max_length" if fld.max_length is not None else "pattern",
        )


def _patient_identification(item: _Item, protocol: Protocol) -> Iterator[Finding]:
    fld = item.field
    text = item.text
    rule = Rule.patient_identification
    if fld.identifies is not None and fld.identifies not in IDENTIFIES_VALUES:
        yield item.finding(
            rule,
            f"`identifies: {fld.identifies}` is not an identification item the referential allows",
            "use one of: " + ", ".join(IDENTIFIES_VALUES),
            "identifies",
        )
        return
    if fld.category == Category.identification and fld.identifies is None:
        yield item.finding(
            rule,
            "an identification field must say which allowed item it holds",
            "add `identifies:` with one of: " + ", ".join(IDENTIFIES_VALUES),
            "category",
        )
        return
    if fld.identifies is not None and fld.category != Category.identification:
        yield item.finding(
            rule, "`identifies` is set on a field that is not in the identification category",
            "set `category: identification` (or remove `identifies`)", "category",
        )
        return
    if fld.category in (Category.professional, Category.affected_person):
        return  # judged by the professional-data and related-persons rules
    if fld.identifies is None and _CONTACT.search(text):
        yield item.finding(
            rule,
            "patient contact or record data (address, phone, e-mail, record number, photo, "
            "birthplace) is not allowed (referential 7.2 a)",
            "remove the field",
            "label",
        )
    elif fld.identifies not in ("surname_initials", "firstname_initials") and _names_a_person(
        fld, text
    ):
        yield item.finding(
            rule,
            "a patient's name may only be collected as the first 3 letters of the surname and "
            "the first 2 of the first name (referential 7.2 a)",
            "use a coded field with `identifies: surname_initials` (max_length 3) or "
            "`firstname_initials` (max_length 2)",
            "label",
        )
    if fld.identifies is not None:
        yield from _identification_shape(item)


_SHAPES: dict[str, tuple[tuple[str, ...], str]] = {
    "sex": (("single_choice",), "a single choice"),
    "weight": (("integer", "decimal"), "a number"),
    "height": (("integer", "decimal"), "a number"),
    "age": (("integer", "decimal"), "a number"),
    "birth_month": (("integer",), "an integer from 1 to 12"),
    "birth_year": (("year", "integer"), "a year"),
    "birth_month_year": (("partial_date",), "a partial date (month and year)"),
    "birth_day": (("integer",), "an integer from 1 to 31"),
    "birth_date": (("date",), "a date"),
    "case_code": (("coded",), "a coded value"),
    "surname_initials": (("coded",), "a coded value of at most 3 letters"),
    "firstname_initials": (("coded",), "a coded value of at most 2 letters"),
}
_INITIALS_MAX = {"surname_initials": 3, "firstname_initials": 2}


def _identification_shape(item: _Item) -> Iterator[Finding]:
    fld = item.field
    assert fld.identifies is not None
    types, description = _SHAPES[fld.identifies]
    if fld.type not in types:
        yield item.finding(
            Rule.patient_identification,
            f"`identifies: {fld.identifies}` must be {description}, not {fld.type}",
            f"make the field {description}",
            "type",
        )
        return
    limit = _INITIALS_MAX.get(fld.identifies)
    if limit is not None:
        longest = None
        if fld.type == "coded" and fld.pattern:
            lengths = [n for n in (fld.max_length, pattern_facts(fld.pattern).max_length) if n]
            longest = min(lengths) if lengths else None
        if longest is None or longest > limit:
            yield item.finding(
                Rule.patient_identification,
                f"{fld.identifies.replace('_', ' ')} are limited to {limit} letters "
                "(referential 7.2 a)",
                f"use a pattern such as ^[A-Z]{{1,{limit}}}$ with max_length {limit}",
                "pattern",
            )
    if (fld.identifies == "birth_month" and isinstance(fld, IntegerFieldDef)
            and (fld.min < 1 or fld.max > 12)):
        yield item.finding(Rule.patient_identification, "a birth month is between 1 and 12",
                           "set min: 1 and max: 12", "max")


def _full_birth_date(item: _Item, protocol: Protocol) -> Iterator[Finding]:
    fld = item.field
    if fld.category == Category.affected_person:
        return  # a related person's birth data is judged by the related-persons rule
    full_date = fld.identifies in ("birth_date", "birth_day") or (
        fld.type == "date" and _BIRTH.search(item.text) is not None
    )
    if not full_date:
        return
    if not item.form.paediatric:
        yield item.finding(
            Rule.full_birth_date,
            "a full birth date (or birth day) is only allowed in a form marked paediatric "
            "(referential 7.2 a)",
            "collect month and year of birth (`identifies: birth_month_year`) or the age, or set "
            "`paediatric: true` on a form reserved for children",
            "identifies" if fld.identifies else "type",
        )
    elif fld.identifies not in ("birth_date", "birth_day"):
        yield item.finding(
            Rule.full_birth_date,
            "a birth date must be declared as an identification item",
            "set `category: identification` and `identifies: birth_date`",
            "type",
        )


def _no_nir_ins(item: _Item, protocol: Protocol) -> Iterator[Finding]:
    fld = item.field
    rule = Rule.no_nir_ins
    fix = "remove the field: the NIR and the INS are excluded (referential 7.2 a)"
    if _NIR_INS.search(item.text):
        yield item.finding(rule, "the field asks for a NIR or INS (social security number or "
                           "national health identifier)", fix, "label")
        return
    if fld.type in ("integer", "decimal") and fld.max >= _SMALLEST_13_DIGITS:
        yield item.finding(
            rule, f"max {fld.max} lets a 13-digit number through, the shape of a NIR",
            "lower `max` below 1000000000000", "max",
        )
    if fld.type == "coded" and fld.pattern:
        facts = pattern_facts(fld.pattern)
        if fld.max_length is None or fld.max_length >= 13:
            if facts.digit_counts & _NIR_INS_DIGITS:
                yield item.finding(
                    rule, f"pattern {fld.pattern!r} accepts a string of 13 to 15 digits (a NIR "
                    "or INS matricule) or of 22 digits (a former INS-C)",
                    "make the pattern stricter (fewer digits, or a fixed prefix of letters)",
                    "pattern",
                )
                return
        if any(admits(fld.pattern, v, fld.max_length) for v in _NIR_VECTORS):
            yield item.finding(rule, f"pattern {fld.pattern!r} accepts a NIR", fix, "pattern")
    if fld.type == "coded" and fld.code_list in protocol.code_lists:
        for choice in protocol.code_lists[fld.code_list].codes:
            digits = re.sub(r"[ .-]", "", choice.code)
            if digits.isdigit() and 13 <= len(digits) <= 15 and not digits.startswith("340"):
                yield item.finding(rule, f"code {choice.code!r} has the shape of a NIR",
                                   "use another code", "code_list")
                return


def _sensitive(item: _Item, protocol: Protocol) -> Iterator[Finding]:
    fld = item.field
    if fld.category in SENSITIVE_CATEGORIES:
        justification = (fld.necessity_justification or "").strip()
        if len(justification) < MIN_JUSTIFICATION:
            yield item.finding(
                Rule.sensitive_justification,
                f"{fld.category.value.replace('_', ' ')} data is allowed only when strictly "
                "necessary for the product and disease (referential 7.2), and no written "
                "justification is given",
                f"add `necessity_justification:` (at least {MIN_JUSTIFICATION} characters) "
                "stating why the PUT-SP needs it",
                "category",
            )
        return
    if fld.review is not None:
        return  # a person settles the doubt; `reviews()` keeps the installation blocked until
    text = item.text + " | " + _choice_text(fld)
    for category, words in _SENSITIVE_WORDS.items():
        if words.search(text):
            yield item.finding(
                Rule.sensitive_justification,
                f"the field looks like {category.value.replace('_', ' ')} data but is declared "
                f"as {fld.category.value}",
                f"set `category: {category.value}` and add a `necessity_justification:`",
                "category",
            )
            return


def _no_complete_genome(item: _Item, protocol: Protocol) -> Iterator[Finding]:
    if _GENOME.search(item.text + " | " + _choice_text(item.field)):
        yield item.finding(
            Rule.no_complete_genome,
            "the complete genome is excluded from the genetic data that may be collected "
            "(referential 7.2)",
            "collect only the specific genetic markers the PUT-SP needs (category genetic, "
            "with a justification)",
            "label",
        )


def _related_persons(item: _Item, protocol: Protocol) -> Iterator[Finding]:
    fld = item.field
    rule = Rule.related_persons
    text = item.text
    identifying = bool(
        fld.identifies
        or _names_a_person(fld, text)
        or _CONTACT.search(text)
        or (_BIRTH.search(text) and fld.type in ("date", "partial_date", "year"))
    )
    if fld.category == Category.affected_person:
        if item.form.kind not in EXPOSURE_FORM_KINDS:
            yield item.finding(
                rule,
                "data on a person related to the patient may only appear in a form that "
                "describes their exposure (referential 7.2 b)",
                "move the field to a form of kind `pregnancy` or `exposure`",
                "category",
            )
        elif identifying:
            yield item.finding(
                rule,
                "no identifying data may be collected on a related person (name, initials, "
                "birth date, contact)",
                "remove the field; keep only the relationship, exposure and outcome data",
                "label",
            )
    elif _RELATED.search(text) and identifying and fld.category != Category.professional:
        yield item.finding(
            rule,
            "the field identifies a person related to the patient",
            "remove it; related persons are described in exposure forms without identifiers",
            "label",
        )


def _professional(item: _Item, protocol: Protocol) -> Iterator[Finding]:
    fld = item.field
    rule = Rule.professional_data
    allowed = ", ".join(PROFESSIONAL_VALUES)
    text = item.text
    if fld.category == Category.professional:
        if fld.professional not in PROFESSIONAL_VALUES:
            shown = fld.professional or "(none)"
            yield item.finding(
                rule,
                f"healthcare professional data is limited to name, specialty, RPPS and "
                f"professional contacts (referential 7.2 c); `professional: {shown}` is not one",
                f"set `professional:` to one of: {allowed}",
                "professional" if fld.professional else "category",
            )
        elif _PRIVATE_PRO.search(text) or re.search(r"\badeli\b", text):
            yield item.finding(
                rule,
                "only professional contacts and the RPPS number may be collected on a "
                "professional (no private, banking or birth data, no ADELI)",
                "remove the field or restrict it to professional contact data",
                "label",
            )
        return
    if fld.professional is not None:
        yield item.finding(rule, "`professional` is set on a field outside the professional "
                           "category", "set `category: professional`", "category")
    elif _RPPS_WORDS.search(text):
        yield item.finding(
            rule, "an RPPS or ADELI number is professional data",
            "set `category: professional` and `professional: rpps`", "category",
        )


def _put_ref(item: _Item, protocol: Protocol) -> Iterator[Finding]:
    if not (item.field.put_ref or "").strip():
        yield item.finding(
            Rule.put_ref_required,
            "the field has no protocol section reference, so it cannot be traced to the PUT-SP "
            "(PUT-02)",
            "add `put_ref:` naming the PUT-SP section or annex item it comes from",
        )


_FIELD_RULES: tuple[Callable[[_Item, Protocol], Iterable[Finding]], ...] = (
    _no_free_text,
    _coded_value_bounded,
    _patient_identification,
    _full_birth_date,
    _no_nir_ins,
    _sensitive,
    _no_complete_genome,
    _related_persons,
    _professional,
    _put_ref,
)

# ---------------------------------------------------------------------------------------------
# Rules on the whole definition


def _duplicates(values: Iterable[tuple[str, Path]]) -> Iterator[tuple[str, Path]]:
    """Yield every value seen before, with the path of the repeat."""
    seen: set[str] = set()
    for value, path in values:
        if value in seen:
            yield value, path
        seen.add(value)


def _unique_keys(protocol: Protocol) -> Iterator[Finding]:
    fix = "give each one a distinct key; keys are stored with the submissions"
    for value, path in _duplicates((f.key, ("forms", i, "key")) for i, f in
                                   enumerate(protocol.forms)):
        yield Finding(path, None, Rule.unique_keys, f"form key {value!r} is used twice", fix)
    for value, path in _duplicates(
        (t.code, ("schedule", "timepoints", i, "code"))
        for i, t in enumerate(protocol.schedule.timepoints)
    ):
        yield Finding(path, None, Rule.unique_keys, f"timepoint {value!r} is declared twice", fix)
    for fi, form in enumerate(protocol.forms):
        sections = ((s.key, ("forms", fi, "sections", si, "key"))
                    for si, s in enumerate(form.sections))
        for value, path in _duplicates(sections):
            yield Finding(path, None, Rule.unique_keys,
                          f"section key {value!r} is used twice in form {form.key!r}", fix)
        # Repeated sections share the namespace of fields: answers store both by key.
        keys: list[tuple[str, Path]] = [(s.key, ("forms", fi, "sections", si, "key"))
                                        for si, s in enumerate(form.sections)
                                        if s.repeat is not None]
        keys += [(fld.key, ("forms", fi, "sections", si, "fields", k, "key"))
                 for si, k, _s, fld in form.iter_fields()]
        for value, path in _duplicates(keys):
            yield Finding(path, value, Rule.unique_keys,
                          f"key {value!r} is used twice in form {form.key!r}", fix)


def _unique_choice_codes(protocol: Protocol) -> Iterator[Finding]:
    fix = "give each choice a distinct code"
    for item in _items(protocol):
        choices = getattr(item.field, "choices", None) or []
        codes = ((c.code, item.at("choices", i, "code")) for i, c in enumerate(choices))
        for value, path in _duplicates(codes):
            yield Finding(path, item.field.key, Rule.unique_choice_codes,
                          f"choice code {value!r} appears twice", fix)
    for name, code_list in protocol.code_lists.items():
        codes = ((c.code, ("code_lists", name, "codes", i, "code"))
                 for i, c in enumerate(code_list.codes))
        for value, path in _duplicates(codes):
            yield Finding(path, None, Rule.unique_choice_codes,
                          f"code {value!r} appears twice in code list {name!r}", fix)


def _expression_findings(
    source: str, scope: dict, path: Path, key: str | None, expect: str | None = "condition"
) -> Iterator[Finding]:
    try:
        compile_expression(source, scope, expect=expect)
    except ExpressionError as exc:
        yield Finding(path, key, Rule.expression,
                      f"expression {source!r}: {exc.message} (character {exc.position + 1})",
                      "correct the expression; see forms/README.md for the syntax")


def _expressions(protocol: Protocol) -> Iterator[Finding]:
    for fi, form in enumerate(protocol.forms):
        top = form_scope(protocol, form)
        for check_index, check in enumerate(form.checks):
            path: Path = ("forms", fi, "checks", check_index, "expression")
            yield from _expression_findings(check.expression, top, path, None)
            yield from _check_targets(check.fields, top, path[:-1] + ("fields",))
        for si, section in enumerate(form.sections):
            inner = section_scope(protocol, form, section)
            spath: Path = ("forms", fi, "sections", si)
            if section.visible_if:
                yield from _expression_findings(section.visible_if, top, spath + ("visible_if",),
                                                None)
            for check_index, check in enumerate(section.checks):
                path = spath + ("checks", check_index, "expression")
                yield from _expression_findings(check.expression, inner, path, None)
                yield from _check_targets(check.fields, inner, path[:-1] + ("fields",))
            for k, fld in enumerate(section.fields):
                fpath = spath + ("fields", k)
                if fld.visible_if:
                    yield from _expression_findings(fld.visible_if, inner,
                                                    fpath + ("visible_if",), fld.key)
                if fld.type == "calculated":
                    yield from _expression_findings(fld.expression, inner,
                                                    fpath + ("expression",), fld.key, NUMBER)
                if fld.type in ("date", "partial_date"):
                    for bound in ("min", "max"):
                        value = getattr(fld, bound)
                        if isinstance(value, str):
                            yield from _expression_findings(value, inner, fpath + (bound,),
                                                            fld.key, None)
        yield from _dependency_cycles(fi, form, protocol)


def _check_targets(keys: list[str], scope: dict, path: Path) -> Iterator[Finding]:
    for index, key in enumerate(keys):
        if key not in scope:
            yield Finding(path + (index,), None, Rule.expression,
                          f"check names unknown field {key!r}", "name a field of this form")


def _dependency_cycles(fi: int, form: Form, protocol: Protocol) -> Iterator[Finding]:
    """Refuse conditions and formulas that depend on themselves: they must have an order."""
    try:
        evaluation_order(protocol, form)
    except DependencyCycle as cycle:
        kind, key = cycle.node
        for si, section in enumerate(form.sections):
            if kind == "section" and section.key == key:
                path: Path = ("forms", fi, "sections", si, "visible_if")
                yield Finding(path, None, Rule.expression,
                              f"the condition of section {key!r} depends on itself",
                              "make it refer only to fields outside the section")
                return
            for k, fld in enumerate(section.fields):
                if fld.key == key:
                    attr = "expression" if fld.type == "calculated" else "visible_if"
                    yield Finding(("forms", fi, "sections", si, "fields", k, attr), key,
                                  Rule.expression,
                                  "the condition or formula depends, directly or not, on the "
                                  "field itself",
                                  "make it refer only to fields that do not depend on it")
                    return


def _schedule(protocol: Protocol) -> Iterator[Finding]:
    codes = {t.code for t in protocol.schedule.timepoints}
    then = protocol.schedule.then
    if then is not None and then.after not in codes:
        yield Finding(("schedule", "then", "after"), None, Rule.schedule,
                      f"repeating visits start after unknown timepoint {then.after!r}",
                      "name a timepoint declared in `schedule.timepoints`")
    for fi, form in enumerate(protocol.forms):
        for ti, code in enumerate(form.timepoints):
            if code not in codes:
                yield Finding(("forms", fi, "timepoints", ti), None, Rule.schedule,
                              f"form {form.key!r} is due at unknown timepoint {code!r}",
                              "name a timepoint declared in `schedule.timepoints`")


#: what a report table never aggregates, even as counts: these single a person out
_NEVER_AGGREGATED = frozenset({"surname_initials", "firstname_initials", "case_code",
                               "birth_day", "birth_date"})
#: the answer types each statistic accepts
_STATISTIC_TYPES = {
    ReportStatistic.count: frozenset({"single_choice", "multiple_choice", "yes_no", "coded"}),
    ReportStatistic.classes: frozenset({"integer", "decimal", "calculated"}),
    ReportStatistic.summary: frozenset({"integer", "decimal", "calculated"}),
}
_AGE_TYPES = frozenset({"partial_date", "year"})
_BY_TYPES = frozenset({"single_choice", "yes_no"})


def _form_fields(form: Form) -> dict[str, FieldDef]:
    return {fld.key: fld for _si, _fi, _section, fld in form.iter_fields()}


def _report_table(table, path: Path, protocol: Protocol) -> Iterator[Finding]:  # noqa: ANN001
    def finding(message: str, fix: str, *attr: str) -> Finding:
        return Finding((*path, *attr), table.field, Rule.report_tables, message, fix)

    try:
        form = protocol.form(table.form)
    except KeyError:
        yield finding(f"report table {table.key!r} reads unknown form {table.form!r}",
                      "name a form declared in `forms`", "form")
        return
    fields = _form_fields(form)
    stat = table.statistic
    if stat == ReportStatistic.missing:
        if table.field or table.by:
            yield finding(f"report table {table.key!r} counts missing answers over the whole "
                          "form: it takes no `field` or `by`",
                          "remove `field` and `by`", "field" if table.field else "by")
        return
    fld = fields.get(table.field or "")
    if fld is None:
        yield finding(f"report table {table.key!r} needs a field of form {form.key!r}"
                      + (f"; {table.field!r} is not one" if table.field else ""),
                      f"name a field of form {form.key!r} in `field`", "field")
        return
    if fld.identifies in _NEVER_AGGREGATED or fld.professional:
        yield finding(f"report table {table.key!r} aggregates {fld.key!r}, which identifies a "
                      "person; a report holds aggregates of health data only",
                      "aggregate another field", "field")
        return
    kind = fld.type
    if stat == ReportStatistic.classes and table.age_at:
        if kind not in _AGE_TYPES:
            yield finding(f"report table {table.key!r} computes an age from {fld.key!r}, which "
                          "is not a month-year or year of birth", "name a birth field", "field")
        elif table.age_at != "submitted" and (
                table.age_at not in fields or fields[table.age_at].type != "date"):
            yield finding(f"report table {table.key!r}: `age_at` {table.age_at!r} is not a "
                          f"date field of form {form.key!r}",
                          "name a date field of the form, or `submitted`", "age_at")
    elif kind not in _STATISTIC_TYPES[stat]:
        allowed = ", ".join(sorted(_STATISTIC_TYPES[stat]))
        yield finding(f"report table {table.key!r}: statistic {stat.value!r} cannot be computed "
                      f"on {fld.key!r} ({kind}); it takes {allowed}",
                      "choose another statistic or field", "statistic")
    elif isinstance(fld, CodedFieldDef) and not (
            fld.code_list or "meddra" in (fld.dictionary or "").lower()):
        # A free coded value (an ATC code typed in, a reference) could be unique to one case.
        yield finding(f"report table {table.key!r} counts {fld.key!r}, a typed code outside any "
                      "code list or MedDRA", "count a field with a code list or MedDRA codes",
                      "field")
    if stat == ReportStatistic.classes:
        bounds = list(table.bounds)
        if not bounds:
            yield finding(f"report table {table.key!r} sorts values into classes without "
                          "`bounds`", "give ascending cut points in `bounds`", "bounds")
        elif bounds != sorted(set(bounds)):
            yield finding(f"report table {table.key!r}: `bounds` must be strictly ascending",
                          "sort the cut points and remove repeats", "bounds")
    elif table.bounds or table.age_at:
        yield finding(f"report table {table.key!r}: `bounds` and `age_at` are for classes only",
                      "remove them or use `statistic: classes`",
                      "bounds" if table.bounds else "age_at")
    if table.by is not None:
        by = fields.get(table.by)
        if by is None or by.type not in _BY_TYPES:
            yield finding(f"report table {table.key!r}: `by` {table.by!r} is not a single "
                          f"choice or yes/no field of form {form.key!r}",
                          "break down by a single choice or yes/no field of the same form", "by")
        elif by.identifies in _NEVER_AGGREGATED or by.professional:
            yield finding(f"report table {table.key!r} is broken down by {by.key!r}, which "
                          "identifies a person", "break down by another field", "by")


def _report_tables(protocol: Protocol) -> Iterator[Finding]:
    seen: set[str] = set()
    for ti, table in enumerate(protocol.summary_reports.tables):
        path: Path = ("summary_reports", "tables", ti)
        if table.key in seen:
            yield Finding((*path, "key"), None, Rule.report_tables,
                          f"report table key {table.key!r} is used twice",
                          "give every report table its own key")
        seen.add(table.key)
        yield from _report_table(table, path, protocol)


def check(protocol: Protocol) -> list[Finding]:
    """Run every rule on a schema-valid definition and return what breaks them."""
    findings: list[Finding] = []
    for item in _items(protocol):
        for rule in _FIELD_RULES:
            findings.extend(rule(item, protocol))
    for whole in (_unique_keys, _unique_choice_codes, _expressions, _schedule,
                  _report_tables):
        findings.extend(whole(protocol))
    # One message per (place, rule): several word matches on one field say the same thing.
    counts: Counter[tuple[Path, Rule]] = Counter()
    unique = []
    for finding in findings:
        counts[(finding.path, finding.rule)] += 1
        if counts[(finding.path, finding.rule)] == 1:
            unique.append(finding)
    return unique


# ---------------------------------------------------------------------------------------------
# Warnings: what `protocol check` shows and `protocol install` refuses


#: Values an importer writes where the source holds nothing; a person must replace them. The
#: whole value: a label such as "Extra time to complete work" is no placeholder.
_PLACEHOLDER_TEXT = re.compile(r"^\W*(?:to[ -]complete|a completer)\W*$", re.IGNORECASE)
#: The bound an importer writes when the source gives none (not a clinical bound).
PLACEHOLDER_BOUND = 999999
#: Words that only English has: a `fr` text equal to its `en` text holding one is untranslated.
_ENGLISH_ONLY = _words(
    "the", "of", "and", "with", "did", "does", "has", "have", "was", "were", "is", "are", "any",
    "how", "what", "when", "which", "during", "since", "other", "yes", "not", "number", "from",
    "for", "your", "you", "been", "this", "that", "last", "first", "weight", "height", "date of",
    "level", "treatment", "history", "previous", "start", "end", "stop", "type", "if",
)


def _strings(node: object, path: Path) -> Iterator[tuple[Path, str]]:
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, (*path, index))


def _texts(node: object, path: Path) -> Iterator[tuple[Path, dict]]:
    if isinstance(node, dict):
        if set(node) == {"fr", "en"} and all(isinstance(v, str) for v in node.values()):
            yield path, node
            return
        for key, value in node.items():
            yield from _texts(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _texts(value, (*path, index))


def reviews(protocol: Protocol) -> list[Finding]:
    """What must be settled before installation, though the definition is otherwise valid:
    pending reviews, placeholder values, untranslated French texts and placeholder bounds."""
    found: list[Finding] = []
    for item in _items(protocol):
        fld = item.field
        review = fld.review
        if review is not None and (
            review.status == "pending"
            or len((review.justification or "").strip()) < MIN_JUSTIFICATION
        ):
            found.append(item.finding(
                Rule.review_pending, f"to review: {review.reason}",
                "correct the field (e.g. its category, with a `necessity_justification`), or "
                "set `review: {status: confirmed, justification: ...}` (at least "
                f"{MIN_JUSTIFICATION} characters) saying why it may stay as it is",
                "review",
            ))
        if fld.type in ("integer", "decimal") and (
            fld.min <= -PLACEHOLDER_BOUND or fld.max >= PLACEHOLDER_BOUND
        ):
            bound = "min" if fld.min <= -PLACEHOLDER_BOUND else "max"
            found.append(item.finding(
                Rule.placeholder,
                f"bounds {fld.min}..{fld.max} are a placeholder, not clinical bounds",
                "set the plausible minimum and maximum of the value", bound,
            ))
    data = protocol.model_dump(mode="json", exclude_none=True)
    for path, value in _strings(data, ()):
        if _PLACEHOLDER_TEXT.search(plain(value)):
            found.append(Finding(path, None, Rule.placeholder, f"{value!r} is a placeholder",
                                 "replace it with the protocol's value"))
    for path, text in _texts(data, ()):
        if text["fr"] == text["en"] and _ENGLISH_ONLY.search(plain(text["fr"])) \
                and not _PLACEHOLDER_TEXT.search(plain(text["fr"])):
            found.append(Finding((*path, "fr"), None, Rule.placeholder,
                                 f"the French text is the English one ({text['fr']!r})",
                                 "translate it into French"))
    return found
