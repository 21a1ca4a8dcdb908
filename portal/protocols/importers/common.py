"""What the REDCap and ODM importers share: the report, logic translation, and the final pass
that runs the compliance linter and rejects, with the rule's reason, whatever still breaks it."""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

import yaml
from pydantic import TypeAdapter, ValidationError

from portal.protocols.expressions import ExpressionError, compile_expression
from portal.protocols.rules import Rule, check
from portal.protocols.schema import CODE_PATTERN, FieldDef, Protocol
from portal.protocols.scope import field_info

Fate = Literal["imported", "converted", "review", "rejected"]


class ImportFormatError(ValueError):
    """Input that cannot be read at all; names the file and line."""

    def __init__(self, source: str, line: int | None, message: str) -> None:
        super().__init__(message)
        self.source = source
        self.line = line
        self.message = message

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.message}"


@dataclass
class FieldReport:
    """The fate of one source field, and why."""

    source: str
    form: str
    key: str
    fate: Fate = "imported"
    reasons: list[str] = field(default_factory=list)
    #: its texts were in one language only (copied to the other): counted in one note, so
    #: that the real conversions stand out
    one_language: bool = False

    def convert(self, reason: str) -> None:
        """Record a change made to carry the field over."""
        if self.fate != "rejected":
            self.fate = "converted"
        self.reasons.append(reason)

    def reject(self, reason: str) -> None:
        """Record why the field was left out."""
        self.fate = "rejected"
        self.reasons.append(reason)

    def review(self, reason: str) -> None:
        """Record a doubt a person must settle before installation (the field is kept)."""
        if self.fate != "rejected":
            self.fate = "review"
        self.reasons.append(f"to review: {reason}")


@dataclass
class ImportReport:
    """Every source field with its fate, plus general notes."""

    source: str
    fields: list[FieldReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, source: str, form: str, key: str) -> FieldReport:
        """Start the report of one field."""
        report = FieldReport(source, form, key)
        self.fields.append(report)
        return report

    def count(self, fate: Fate) -> int:
        """How many fields had this fate."""
        return sum(1 for f in self.fields if f.fate == fate)

    @property
    def rejected(self) -> list[FieldReport]:
        """The fields left out."""
        return [f for f in self.fields if f.fate == "rejected"]

    def render(self) -> str:
        """A plain-text report, one line per field."""
        lines = [f"Import report for {self.source}"]
        for item in self.fields:
            why = f": {'; '.join(item.reasons)}" if item.reasons else ""
            lines.append(f"  {item.fate:<9} {item.form}.{item.key} ({item.source}){why}")
        lines.append(
            f"{self.count('imported')} imported, {self.count('converted')} converted, "
            f"{self.count('review')} to review, {self.count('rejected')} rejected"
        )
        copied = sum(1 for f in self.fields if f.one_language)
        if copied:
            lines.append(f"{copied} field(s) had their texts in one language only: copied to "
                         "the other, to translate (`protocol check` names the English ones)")
        if self.count("review"):
            lines.append("Fields to review are kept, but `protocol install` refuses the "
                         "definition until each `review:` is confirmed or the field corrected")
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Names and texts


def plain_text(value: str) -> str:
    """Strip HTML tags and entities and collapse whitespace (labels may hold HTML)."""
    without_tags = re.sub(r"<[^>]*>", " ", value or "")
    return re.sub(r"\s+", " ", html.unescape(without_tags)).strip()


def slug(value: str, fallback: str = "item") -> str:
    """Turn a name into a definition key (lower-case, a letter first, at most 50 characters)."""
    decomposed = unicodedata.normalize("NFKD", value)
    ascii_text = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    key = re.sub(r"[^a-z0-9]+", "_", ascii_text).strip("_")
    if not key or not key[0].isalpha():
        key = f"{fallback}_{key}".strip("_")
    return key[:50].rstrip("_")


def unique(key: str, used: set[str]) -> str:
    """Return `key`, or `key_2`, `key_3`... if already used; record it."""
    candidate, n = key, 2
    while candidate in used:
        suffix = f"_{n}"
        candidate, n = key[: 50 - len(suffix)] + suffix, n + 1
    used.add(candidate)
    return candidate


