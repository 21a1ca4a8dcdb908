"""The one safe expression language for visibility, cross-field checks, bounds and calculations.

Grammar (no `eval`, no Python AST; a hand-written tokenizer and recursive-descent parser)::

    expr       := conjunction ( 'or' conjunction )*     -- three-valued logic (see below)
    conjunction:= negation ( 'and' negation )*
    negation   := 'not' negation | comparison
    comparison := sum ( ('=='|'!='|'<'|'<='|'>'|'>='|'in'|'not in') sum )?
    sum        := product ( ('+'|'-') product )*
    product    := power ( ('*'|'/') power )*
    power      := unary ( '^' unary )?
    unary      := '-' unary | primary
    primary    := NUMBER | 'text' | "text" | 2024-01-31 | 2024-01 | 30d 2w 6m 1y
                | 'null' | 'today' | field_key | name '(' args ')' | '[' items ']' | '(' expr ')'

A blank (or hidden) field is `null`. Comparisons with a blank are *unknown*; a condition shows
its field only when it is true, and a check fails only when it is false, so a check such as
`stop_date >= start_date` says nothing until both dates are given.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, DivisionByZero, InvalidOperation
from typing import Any, NamedTuple

# ---------------------------------------------------------------------------------------------
# Values


class PartialDate(NamedTuple):
    """A month and a year; compares by (year, month)."""

    year: int
    month: int

    def isoformat(self) -> str:
        """Return `YYYY-MM`."""
        return f"{self.year:04d}-{self.month:02d}"

    @classmethod
    def parse(cls, text: str) -> PartialDate:
        """Parse `YYYY-MM` (or `MM/YYYY`); raise ValueError otherwise."""
        match = re.fullmatch(r"(\d{4})-(\d{1,2})", text) or re.fullmatch(
            r"(\d{1,2})/(\d{4})", text
        )
        if not match:
            raise ValueError(text)
        first, second = match.groups()
        year, month = (int(first), int(second)) if len(first) == 4 else (int(second), int(first))
        if not 1 <= month <= 12 or year < 1:
            raise ValueError(text)
        return cls(year, month)


@dataclass(frozen=True)
class Duration:
    """A calendar length (days, weeks, months or years) to add to a date."""

    amount: int
    unit: str  # one of d, w, m, y

    def add_to(self, day: date, sign: int = 1) -> date:
        """Return `day` moved by this duration; months clamp to the month's last day."""
        amount = self.amount * sign
        if self.unit in ("d", "w"):
            return date.fromordinal(day.toordinal() + amount * (7 if self.unit == "w" else 1))
        months = amount * (12 if self.unit == "y" else 1)
        index = day.year * 12 + (day.month - 1) + months
        year, month = divmod(index, 12)
        last = calendar.monthrange(year, month + 1)[1]
        return date(year, month + 1, min(day.day, last))


class ExpressionError(ValueError):
    """A malformed or ill-typed expression; `position` is the 0-based character offset."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.message = message
        self.position = position

    def __str__(self) -> str:
        return f"{self.message} (at character {self.position + 1})"


# ---------------------------------------------------------------------------------------------
# Tokens

_TOKEN_RE = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<wrong><>)
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\w-]))
  | (?P<partial>\d{4}-\d{2}(?![\w-]))
  | (?P<duration>\d+[dwmy](?!\w))
  | (?P<number>\d+(?:\.\d+)?(?![\w.]))
  | (?P<string>'[^']*'|"[^"]*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|<|>|\+|-|\*|/|\^|\(|\)|\[|\]|,)
    """,
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "null", "today"}


@dataclass(frozen=True)
class Token:
    """One lexical unit and where it starts."""

    kind: str
    text: str
    pos: int


