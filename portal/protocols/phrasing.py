"""A condition of the expression language said as a sentence, for people (the paper form).

`info_note_given == 'yes'` becomes « “Information note given” is “Yes” » in the current
language: fields by their label, codes by the label of their choice, dates and numbers as
written. What has no plain wording (arithmetic, functions) is said with the operators between
the worded parts, never as the raw source.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal

from flask_babel import gettext as _

from portal.protocols.expressions import (
    Arith,
    Call,
    Compare,
    Duration,
    ListLit,
    Lit,
    Logic,
    Neg,
    Node,
    Not,
    PartialDate,
    Ref,
    Today,
    parse,
)

#: field key → (label, code → choice label, or None for a field without a closed list)
Describe = Callable[[str], tuple[str, Mapping[str, str] | None]]


def sentence(source: str, describe: Describe) -> str:
    """Return the condition `source` as a sentence in the current language."""
    return _Phrase(describe).condition(parse(source))


class _Phrase:
    def __init__(self, describe: Describe) -> None:
        self.describe = describe

    def condition(self, node: Node, inside: str | None = None) -> str:
        if isinstance(node, Logic):
            joiner = _(" and ") if node.op == "and" else _(" or ")
            text = joiner.join(self.condition(o, node.op) for o in node.operands)
            # A group of the other kind inside: brackets keep the meaning.
            return f"({text})" if inside is not None and inside != node.op else text
        if isinstance(node, Not):
            return _("not (%(condition)s)", condition=self.condition(node.operand))
        if isinstance(node, Compare):
            return self.compare(node)
        if isinstance(node, Ref):  # a yes/no field used alone
            return _("%(subject)s is %(value)s", subject=self.value(node), value=_quote(_("Yes")))
        return self.value(node)

    def compare(self, node: Compare) -> str:
        left, right = node.left, node.right
        if isinstance(left, Lit) and isinstance(right, Ref):  # 'yes' == x reads as x == 'yes'
            left, right = right, left
        field = left.name if isinstance(left, Ref) else None
        subject = self.value(left)
        if isinstance(right, Lit) and right.value is None:
            if node.op == "==":
                return _("%(subject)s is not answered", subject=subject)
            if node.op == "!=":
                return _("%(subject)s is answered", subject=subject)
        if node.op in ("in", "not in") and isinstance(right, ListLit):
            values = [self.value(item, field) for item in right.items]
            listed = _join(values)
            if node.op == "in":
                return _("%(subject)s is %(values)s", subject=subject, values=listed)
            return _("%(subject)s is none of %(values)s", subject=subject,
                     values=", ".join(values))
        other = self.value(right, field)
        words = {
            "==": _("%(subject)s is %(value)s"),
            "!=": _("%(subject)s is not %(value)s"),
            "<": _("%(subject)s is less than %(value)s"),
            "<=": _("%(subject)s is at most %(value)s"),
            ">": _("%(subject)s is more than %(value)s"),
            ">=": _("%(subject)s is at least %(value)s"),
            "in": _("%(subject)s is among %(value)s"),
            "not in": _("%(subject)s is not among %(value)s"),
        }
        return words[node.op] % {"subject": subject, "value": other}

    def label(self, key: str) -> str:
        return self.describe(key)[0]

    def value(self, node: Node, field: str | None = None) -> str:
        """A value as written: a field's label, a choice's label, a date, a number."""
        if isinstance(node, Ref):
            return _quote(self.label(node.name))
        if isinstance(node, Today):
            return _("today")
        if isinstance(node, Lit):
            return self.literal(node.value, field)
        if isinstance(node, Neg):
            return f"-{self.value(node.operand)}"
        if isinstance(node, Arith):
            return f"{self.value(node.left)} {node.op} {self.value(node.right)}"
        if isinstance(node, Call):
            return f"{node.name}({', '.join(self.value(a) for a in node.args)})"
        if isinstance(node, ListLit):
            return _join([self.value(item, field) for item in node.items])
        return self.condition(node)

    def literal(self, value: object, field: str | None) -> str:
        if value is None:
            return _("no answer")
        if isinstance(value, str):
            choices = self.describe(field)[1] if field else None
            return _quote(choices.get(value, value) if choices else value)
        if isinstance(value, PartialDate):
            return f"{value.month:02d}/{value.year:04d}"
        if isinstance(value, date):
            return value.strftime("%d/%m/%Y")
        if isinstance(value, Duration):
            units = {"d": _("%(n)s days"), "w": _("%(n)s weeks"), "m": _("%(n)s months"),
                     "y": _("%(n)s years")}
            return units[value.unit] % {"n": value.amount}
        if isinstance(value, Decimal):
            return format(value, "f")
        return str(value)


def _quote(text: str) -> str:
    return _("“%(text)s”", text=text)


def _join(values: list[str]) -> str:
    if len(values) <= 1:
        return "".join(values)
    return _("%(first)s or %(last)s", first=", ".join(values[:-1]), last=values[-1])