def valid_code(code: str) -> bool:
    """Whether a source choice code can be stored as is."""
    return re.fullmatch(CODE_PATTERN, code) is not None


def stable_code(code: str, used: set[str]) -> str:
    """A code the definition can store for a source code that it cannot store as is
    (`DOSE INCREASED` → `DOSE_INCREASED`, `%` → `C1`); unique among `used`, recorded."""
    if valid_code(code) and code not in used:
        used.add(code)
        return code
    candidate = re.sub(r"[^A-Za-z0-9_.+-]+", "_", plain_text(code)).strip("_.+-")[:40]
    if not candidate or not candidate[0].isalnum():
        candidate = f"C{len(used) + 1}"
    base, n = candidate, 2
    while candidate in used:
        suffix = f"_{n}"
        candidate, n = base[: 40 - len(suffix)] + suffix, n + 1
    used.add(candidate)
    return candidate


def both(text: str) -> dict[str, str]:
    """The same text in both languages (the source had one)."""
    return {"fr": text, "en": text}


_SEX_WORDS = re.compile(r"^(?:patient'?s? )?(?:sex|gender|sexe|genre)(?:\b|_)", re.IGNORECASE)


def as_sex(fld: dict[str, Any], missing: Iterable[str], *names: str) -> bool:
    """Make a "Sex"/"Gender" question with two answers (besides missing codes) the allowed
    identification item `sex`; whether it was one."""
    if fld.get("type") != "single_choice":
        return False
    if not any(_SEX_WORDS.search(plain_text(name).strip()) for name in names if name):
        return False
    skip = set(missing)
    answers = [c for c in fld["choices"] if c["code"] not in skip]
    if len(answers) != 2:
        return False
    fld["category"] = "identification"
    fld["identifies"] = "sex"
    return True


#: Missing-value codes an importer declares, by the words of the source label.
MISSING_CODES = (
    ("NA", ("not applicable", "non applicable", "n/a", "na", "not relevant", "sans objet"),
     {"fr": "Non applicable", "en": "Not applicable"}),
    ("UNK", ("unknown", "don't know", "dont know", "do not know", "inconnu", "ne sait pas",
             "unk", "not known"), {"fr": "Inconnu", "en": "Unknown"}),
    ("ASKU", ("refused", "declined", "refus", "prefer not"),
     {"fr": "Refus de répondre", "en": "Declined to answer"}),
    ("ND", ("not done", "non fait", "non réalisé", "not performed", "not assessed"),
     {"fr": "Non fait", "en": "Not done"}),
)
_SENTINEL = re.compile(r"^-\d+$|^9{2,}$|^-?9{2,}\.9*$")


def missing_code(code: str, label: str, protocol: dict[str, Any]) -> str | None:
    """The definition's missing-value code for a source sentinel (-99, -88, 999...).

    Declares the code under `missing_values` on first use; None when `code` is not a sentinel.
    """
    if not _SENTINEL.match(code.strip()):
        return None
    words = f" {plain_text(label).lower()} "
    chosen = next(((c, lab) for c, needles, lab in MISSING_CODES
                   if any(re.search(rf"(?<![a-z]){re.escape(n)}(?![a-z])", words)
                          for n in needles)), None)
    if chosen is None:
        if re.search(r"missing|manquant|no answer|blank", words) is None:
            return None
        chosen = ("MISSING", {"fr": "Manquant", "en": "Missing"})
    target, text = chosen
    declared = protocol.setdefault("missing_values", [])
    if not any(m["code"] == target for m in declared):
        declared.append({"code": target, "label": dict(text)})
    return target


_KINDS = (
    ("pregnancy", ("pregnan", "grossesse")),
    ("adverse_event", ("adverse", "_ae", "ae_", "effet_indesirable", "safety_event", "sae")),
    ("discontinuation", ("discontinu", "end_of_treatment", "withdraw", "termination", "arret",
                         "stop", "completion")),
    ("follow_up", ("follow", "suivi")),
    # before "visit": a "Baseline Visit" form is the initiation
    ("initiation", ("initiation", "baseline", "inclusion", "enrol", "enroll", "day_0")),
    ("follow_up", ("visit",)),
    ("access", ("access", "request", "demande", "eligibility", "screening")),
)