def tokenize(source: str) -> list[Token]:
    """Split `source` into tokens; raise ExpressionError on a character that starts none."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(source):
        match = _TOKEN_RE.match(source, pos)
        if match is None:
            char = source[pos]
            if char in "'\"":
                raise ExpressionError("unterminated string", pos)
            if char == "=":
                raise ExpressionError("compare with '==' (or '!=')", pos)
            raise ExpressionError(f"unexpected character {char!r}", pos)
        kind = match.lastgroup or ""
        if kind == "wrong":
            raise ExpressionError("write '!=' for 'is not equal to'", pos)
        text = match.group()
        if kind == "name" and text in _KEYWORDS:
            kind = text
        if kind != "space":
            tokens.append(Token(kind, text, pos))
        pos = match.end()
    tokens.append(Token("end", "", len(source)))
    return tokens


# ---------------------------------------------------------------------------------------------
# Syntax tree


@dataclass(frozen=True)
class Node:
    """A syntax-tree node; `pos` points into the source for messages."""

    pos: int


@dataclass(frozen=True)
class Lit(Node):
    """A literal number, string, date, partial date, duration or null."""

    value: Any


@dataclass(frozen=True)
class Today(Node):
    """The current date, supplied at evaluation."""


@dataclass(frozen=True)
class Ref(Node):
    """A reference to another field's value."""

    name: str