def guess_kind(name: str) -> str:
    """Guess a form's kind from its name; `other` when nothing matches."""
    key = f"_{slug(name)}_"
    for kind, words in _KINDS:
        if any(word in key for word in words):
            return kind
    return "other"


_TIMEPOINT_RE = (
    (re.compile(r"^(?:d|j|day|jour)\s*_?(\d+)$"), "day"),
    (re.compile(r"^(?:w|s|week|semaine|sem)\s*_?(\d+)$"), "week"),
    (re.compile(r"^(?:m|month|mois)\s*_?(\d+)$"), "month"),
    (re.compile(r"^(?:y|year|an|annee)\s*_?(\d+)$"), "year"),
)


def timepoint_offset(*names: str) -> tuple[str, int] | None:
    """Read an offset from names like D0, J14, Week 2, M3, Month 6, Baseline; None if unknown."""
    for name in names:
        text = slug(name or "", "x").replace("_arm_1", "").replace("_", " ").strip()
        if text in ("baseline", "inclusion", "initiation", "screening", "day zero"):
            return "day", 0
        for pattern, unit in _TIMEPOINT_RE:
            match = pattern.match(text.replace(" ", ""))
            if match:
                amount = int(match.group(1))
                if unit == "week":
                    return "day", amount * 7
                if unit == "year":
                    return "month", amount * 12
                return unit, amount
    return None


def default_window(unit: str, amount: int) -> int:
    """A conservative visit window (days) when the source gives none."""
    days = amount if unit == "day" else amount * 30
    return 0 if days == 0 else 7 if days <= 31 else 14


# ---------------------------------------------------------------------------------------------
# Logic translation (REDCap branching logic, ODM conditions) into the portal's expressions


class Untranslatable(ValueError):
    """A source expression that the portal's evaluator cannot represent."""


@dataclass(frozen=True)
class LogicToken:
    """A token of a source expression, already classified by the source's tokenizer."""

    kind: str  # field | num | str | cmp | arith | and | or | not | ( | ) | , | func | cond
    text: str  # for `cond`: a condition already written in the portal's syntax
    code: str | None = None  # checkbox choice in `[field(code)]`
    #: XPath value (`ItemData[...]/@Value`): a comparison with an absent item is false, not
    #: unknown, so every comparison naming it is guarded by `field != null`.
    guard: bool = False


@dataclass(frozen=True)
class TargetField:
    """What the translator needs to know about a destination field."""

    type: str
    #: Source codes → destination codes (e.g. REDCap yes/no 1/0 → yes/no).
    code_map: dict[str, str] = field(default_factory=dict)
    #: The source codes of a choice field, in order (REDCap compares coded radios as numbers).
    codes: tuple[str, ...] = ()

    def numeric_codes(self) -> list[tuple[str, Decimal]]:
        """(destination code, number) for each source code that reads as a number."""
        return [(self.code_map.get(code, code), Decimal(code)) for code in self.codes
                if re.fullmatch(r"-?\d+(\.\d+)?", code)]


#: Numeric functions: a coded value given to one is read as its number (REDCap's radios).
_NUMERIC_FUNCTIONS = {"round", "rounddown", "roundup", "abs", "min", "max", "sum"}
#: REDCap's datediff() units, as a factor of days (its documented 365.2425 and 30.44 days).
_DATEDIFF_UNITS = {"d": "", "y": " / 365.2425", "M": " / 30.44", "h": " * 24",
                   "m": " * 1440", "s": " * 86400"}
_COMPARE_NUMBERS = {"<": Decimal.__lt__, "<=": Decimal.__le__, ">": Decimal.__gt__,
                    ">=": Decimal.__ge__, "==": Decimal.__eq__, "!=": Decimal.__ne__}
_CMP = {"=": "==", "==": "==", "eq": "==", "<>": "!=", "!=": "!=", "ne": "!=", "<": "<",
        "lt": "<", "<=": "<=", "le": "<=", ">": ">", "gt": ">", ">=": ">=", "ge": ">="}
_NUMERIC = ("integer", "decimal", "year", "calculated")


class LogicTranslator:
    """Recursive descent over source tokens, writing the portal's syntax."""

    def __init__(self, tokens: list[LogicToken], fields: dict[str, TargetField],
                 functions: dict[str, str] | None = None, blank_is_value: bool = False,
                 two_valued: bool = False) -> None:
        self.tokens = tokens + [LogicToken("end", "")]
        #: REDCap: a blank is the empty text, so `[x] <> 1` holds for a blank and the
        #: condition of if() is false (not unknown) for one.
        self.blank_is_value = blank_is_value
        self.if_condition = False
        #: XLSForm: every comparison with a blank is false (`!=` true), not unknown, so that
        #: `not(...)` of it holds as in ODK
        self.two_valued = two_valued
        self.blank_aware = False  # the last comparison already said what a blank gives
        self.fields = fields
        self.functions = functions or {}
        self.index = 0
        self.compared = False  # whether the last comparison() applied an operator

    @property
    def tok(self) -> LogicToken:
        return self.tokens[self.index]

    def take(self, kind: str) -> LogicToken:
        if self.tok.kind != kind:
            raise Untranslatable(f"expected {kind!r} near {self.tok.text or 'the end'!r}")
        token = self.tok
        self.index += 1
        return token

    def translate(self) -> str:
        result = self.disjunction()
        if self.tok.kind != "end":
            raise Untranslatable(f"unexpected {self.tok.text!r}")
        return result

    def disjunction(self) -> str:
        parts = [self.conjunction()]
        while self.tok.kind == "or":
            self.index += 1
            parts.append(self.conjunction())
        return " or ".join(parts)

    def conjunction(self) -> str:
        parts = [self.negation()]
        while self.tok.kind == "and":
            self.index += 1
            parts.append(self.negation())
        return " and ".join(parts)

    def negation(self) -> str:
        if self.tok.kind == "not":
            self.index += 1
            return f"not {self.negation()}"
        return self.comparison()

    def _simple_comparison(self) -> bool:
        """`[field] op literal` (or the reverse): the literal is read with the field's type."""
        first, op, second, after = self.tokens[self.index:self.index + 4] + [
            LogicToken("end", "")
        ] * max(0, 4 - len(self.tokens[self.index:self.index + 4]))
        operands = ("field", "num", "str")
        return (
            first.kind in operands and op.kind == "cmp" and second.kind in operands
            and "field" in (first.kind, second.kind) and after.kind not in ("arith", "(")
        )

    def comparison(self) -> str:
        start = self.index
        self.blank_aware = False
        text = self._comparison()
        if not self.compared or self.blank_aware:
            return text
        guarded = list(dict.fromkeys(t.text for t in self.tokens[start:self.index]
                                     if t.kind == "field" and (t.guard or self.two_valued)))
        if not guarded or text.endswith(" null"):
            return text
        nulls = " and ".join(f"{name} != null" for name in guarded)
        return f"({nulls} and {text})"

    def _comparison(self) -> str:
        self.compared = False
        if self._simple_comparison():
            first, op_token, second = self.tokens[self.index:self.index + 3]
            self.index += 3
            self.compared = True
            op = _CMP[op_token.text.lower()]
            if first.kind != "field":
                flipped = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
                return self.field_vs(second, flipped, first, self.operand_text(first))
            return self.field_vs(first, op, second, self.operand_text(second))
        start = self.index
        left = self.sum()
        if self.tok.kind != "cmp":
            self.compared = False
            return left
        single_left = self.index - start == 1
        op = _CMP[self.tok.text.lower()]
        self.index += 1
        right_start = self.index
        right = self.sum()
        self.compared = True  # a parenthesised comparison inside `right` reset it
        left_tok, right_tok = self.tokens[start], self.tokens[right_start]
        single_right = self.index - right_start == 1
        if single_left and left_tok.kind == "field" and single_right:
            return self.field_vs(left_tok, op, right_tok, right)
        if single_right and right_tok.kind == "field" and single_left:
            flipped = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
            return self.field_vs(right_tok, flipped, left_tok, left)
        return f"{left} {op} {right}"

    def operand_text(self, token: LogicToken) -> str:
        """A single-token operand in the portal's syntax."""
        if token.kind == "field":
            if token.text not in self.fields:
                raise Untranslatable(f"refers to {token.text!r}, which is not in this form")
            return token.text
        if token.kind == "num":
            return token.text
        return f"'{token.text}'"

    def field_vs(self, ref: LogicToken, op: str, other: LogicToken, other_text: str) -> str:
        target = self.fields.get(ref.text)
        if target is None:
            raise Untranslatable(f"refers to {ref.text!r}, which is not in this form")
        if ref.code is not None:
            return self.checkbox(ref, op, other)
        if other.kind == "field":
            return f"{ref.text} {op} {other_text}"
        value = other.text
        if value == "" and other.kind == "str":
            if op not in ("==", "!="):
                raise Untranslatable("only = and <> compare with a blank")
            return f"{ref.text} {op} null"
        ordered = self.coded_order(target, ref.text, op, value)
        text = ordered or f"{ref.text} {op} {self.literal(target, value, ref.text)}"
        if self.blank_is_value and op == "!=":
            self.blank_aware = True
            return f"({ref.text} == null or {text})"  # a blank differs from any value
        if self.blank_is_value and self.if_condition and not self.two_valued:
            self.blank_aware = True
            return f"({ref.text} != null and {text})"  # false, not unknown, for a blank
        return text

    def literal(self, target: TargetField, value: str, name: str) -> str:
        if target.type in _NUMERIC:
            if not re.fullmatch(r"-?\d+(\.\d+)?", value):
                raise Untranslatable(f"{name!r} is a number, compared with {value!r}")
            return value
        if target.type == "date":
            if value.lower() == "today":
                return "today"
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                raise Untranslatable(f"{name!r} is a date, compared with {value!r}")
            return value
        if target.type == "partial_date" and re.fullmatch(r"\d{4}-\d{2}", value):
            return value
        if target.type == "multiple_choice":
            raise Untranslatable(f"{name!r} is a multiple choice: test one of its codes")
        code = target.code_map.get(value, value)
        if "'" in code:
            raise Untranslatable(f"code {code!r} holds a quote")
        return f"'{code}'"

    def coded_order(self, target: TargetField, name: str, op: str, value: str) -> str | None:
        """`[phq] > 0` on a choice whose codes are numbers: the codes that satisfy it."""
        numbers = target.numeric_codes()
        if target.type not in ("single_choice", "yes_no") or op not in ("<", "<=", ">", ">="):
            return None
        if not numbers or not re.fullmatch(r"-?\d+(\.\d+)?", value):
            raise Untranslatable(f"{name!r} has codes, compared with {value!r} by {op}")
        chosen = [f"'{code}'" for code, number in numbers
                  if _COMPARE_NUMBERS[op](number, Decimal(value))]
        if not chosen:
            raise Untranslatable(f"{name} {op} {value} holds for none of its codes")
        if len(chosen) == 1:
            return f"{name} == {chosen[0]}"
        return f"{name} in [{', '.join(chosen)}]"

    def numeric(self, text: str) -> str:
        """A coded field used as a number (REDCap's radio codes): its number by code."""
        target = self.fields.get(text)
        if target is None or target.type not in ("single_choice", "yes_no"):
            return text
        numbers = target.numeric_codes()
        if not numbers or len(numbers) != len(target.codes):
            raise Untranslatable(f"{text!r} has codes that are not all numbers: it cannot "
                                 "be computed with")
        result = "null"
        for code, number in reversed(numbers):
            result = f"if({text} == '{code}', {number}, {result})"
        return result

    def checkbox(self, ref: LogicToken, op: str, other: LogicToken) -> str:
        target = self.fields[ref.text]
        if target.type != "multiple_choice":
            raise Untranslatable(f"{ref.text!r} is not a multiple choice")
        if op not in ("==", "!=") or other.text not in ("0", "1"):
            raise Untranslatable("a checkbox is compared with '1' (ticked) or '0'")
        code = target.code_map.get(ref.code or "", ref.code or "")
        ticked = (other.text == "1") == (op == "==")
        return f"'{code}' {'in' if ticked else 'not in'} {ref.text}"

    def sum(self) -> str:
        text = self.product()
        while self.tok.kind == "arith" and self.tok.text in "+-":
            op = self.tok.text
            self.index += 1
            text = f"{self.numeric(text)} {op} {self.numeric(self.product())}"
        return text

    def product(self) -> str:
        text = self.unary()
        while self.tok.kind == "arith" and self.tok.text in "*/^":
            op = self.tok.text
            self.index += 1
            text = f"{self.numeric(text)} {op} {self.numeric(self.unary())}"
        return text

    def unary(self) -> str:
        if self.tok.kind == "arith" and self.tok.text == "-":
            self.index += 1
            return f"-{self.unary()}"
        return self.atom()

    def atom(self) -> str:
        tok = self.tok
        if tok.kind == "(":
            self.index += 1
            inner = self.disjunction()
            self.take(")")
            return f"({inner})"
        if tok.kind == "field":
            self.index += 1
            if tok.text not in self.fields:
                raise Untranslatable(f"refers to {tok.text!r}, which is not in this form")
            if tok.code is not None:
                raise Untranslatable("a checkbox code is only compared with '1' or '0'")
            return tok.text
        if tok.kind == "num":
            self.index += 1
            return tok.text
        if tok.kind == "str":
            self.index += 1
            if tok.text.lower() == "today":
                return "today"  # REDCap's 'today' in datediff() and date comparisons
            if "'" in tok.text:
                raise Untranslatable("a text holds a quote")
            return f"'{tok.text}'"
        if tok.kind == "func":
            return self.call()
        if tok.kind == "cond":
            self.index += 1
            return f"({tok.text})"
        raise Untranslatable(f"unexpected {tok.text or 'end'!r}")

    def call(self) -> str:
        name = self.take("func").text.lower()
        target = self.functions.get(name)
        if target is None:
            raise Untranslatable(f"function {name}() is not supported")
        self.take("(")
        outer, self.if_condition = self.if_condition, name == "if"
        args = [self.disjunction()]
        self.if_condition = outer
        while self.tok.kind == ",":
            self.index += 1
            args.append(self.disjunction())
        self.take(")")
        if name in ("round", "rounddown", "roundup") and len(args) == 1:
            args.append("0")  # REDCap's round(x) rounds to a whole number
        if name in _NUMERIC_FUNCTIONS:
            args = [self.numeric(arg) for arg in args]
        if name == "datediff":
            return self.datediff(args)
        return f"{target}({', '.join(args)})"

    def datediff(self, args: list[str]) -> str:
        """REDCap's datediff(d1, d2, unit[, format][, signed]): |d2 − d1| in the unit, or
        signed when the last argument is true."""
        if len(args) < 3:
            raise Untranslatable("datediff() without its unit")
        unit = args[2].strip("'\"")
        if unit not in _DATEDIFF_UNITS:
            raise Untranslatable(f"datediff() unit {unit!r} is not one of y, M, d, h, m, s")
        extra = [arg.strip("'\"").lower() for arg in args[3:]]
        if any(arg not in ("true", "false", "ymd", "mdy", "dmy") for arg in extra):
            raise Untranslatable(f"datediff() argument {args[3]} is not understood")
        days = f"days_between({args[0]}, {args[1]})"
        if "true" not in extra:
            days = f"abs({days})"  # REDCap gives the absolute difference unless asked
        return f"{days}{_DATEDIFF_UNITS[unit]}"