@dataclass(frozen=True)
class ListLit(Node):
    """A list of literals, for `x in ['A', 'B']`."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Neg(Node):
    """Unary minus."""

    operand: Node


@dataclass(frozen=True)
class Arith(Node):
    """A binary arithmetic operation."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Compare(Node):
    """A comparison or a membership test."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Logic(Node):
    """`and` / `or` over two or more operands."""

    op: str
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Not(Node):
    """Logical negation."""

    operand: Node


@dataclass(frozen=True)
class Call(Node):
    """A call to one of the whitelisted functions."""

    name: str
    args: tuple[Node, ...]


class _Parser:
    """Recursive-descent parser over the token list."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.index = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        tok = self.tokens[self.index]
        self.index += 1
        return tok

    def expect(self, kind: str, what: str) -> Token:
        if self.tok.kind == kind or (self.tok.kind == "op" and self.tok.text == kind):
            return self.advance()
        found = self.tok.text or "end of expression"
        raise ExpressionError(f"expected {what}, found {found!r}", self.tok.pos)

    def is_op(self, *texts: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in texts

    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise ExpressionError("empty expression", 0)
        node = self.parse_or()
        if self.tok.kind != "end":
            raise ExpressionError(f"unexpected {self.tok.text!r}", self.tok.pos)
        return node

    def parse_or(self) -> Node:
        first = self.parse_and()
        operands = [first]
        while self.tok.kind == "or":
            self.advance()
            operands.append(self.parse_and())
        return first if len(operands) == 1 else Logic(first.pos, "or", tuple(operands))

    def parse_and(self) -> Node:
        first = self.parse_not()
        operands = [first]
        while self.tok.kind == "and":
            self.advance()
            operands.append(self.parse_not())
        return first if len(operands) == 1 else Logic(first.pos, "and", tuple(operands))

    def parse_not(self) -> Node:
        if self.tok.kind == "not":
            pos = self.advance().pos
            return Not(pos, self.parse_not())
        return self.parse_comparison()

    def parse_comparison(self) -> Node:
        left = self.parse_sum()
        if self.is_op("==", "!=", "<", "<=", ">", ">="):
            op = self.advance().text
            return Compare(left.pos, op, left, self.parse_sum())
        if self.tok.kind == "in":
            self.advance()
            return Compare(left.pos, "in", left, self.parse_sum())
        if self.tok.kind == "not" and self.tokens[self.index + 1].kind == "in":
            self.index += 2
            return Compare(left.pos, "not in", left, self.parse_sum())
        return left

    def parse_sum(self) -> Node:
        node = self.parse_product()
        while self.is_op("+", "-"):
            op = self.advance().text
            node = Arith(node.pos, op, node, self.parse_product())
        return node

    def parse_product(self) -> Node:
        node = self.parse_power()
        while self.is_op("*", "/"):
            op = self.advance().text
            node = Arith(node.pos, op, node, self.parse_power())
        return node

    def parse_power(self) -> Node:
        node = self.parse_unary()
        if self.is_op("^"):
            self.advance()
            node = Arith(node.pos, "^", node, self.parse_unary())
        return node

    def parse_unary(self) -> Node:
        if self.is_op("-"):
            pos = self.advance().pos
            return Neg(pos, self.parse_unary())
        return self.parse_primary()

    def parse_primary(self) -> Node:
        tok = self.tok
        if tok.kind == "number":
            self.advance()
            return Lit(tok.pos, Decimal(tok.text) if "." in tok.text else int(tok.text))
        if tok.kind == "string":
            self.advance()
            return Lit(tok.pos, tok.text[1:-1])
        if tok.kind == "date":
            self.advance()
            try:
                return Lit(tok.pos, date.fromisoformat(tok.text))
            except ValueError:
                raise ExpressionError(f"invalid date {tok.text!r}", tok.pos) from None
        if tok.kind == "partial":
            self.advance()
            try:
                return Lit(tok.pos, PartialDate.parse(tok.text))
            except ValueError:
                raise ExpressionError(f"invalid month {tok.text!r}", tok.pos) from None
        if tok.kind == "duration":
            self.advance()
            return Lit(tok.pos, Duration(int(tok.text[:-1]), tok.text[-1]))
        if tok.kind == "null":
            self.advance()
            return Lit(tok.pos, None)
        if tok.kind == "today":
            self.advance()
            return Today(tok.pos)
        if tok.kind == "name":
            self.advance()
            if self.is_op("("):
                return self.parse_call(tok)
            return Ref(tok.pos, tok.text)
        if self.is_op("("):
            self.advance()
            node = self.parse_or()
            self.expect(")", "')'")
            return node
        if self.is_op("["):
            pos = self.advance().pos
            items: list[Node] = []
            if not self.is_op("]"):
                items.append(self.parse_primary())
                while self.is_op(","):
                    self.advance()
                    items.append(self.parse_primary())
            self.expect("]", "']'")
            return ListLit(pos, tuple(items))
        found = tok.text or "end of expression"
        raise ExpressionError(f"expected a value, found {found!r}", tok.pos)

    def parse_call(self, name: Token) -> Node:
        if name.text not in FUNCTIONS:
            known = ", ".join(sorted(FUNCTIONS))
            raise ExpressionError(f"unknown function {name.text!r} (known: {known})", name.pos)
        self.expect("(", "'('")
        args: list[Node] = []
        if not self.is_op(")"):
            args.append(self.parse_or())
            while self.is_op(","):
                self.advance()
                args.append(self.parse_or())
        self.expect(")", "')'")
        return Call(name.pos, name.text, tuple(args))


# ---------------------------------------------------------------------------------------------
# Static types: every reference must exist and every operation must make sense for its operands.

NUMBER, DATE, PARTIAL, CODE, CODES, BOOL, DURATION, NULL, LIST = (
    "number",
    "date",
    "partial date",
    "code",
    "codes",
    "condition",
    "duration",
    "null",
    "list",
)


@dataclass(frozen=True)
class FieldInfo:
    """What an expression may know about a field: its value kind and, for codes, the codes."""

    kind: str
    codes: frozenset[str] | None = None


_FUNCTION_SIGNATURES: dict[str, tuple[tuple[str, ...], str, bool]] = {
    # name: (argument kinds, result kind, variadic)
    "round": ((NUMBER, NUMBER), NUMBER, False),
    "abs": ((NUMBER,), NUMBER, False),
    "min": ((NUMBER,), NUMBER, True),
    "max": ((NUMBER,), NUMBER, True),
    "days_between": ((DATE, DATE), NUMBER, False),
    # rounding towards -infinity / +infinity to n decimals (REDCap's rounddown / roundup)
    "rounddown": ((NUMBER, NUMBER), NUMBER, False),
    "roundup": ((NUMBER, NUMBER), NUMBER, False),
    # the sum of the given (non-blank) numbers; blank when all are blank (REDCap's sum)
    "sum": ((NUMBER,), NUMBER, True),
    # if(condition, a, b): a when the condition holds, b when it does not, blank when unknown;
    # a and b have one kind (checked in k_Call)
    "if": ((BOOL, "", ""), "", False),
}
FUNCTIONS = frozenset(_FUNCTION_SIGNATURES)


def _literal_kind(value: Any) -> str:
    if value is None:
        return NULL
    if isinstance(value, bool):  # pragma: no cover - no boolean literals in the language
        return BOOL
    if isinstance(value, int | Decimal):
        return NUMBER
    if isinstance(value, date):
        return DATE
    if isinstance(value, PartialDate):
        return PARTIAL
    if isinstance(value, Duration):
        return DURATION
    return CODE


class _Checker:
    """Infers the kind of each node and rejects meaningless expressions."""

    def __init__(self, fields: Mapping[str, FieldInfo]) -> None:
        self.fields = fields

    def kind(self, node: Node) -> str:
        method: Callable[[Any], str] = getattr(self, "k_" + type(node).__name__)
        return method(node)

    def k_Lit(self, node: Lit) -> str:  # noqa: N802 - dispatch on class name
        return _literal_kind(node.value)

    def k_Today(self, node: Today) -> str:  # noqa: N802
        return DATE

    def k_Ref(self, node: Ref) -> str:  # noqa: N802
        info = self.fields.get(node.name)
        if info is None:
            raise ExpressionError(f"unknown field {node.name!r}", node.pos)
        return info.kind

    def k_ListLit(self, node: ListLit) -> str:  # noqa: N802
        for item in node.items:
            if not isinstance(item, Lit) or _literal_kind(item.value) != CODE:
                raise ExpressionError("a list holds quoted codes only", item.pos)
        return LIST

    def k_Neg(self, node: Neg) -> str:  # noqa: N802
        if self.kind(node.operand) != NUMBER:
            raise ExpressionError("'-' applies to numbers", node.pos)
        return NUMBER

    def k_Arith(self, node: Arith) -> str:  # noqa: N802
        left, right = self.kind(node.left), self.kind(node.right)
        if left == NUMBER and right == NUMBER:
            return NUMBER
        if node.op in "+-" and left == DATE and right == DURATION:
            return DATE
        if node.op == "+" and left == DURATION and right == DATE:
            return DATE
        raise ExpressionError(f"cannot apply {node.op!r} to a {left} and a {right}", node.pos)

    def k_Not(self, node: Not) -> str:  # noqa: N802
        if self.kind(node.operand) != BOOL:
            raise ExpressionError("'not' applies to a condition", node.pos)
        return BOOL

    def k_Logic(self, node: Logic) -> str:  # noqa: N802
        for operand in node.operands:
            if self.kind(operand) != BOOL:
                raise ExpressionError(f"'{node.op}' joins conditions", operand.pos)
        return BOOL

    def k_Call(self, node: Call) -> str:  # noqa: N802
        if node.name == "if":
            return self._if(node)
        kinds, result, variadic = _FUNCTION_SIGNATURES[node.name]
        if (variadic and not node.args) or (not variadic and len(node.args) != len(kinds)):
            raise ExpressionError(f"wrong number of arguments to {node.name}()", node.pos)
        for index, arg in enumerate(node.args):
            expected = kinds[0] if variadic else kinds[index]
            if self.kind(arg) != expected:
                raise ExpressionError(f"{node.name}() expects a {expected} here", arg.pos)
        if node.name in _ROUNDING and not (
            isinstance(node.args[1], Lit) and isinstance(node.args[1].value, int)
        ):
            raise ExpressionError(f"{node.name}() takes a whole number of decimals",
                                  node.args[1].pos)
        return result

    def _if(self, node: Call) -> str:
        if len(node.args) != 3:
            raise ExpressionError("wrong number of arguments to if()", node.pos)
        if self.kind(node.args[0]) != BOOL:
            raise ExpressionError("if() expects a condition first", node.args[0].pos)
        first, second = self.kind(node.args[1]), self.kind(node.args[2])
        if first == NULL:  # a blank in one branch: the other gives the kind
            first = second
        elif second == NULL:
            second = first
        if first == NULL:
            raise ExpressionError("if() chooses between two values, not two nulls", node.pos)
        if first != second or first == BOOL:
            raise ExpressionError(f"if() chooses between two values of one kind, here a "
                                  f"{first} and a {second}", node.args[2].pos)
        return first

    def k_Compare(self, node: Compare) -> str:  # noqa: N802
        left, right = self.kind(node.left), self.kind(node.right)
        if node.op in ("in", "not in"):
            if left != CODE or right not in (CODES, LIST):
                raise ExpressionError(
                    "'in' tests a code against a multiple choice or a list", node.pos
                )
            self._known_code(node.left, node.right)
            for item in node.right.items if isinstance(node.right, ListLit) else ():
                self._known_code(item, node.left)
            return BOOL
        if NULL in (left, right):
            if node.op not in ("==", "!="):
                raise ExpressionError("only '==' and '!=' compare with null", node.pos)
            return BOOL
        comparable = {frozenset({DATE}), frozenset({PARTIAL}), frozenset({DATE, PARTIAL})}
        if left == right == NUMBER or frozenset({left, right}) in comparable:
            return BOOL
        if left == right == CODE and node.op in ("==", "!="):
            self._known_code(node.left, node.right)
            self._known_code(node.right, node.left)
            return BOOL
        raise ExpressionError(f"cannot compare a {left} with a {right} using {node.op!r}", node.pos)

    def _known_code(self, literal: Node, ref: Node) -> None:
        """Reject a quoted code that the referenced choice field does not offer."""
        if not (isinstance(literal, Lit) and isinstance(ref, Ref)):
            return
        info = self.fields.get(ref.name)
        if info and info.codes is not None and literal.value not in info.codes:
            raise ExpressionError(
                f"{literal.value!r} is not a code of field {ref.name!r}", literal.pos
            )


# ---------------------------------------------------------------------------------------------
# Evaluation


def _number(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(value)


def _arith(op: str, left: Any, right: Any) -> Any:
    if isinstance(left, date) and isinstance(right, Duration):
        return right.add_to(left, -1 if op == "-" else 1)
    if isinstance(left, Duration) and isinstance(right, date):
        return left.add_to(right)
    if isinstance(left, int) and isinstance(right, int) and op in "+-*":
        return {"+": left + right, "-": left - right, "*": left * right}[op]
    a, b = _number(left), _number(right)
    try:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return a / b
        return a**b
    except (DivisionByZero, InvalidOperation, ZeroDivisionError, OverflowError):
        return None  # an impossible computation is unknown, like a blank


def _comparable(left: Any, right: Any) -> tuple[Any, Any]:
    """Bring a date and a partial date to the same (month) precision."""
    if isinstance(left, PartialDate) and isinstance(right, date):
        return left, PartialDate(right.year, right.month)
    if isinstance(left, date) and isinstance(right, PartialDate):
        return PartialDate(left.year, left.month), right
    return left, right


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


_ROUNDING = {"round": None, "rounddown": ROUND_FLOOR, "roundup": ROUND_CEILING}


def _call(name: str, args: list[Any]) -> Any:
    if name == "if":
        return None if args[0] is None else args[1] if args[0] else args[2]
    if name == "sum":
        given = [_number(arg) for arg in args if arg is not None]
        return sum(given, Decimal(0)) if given else None
    if any(arg is None for arg in args):
        return None
    if name == "round":
        return _number(args[0]).quantize(Decimal(1).scaleb(-int(args[1])))
    if name in _ROUNDING:
        try:
            return _number(args[0]).quantize(Decimal(1).scaleb(-int(args[1])),
                                             rounding=_ROUNDING[name])
        except InvalidOperation:
            return None  # more digits than the context holds: unknown
    if name == "abs":
        return abs(args[0])
    if name == "min":
        return min(args)
    if name == "max":
        return max(args)
    return (args[1] - args[0]).days  # days_between


@dataclass(frozen=True)
class Expression:
    """A parsed, type-checked expression, ready to evaluate many times."""

    source: str
    tree: Node
    kind: str
    refs: frozenset[str] = field(default_factory=frozenset)

    def evaluate(self, values: Mapping[str, Any], today: date | None = None) -> Any:
        """Evaluate with field values (None = blank); logic results are True, False or None."""
        return _Evaluator(values, today or date.today()).eval(self.tree)

    def holds(self, values: Mapping[str, Any], today: date | None = None) -> bool:
        """True only when the condition is definitely true (visibility)."""
        return self.evaluate(values, today) is True

    def fails(self, values: Mapping[str, Any], today: date | None = None) -> bool:
        """True only when the condition is definitely false (cross-field checks)."""
        return self.evaluate(values, today) is False

    def to_json(self) -> Any:
        """Return the tree as JSON-ready lists, for an optional browser-side evaluator."""
        return _to_json(self.tree)


class _Evaluator:
    def __init__(self, values: Mapping[str, Any], today: date) -> None:
        self.values = values
        self.today = today

    def eval(self, node: Node) -> Any:  # noqa: C901 - one branch per node type
        if isinstance(node, Lit):
            return node.value
        if isinstance(node, Ref):
            return self.values.get(node.name)
        if isinstance(node, Today):
            return self.today
        if isinstance(node, ListLit):
            return frozenset(self.eval(item) for item in node.items)
        if isinstance(node, Neg):
            value = self.eval(node.operand)
            return None if value is None else -value
        if isinstance(node, Arith):
            left, right = self.eval(node.left), self.eval(node.right)
            return None if left is None or right is None else _arith(node.op, left, right)
        if isinstance(node, Not):
            value = self.eval(node.operand)
            return None if value is None else not value
        if isinstance(node, Logic):
            return self.logic(node)
        if isinstance(node, Call):
            return _call(node.name, [self.eval(arg) for arg in node.args])
        assert isinstance(node, Compare)
        return self.compare(node)

    def logic(self, node: Logic) -> bool | None:
        results = [self.eval(operand) for operand in node.operands]
        decisive = node.op == "or"  # True decides an `or`, False decides an `and`
        if decisive in results:
            return decisive
        return None if None in results else not decisive

    def compare(self, node: Compare) -> bool | None:
        left, right = self.eval(node.left), self.eval(node.right)
        if node.op in ("in", "not in"):
            if left is None or right is None:
                return None
            inside = left in right
            return inside if node.op == "in" else not inside
        is_null = isinstance(node.left, Lit) and node.left.value is None
        if is_null or (isinstance(node.right, Lit) and node.right.value is None):
            other = right if is_null else left
            return (other is None) == (node.op == "==")
        if left is None or right is None:
            return None
        left, right = _comparable(left, right)
        return _COMPARE[node.op](left, right)


def _to_json(node: Node) -> Any:
    if isinstance(node, Lit):
        value = node.value
        if isinstance(value, date | PartialDate):
            return ["date" if isinstance(value, date) else "month", value.isoformat()]
        if isinstance(value, Duration):
            return ["duration", value.amount, value.unit]
        if isinstance(value, Decimal):
            return ["num", str(value)]
        return ["lit", value]
    if isinstance(node, Ref):
        return ["ref", node.name]
    if isinstance(node, Today):
        return ["today"]
    if isinstance(node, ListLit):
        return ["list", [_to_json(item) for item in node.items]]
    if isinstance(node, Neg):
        return ["neg", _to_json(node.operand)]
    if isinstance(node, Not):
        return ["not", _to_json(node.operand)]
    if isinstance(node, Logic):
        return [node.op, [_to_json(operand) for operand in node.operands]]
    if isinstance(node, Call):
        return ["call", node.name, [_to_json(arg) for arg in node.args]]
    assert isinstance(node, Arith | Compare)
    return [node.op, _to_json(node.left), _to_json(node.right)]


def _refs(node: Node) -> Iterable[str]:
    if isinstance(node, Ref):
        yield node.name
    for child in node.__dict__.values():
        if isinstance(child, Node):
            yield from _refs(child)
        elif isinstance(child, tuple):
            for item in child:
                if isinstance(item, Node):
                    yield from _refs(item)


def parse(source: str) -> Node:
    """Parse `source` without type checks; raise ExpressionError with a position."""
    return _Parser(source).parse()


def compile_expression(
    source: str, fields: Mapping[str, FieldInfo], expect: str | None = BOOL
) -> Expression:
    """Parse and type-check `source` against the fields in scope.

    :param expect: the kind the whole expression must have (a condition by default).
    :raises ExpressionError: with the 0-based position of the problem.
    """
    tree = parse(source)
    kind = _Checker(fields).kind(tree)
    if expect is not None and kind != expect:
        raise ExpressionError(f"this expression gives a {kind}, a {expect} is needed", 0)
    return Expression(source, tree, kind, frozenset(_refs(tree)))