def translate(tokens: list[LogicToken], fields: dict[str, TargetField], scope: dict,
              expect: str | None = "condition", functions: dict[str, str] | None = None,
              blank_is_value: bool = False, two_valued: bool = False) -> str:
    """Translate source tokens and check the result against the destination scope.

    :raises Untranslatable: with the reason, when anything cannot be carried over exactly.
    """
    text = LogicTranslator(tokens, fields, functions, blank_is_value, two_valued).translate()
    try:
        compile_expression(text, scope, expect=expect)
    except ExpressionError as exc:
        raise Untranslatable(f"{text!r}: {exc.message}") from None
    return text


# ---------------------------------------------------------------------------------------------
# Assembling and linting


def placeholder_protocol(key: str, title: str) -> dict[str, Any]:
    """Protocol metadata that REDCap and ODM do not hold, marked for completion."""
    return {
        "schema_version": 1,
        "key": key,
        "version": "0.1",
        "title": both(title),
        "product": {"name": "TO COMPLETE", "code": "TO-COMPLETE"},
        "indications": [{"code": "IND-1", "label": {"fr": "À compléter", "en": "To complete"}}],
        "ansm": {"put_sp_reference": "TO-COMPLETE", "publication_date": date.today()},
        "schedule": {"timepoints": [{"code": "D0", "label": {"fr": "J0", "en": "D0"}, "day": 0}]},
        "summary_reports": {"periodicity_months": 6},
    }


PLACEHOLDER_NOTE = (
    "product, indications, ANSM references and report periodicity are placeholders "
    "('TO COMPLETE'); labels were copied into both languages where the source had one: "
    "complete and translate before installing"
)


@dataclass
class Draft:
    """A definition being assembled, and the report entry of each field by (form, key)."""

    protocol: dict[str, Any]
    reports: dict[tuple[str, str], FieldReport] = field(default_factory=dict)


def _prune(draft: Draft, report: ImportReport) -> None:
    forms = []
    for form in draft.protocol["forms"]:
        form["sections"] = [s for s in form["sections"] if s["fields"]]
        if form["sections"]:
            forms.append(form)
        else:
            report.notes.append(f"form {form['key']!r} has no importable field and was left out")
    draft.protocol["forms"] = forms


@dataclass
class _Target:
    """What a finding or a schema error points at, resolved before anything is changed."""

    form: dict
    section: dict | None
    fld: dict | None
    rest: list


def _resolve(protocol: dict[str, Any], path: Iterable[Any], key: str | None) -> _Target | None:
    """Resolve a path into forms to the objects it names; None if it names none.

    Paths are positions in the definition as it was checked: they are all resolved before any
    change, and the field is then handled by identity, so removing one never shifts another.
    """
    parts = list(path)
    try:
        if len(parts) < 2 or parts[0] != "forms":
            return None
        form = protocol["forms"][parts[1]]
        if len(parts) < 4 or parts[2] != "sections":
            return _Target(form, None, None, parts[2:])
        section = form["sections"][parts[3]]
        if len(parts) >= 6 and parts[4] == "fields":
            fld = section["fields"][parts[5]]
            if key is not None and fld.get("key") != key:
                fld = next((f for f in section["fields"] if f.get("key") == key), fld)
            return _Target(form, section, fld, parts[6:])
        return _Target(form, section, None, parts[4:])
    except (LookupError, TypeError):
        return None


def _drop_field(section: dict, fld: dict) -> None:
    section["fields"] = [f for f in section["fields"] if f is not fld]


def _holds(section: dict, fld: dict) -> bool:
    return any(f is fld for f in section["fields"])


def finalize(draft: Draft, report: ImportReport, source: str) -> dict[str, Any]:
    """Validate the draft and run the linter until it passes.

    Whatever breaks a rule is changed or left out, and the report says so; no finding stops
    the import.
    """
    protocol = draft.protocol
    for _round in range(50):
        _prune(draft, report)
        if not protocol["forms"]:
            raise ImportFormatError(source, None, "no field could be imported")
        try:
            model = Protocol.model_validate(protocol)
        except ValidationError as error:
            if not _reject_invalid(draft, report, error):
                raise ImportFormatError(source, None, _schema_summary(error)) from None
            continue
        findings = check(model)
        if not findings:
            return protocol
        resolved = [(finding, _resolve(protocol, finding.path, finding.field_key))
                    for finding in findings]
        changed = False
        for finding, target in resolved:
            changed |= _apply(draft, report, finding, target)
        if not changed:
            break
    left = "; ".join(f.message for f in check(Protocol.model_validate(protocol)))
    raise ImportFormatError(source, None, f"the definition could not be made to pass the "
                            f"rules (please report): {left}")


def _entry(draft: Draft, report: ImportReport, form: dict, fld: dict) -> FieldReport:
    entry = draft.reports.get((form["key"], fld["key"]))
    if entry is None:  # a field the importer added itself
        entry = report.add("(added)", form["key"], fld["key"])
        draft.reports[(form["key"], fld["key"])] = entry
    return entry


def _apply(draft: Draft, report: ImportReport, finding: Any, target: _Target | None) -> bool:
    """Carry out what one finding calls for; whether anything changed."""
    protocol = draft.protocol
    if target is None:
        if finding.path[:1] == ("schedule",) or finding.rule == Rule.schedule:
            protocol["schedule"] = placeholder_protocol("x", "x")["schedule"]
            report.notes.append(f"schedule replaced by D0 only ({finding.message})")
            return True
        if finding.path[:1] == ("summary_reports",):
            protocol["summary_reports"].pop("tables", None)
            report.notes.append(f"summary report tables dropped ({finding.message})")
            return True
        return False
    form, section, fld = target.form, target.section, target.fld
    if section is None:
        if target.rest[:1] == ["checks"] and form.get("checks"):
            index = target.rest[1] if len(target.rest) > 1 else None
            if isinstance(index, int) and index < len(form["checks"]):
                form["checks"][index] = None
                form["checks"] = [c for c in form["checks"] if c is not None]
                report.notes.append(f"form {form['key']!r}: check dropped ({finding.message})")
                return True
        report.notes.append(f"form {form['key']!r}: {finding.message}")
        return False
    if fld is None:
        if target.rest[:1] == ["checks"] and section.get("checks"):
            section.pop("checks", None)
            report.notes.append(f"section {section['key']!r}: checks dropped "
                                f"({finding.message})")
            return True
        if "visible_if" not in section:
            return False
        section.pop("visible_if", None)
        for other in section["fields"]:
            other["required"] = False
        report.notes.append(f"section {section['key']!r}: condition dropped "
                            f"({finding.message}); its fields are no longer required")
        return True
    if not _holds(section, fld):
        return False  # already left out by an earlier finding of this round
    entry = _entry(draft, report, form, fld)
    if finding.rule == Rule.sensitive_justification and "review" not in fld:
        # A word of the label is no proof: a person confirms, corrects or justifies it.
        reason = f"{finding.message}; {finding.fix}, or confirm it is not"
        fld["review"] = {"reason": reason}
        entry.review(reason)
    elif finding.rule == Rule.expression and target.rest[:1] == ["visible_if"]:
        fld.pop("visible_if", None)
        fld["required"] = False
        entry.convert(f"condition dropped ({finding.message}); no longer required")
    elif finding.rule == Rule.expression and target.rest[:1] in (["min"], ["max"]):
        fld.pop(target.rest[0], None)
        entry.convert(f"{target.rest[0]} dropped ({finding.message})")
    else:
        _drop_field(section, fld)
        entry.reject(f"[{finding.rule.value}] {finding.message}")
    return True


def _reject_invalid(draft: Draft, report: ImportReport, error: ValidationError) -> bool:
    """Leave out every field the schema refuses; whether anything was left out."""
    protocol = draft.protocol
    targets = []
    for err in error.errors(include_url=False):
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p in _TYPE_TAGS)]
        target = _resolve(protocol, loc, None)
        if target is not None and target.fld is not None and target.section is not None:
            targets.append((target, err))
    changed = False
    for target, err in targets:
        assert target.section is not None and target.fld is not None
        if _holds(target.section, target.fld):
            _drop_field(target.section, target.fld)
            _entry(draft, report, target.form, target.fld).reject(f"[schema] {err['msg']}")
            changed = True
    return changed


def _schema_summary(error: ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    return (f"cannot import: {first['msg']} at {'.'.join(map(str, first['loc']))} "
            "(please report)")


_TYPE_TAGS = {"integer", "decimal", "date", "partial_date", "year", "yes_no", "single_choice",
              "multiple_choice", "coded", "calculated"}


def dump_yaml(definition: dict[str, Any], source: str) -> str:
    """Write the definition as YAML, with a header saying where it came from."""
    header = (f"# Imported from {source}. Review the import report, complete the placeholders\n"
              "# and translate labels before `protocol check` and installation.\n")
    return header + yaml.safe_dump(definition, allow_unicode=True, sort_keys=False, width=100)


def scope_of(form: dict[str, Any], section: dict[str, Any] | None = None) -> dict:
    """The expression scope of a draft form: top-level fields, plus `section`'s if repeated."""
    scope: dict = {}
    for sec in form["sections"]:
        if sec.get("repeat") and sec is not section:
            continue
        for fld in sec["fields"]:
            try:
                model = _FIELD_ADAPTER.validate_python(fld)
            except ValidationError:
                continue  # rejected later with the schema's message
            scope[fld["key"]] = field_info(model, _NO_CODE_LISTS)
    return scope


class _NoCodeLists:
    """Imported definitions hold their choices inline: no protocol code lists."""

    code_lists: dict = {}


_NO_CODE_LISTS: Any = _NoCodeLists()
_FIELD_ADAPTER: TypeAdapter[Any] = TypeAdapter(FieldDef)
