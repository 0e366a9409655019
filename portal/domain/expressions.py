"""The safe expression language used by visible_if, required_if, compute, rules and chain `when`.

Expressions are parsed into a small tree and evaluated by walking it; nothing is ever passed
to Python's eval. Every name is checked against the form's fields when the schema loads, so a
typo is a schema error, not a surprise at submission time.

    total > 10000 and currency == 'EUR'
    sum(lines.quantity * lines.unit_price)
    due_date >= invoice_date
    'travel' in categories or any(lines.category == 'travel')

Values are Decimal (never float), str, bool, date, None (an empty field) and lists. Arithmetic and
comparisons over a list work element by element, so `lines.quantity * lines.unit_price` is the
list of line amounts. Anything involving an empty field is empty (None), like SQL's NULL: a rule
whose result is empty does not fail, and a condition whose result is empty is false.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

#: Arithmetic runs in this context: 28 significant digits, half-up rounding as on invoices,
#: and traps for overflow and bad operations (which make the result empty).
DECIMAL_CONTEXT = decimal.Context(
    prec=28,
    rounding=decimal.ROUND_HALF_UP,
    Emax=999_999,
    Emin=-999_999,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)
MAX_SOURCE_LENGTH = 2000
MAX_DEPTH = 50
#: A chain of operators (`a + b + c ...`) nests in the tree without brackets; checking and
#: evaluation recurse through the tree, so its depth is bounded too.
MAX_TREE_DEPTH = 200
KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "null"})


class ExpressionError(ValueError):
    """A syntax, name or type fault in an expression, with the column where it starts."""

    def __init__(self, message: str, column: int | None = None):
        self.message = message
        self.column = column
        super().__init__(f"{message} (at column {column})" if column else message)


class ValueKind(StrEnum):
    """What an expression yields, as far as the schema can tell before any data exists."""

    NUMBER = "number"
    STRING = "string"
    BOOLEAN = "boolean"
    DATE = "date"
    ROWS = "rows"  # a line-items field: only its columns and count() make sense
    FILE = "file"
    ANY = "any"  # null, or something the checker cannot narrow down


@dataclass(frozen=True)
class Type:
    """A value kind, possibly a list of that kind."""

    kind: ValueKind
    is_list: bool = False

    def __str__(self) -> str:
        return f"list of {self.kind}" if self.is_list else str(self.kind)


NUMBER, STRING, BOOLEAN, DATE, ANY = (
    Type(ValueKind.NUMBER),
    Type(ValueKind.STRING),
    Type(ValueKind.BOOLEAN),
    Type(ValueKind.DATE),
    Type(ValueKind.ANY),
)


# -- syntax tree ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    value: object
    column: int


@dataclass(frozen=True)
class Name:
    parts: tuple[str, ...]
    column: int


@dataclass(frozen=True)
class Unary:
    op: str
    operand: Node
    column: int


@dataclass(frozen=True)
class Binary:
    op: str
    left: Node
    right: Node
    column: int


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple[Node, ...]
    column: int


@dataclass(frozen=True)
class ListOf:
    items: tuple[Node, ...]
    column: int


Node = Literal | Name | Unary | Binary | Call | ListOf


# -- tokens -----------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|<|>|\+|-|\*|/|%|\(|\)|\[|\]|,|\.)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str  # number, string, name, op, end
    text: str
    column: int


def _tokenize(source: str) -> list[_Token]:
    tokens = []
    pos = 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if not match:
            raise ExpressionError(f"unexpected character {source[pos]!r}", pos + 1)
        kind = match.lastgroup
        if kind != "space":
            tokens.append(_Token(kind, match.group(), pos + 1))
        pos = match.end()
    tokens.append(_Token("end", "", len(source) + 1))
    return tokens


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


# -- parser -----------------------------------------------------------------------------------

_COMPARISONS = {"==", "!=", "<", "<=", ">", ">="}


class _Parser:
    """Recursive descent, one method per precedence level, lowest first."""

    def __init__(self, source: str):
        self.tokens = _tokenize(source)
        self.pos = 0
        self.depth = 0

    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def take(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def at(self, text: str) -> bool:
        token = self.peek()
        return token.kind in ("op", "name") and token.text == text

    def expect(self, text: str) -> _Token:
        token = self.peek()
        if not self.at(text):
            found = "the end of the expression" if token.kind == "end" else repr(token.text)
            raise ExpressionError(f"expected {text!r} but found {found}", token.column)
        return self.take()

    def parse(self) -> Node:
        node = self.expression()
        token = self.peek()
        if token.kind != "end":
            raise ExpressionError(f"unexpected {token.text!r}", token.column)
        return node

    def expression(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError("expression is nested too deeply", self.peek().column)
        try:
            return self.disjunction()
        finally:
            self.depth -= 1

    def disjunction(self) -> Node:
        node = self.conjunction()
        while self.at("or"):
            column = self.take().column
            node = Binary("or", node, self.conjunction(), column)
        return node

    def conjunction(self) -> Node:
        node = self.negation()
        while self.at("and"):
            column = self.take().column
            node = Binary("and", node, self.negation(), column)
        return node

    def negation(self) -> Node:
        if self.at("not"):
            column = self.take().column
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ExpressionError("expression is nested too deeply", column)
            try:
                return Unary("not", self.negation(), column)
            finally:
                self.depth -= 1
        return self.comparison()

    def comparison(self) -> Node:
        node = self.additive()
        token = self.peek()
        if token.kind == "op" and token.text in _COMPARISONS:
            self.take()
            return Binary(token.text, node, self.additive(), token.column)
        if self.at("in"):
            self.take()
            return Binary("in", node, self.additive(), token.column)
        if self.at("not") and self.tokens[self.pos + 1].text == "in":
            self.take()
            self.take()
            return Binary("not in", node, self.additive(), token.column)
        return node

    def additive(self) -> Node:
        node = self.term()
        while self.peek().kind == "op" and self.peek().text in ("+", "-"):
            token = self.take()
            node = Binary(token.text, node, self.term(), token.column)
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.peek().kind == "op" and self.peek().text in ("*", "/", "%"):
            token = self.take()
            node = Binary(token.text, node, self.unary(), token.column)
        return node

    def unary(self) -> Node:
        if self.peek().kind == "op" and self.peek().text == "-":
            column = self.take().column
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ExpressionError("expression is nested too deeply", column)
            try:
                return Unary("-", self.unary(), column)
            finally:
                self.depth -= 1
        return self.primary()

    def primary(self) -> Node:
        token = self.take()
        if token.kind == "number":
            return Literal(Decimal(token.text), token.column)
        if token.kind == "string":
            return Literal(_unquote(token.text), token.column)
        if token.kind == "op" and token.text == "(":
            node = self.expression()
            self.expect(")")
            return node
        if token.kind == "op" and token.text == "[":
            items = self.items("]")
            return ListOf(items, token.column)
        if token.kind == "name":
            if token.text in ("true", "false"):
                return Literal(token.text == "true", token.column)
            if token.text == "null":
                return Literal(None, token.column)
            if token.text in KEYWORDS:
                raise ExpressionError(f"unexpected {token.text!r}", token.column)
            if self.at("("):
                self.take()
                return Call(token.text, self.items(")"), token.column)
            parts = [token.text]
            while self.at("."):
                self.take()
                part = self.take()
                if part.kind != "name" or part.text in KEYWORDS:
                    raise ExpressionError("expected a field name after '.'", part.column)
                parts.append(part.text)
            return Name(tuple(parts), token.column)
        if token.kind == "end":
            raise ExpressionError("the expression ends too soon", token.column)
        raise ExpressionError(f"unexpected {token.text!r}", token.column)

    def items(self, closer: str) -> tuple[Node, ...]:
        items: list[Node] = []
        if self.at(closer):
            self.take()
            return ()
        while True:
            items.append(self.expression())
            if self.at(","):
                self.take()
                continue
            self.expect(closer)
            return tuple(items)


def parse(source: str) -> Expression:
    """Parse `source` into an Expression, or raise ExpressionError naming the column."""
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("expression is empty")
    if len(source) > MAX_SOURCE_LENGTH:
        raise ExpressionError(f"expression is longer than {MAX_SOURCE_LENGTH} characters")
    tree = _Parser(source).parse()
    too_deep = _beyond_depth(tree, MAX_TREE_DEPTH)
    if too_deep is not None:
        raise ExpressionError("expression is nested too deeply", too_deep.column)
    return Expression(source, tree)


# -- functions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Function:
    arity: tuple[int, int | None]  # least and most arguments; None means any number
    result: Callable[[list[Type]], Type]
    run: Callable[..., object]


def _present(values: Sequence[object]) -> list:
    return [value for value in values if value is not None]


def _aggregate(values: Sequence[object]) -> list:
    """Arguments of min/max: one list, or several scalars."""
    if len(values) == 1 and isinstance(values[0], list):
        return _present(values[0])
    return _present(values)


def _sum(values: object) -> Decimal:
    if not isinstance(values, list):
        values = [values]
    return functools.reduce(DECIMAL_CONTEXT.add, _present(values), Decimal(0))


def _count(values: object) -> Decimal:
    if values is None:
        return Decimal(0)
    if isinstance(values, list):
        return Decimal(len(_present(values)))
    return Decimal(1)


def _round(value: object, places: object = Decimal(0)) -> Decimal | None:
    if value is None or places is None:
        return None
    exponent = Decimal(1).scaleb(-int(places))
    return value.quantize(exponent, rounding=decimal.ROUND_HALF_UP, context=DECIMAL_CONTEXT)


def _any(values: object) -> bool | None:
    """True if any item is true; empty if none is but some are empty (unknown); else false."""
    values = values if isinstance(values, list) else [values]
    if any(value is True for value in values):
        return True
    return None if any(value is None for value in values) else False


def _all(values: object) -> bool | None:
    """False if any item is false; empty if none is but some are empty (unknown); else true."""
    values = values if isinstance(values, list) else [values]
    if any(value is False for value in values):
        return False
    return None if any(value is None for value in values) else True


def _len(value: object) -> Decimal | None:
    return None if value is None else Decimal(len(value))


def _min(*values: object) -> object:
    present = _aggregate(values)
    return min(present) if present else None


def _max(*values: object) -> object:
    present = _aggregate(values)
    return max(present) if present else None


def _first_kind(args: list[Type]) -> Type:
    return Type(args[0].kind) if args else ANY


#: The functions an expression may call; `today` is bound to the clock at evaluation time.
FUNCTIONS: dict[str, _Function] = {
    "sum": _Function((1, 1), lambda args: NUMBER, _sum),
    "count": _Function((1, 1), lambda args: NUMBER, _count),
    "min": _Function((1, None), _first_kind, _min),
    "max": _Function((1, None), _first_kind, _max),
    "round": _Function((1, 2), lambda args: NUMBER, _round),
    "abs": _Function(
        (1, 1), lambda args: NUMBER, lambda v: None if v is None else DECIMAL_CONTEXT.abs(v)
    ),
    "len": _Function((1, 1), lambda args: NUMBER, _len),
    "any": _Function((1, 1), lambda args: BOOLEAN, _any),
    "all": _Function((1, 1), lambda args: BOOLEAN, _all),
    "today": _Function((0, 0), lambda args: DATE, None),
}

_ARGUMENT_KINDS: dict[str, tuple[ValueKind, ...]] = {
    "sum": (ValueKind.NUMBER,),
    "round": (ValueKind.NUMBER,),
    "abs": (ValueKind.NUMBER,),
    "len": (ValueKind.STRING,),
    "any": (ValueKind.BOOLEAN,),
    "all": (ValueKind.BOOLEAN,),
    "min": (ValueKind.NUMBER, ValueKind.DATE),
    "max": (ValueKind.NUMBER, ValueKind.DATE),
}
#: Functions of one value; a list argument would need them element by element.
_SCALAR_FUNCTIONS = frozenset({"round", "abs", "len"})


# -- expression -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expression:
    """A parsed expression with the source it came from."""

    source: str
    tree: Node

    @property
    def names(self) -> frozenset[str]:
        """Top-level field names the expression reads (for dependency and usage checks)."""
        return frozenset(node.parts[0] for node in _walk(self.tree) if isinstance(node, Name))

    def check(self, resolve: Callable[[tuple[str, ...]], Type | None]) -> Type:
        """Check names and types; `resolve` maps a dotted name to its Type or None if unknown."""
        return _check(self.tree, resolve)

    def evaluate(
        self,
        values: Mapping[str, object],
        row: Mapping[str, object] | None = None,
        today: dt.date | None = None,
    ) -> object:
        """Evaluate against typed field values; `row` holds the current line item's values."""
        return _Evaluator(values, row or {}, today).run(self.tree)

    def __str__(self) -> str:
        return self.source


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Call):
        return node.args
    if isinstance(node, ListOf):
        return node.items
    return ()


def _walk(node: Node):
    pending = [node]
    while pending:
        node = pending.pop()
        yield node
        pending.extend(reversed(_children(node)))


def _beyond_depth(tree: Node, limit: int) -> Node | None:
    """The first node deeper than `limit` levels, or None; walked without recursion."""
    pending = [(tree, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > limit:
            return node
        pending.extend((child, depth + 1) for child in _children(node))
    return None


# -- static checks ----------------------------------------------------------------------------


def _literal_type(value: object) -> Type:
    if value is None:
        return ANY
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, Decimal):
        return NUMBER
    return STRING


def _describe(kind_type: Type) -> str:
    return "an empty value" if kind_type.kind == ValueKind.ANY else f"a {kind_type}"


def _check(node: Node, resolve: Callable[[tuple[str, ...]], Type | None]) -> Type:
    if isinstance(node, Literal):
        return _literal_type(node.value)
    if isinstance(node, Name):
        found = resolve(node.parts)
        if found is None:
            raise ExpressionError(f"unknown name {'.'.join(node.parts)!r}", node.column)
        return found
    if isinstance(node, ListOf):
        kinds = {_check(item, resolve).kind for item in node.items} - {ValueKind.ANY}
        if len(kinds) > 1:
            raise ExpressionError("a list must hold values of one kind", node.column)
        return Type(kinds.pop() if kinds else ValueKind.ANY, is_list=True)
    if isinstance(node, Unary):
        operand = _check(node.operand, resolve)
        wanted = ValueKind.BOOLEAN if node.op == "not" else ValueKind.NUMBER
        if operand.kind not in (wanted, ValueKind.ANY):
            raise ExpressionError(f"{node.op!r} needs a {wanted}, not {operand}", node.column)
        return Type(wanted, operand.is_list)
    if isinstance(node, Call):
        return _check_call(node, resolve)
    return _check_binary(node, resolve)


def _check_call(node: Call, resolve: Callable[[tuple[str, ...]], Type | None]) -> Type:
    function = FUNCTIONS.get(node.function)
    if function is None:
        known = ", ".join(sorted(FUNCTIONS))
        raise ExpressionError(f"unknown function {node.function!r} (known: {known})", node.column)
    least, most = function.arity
    if len(node.args) < least or (most is not None and len(node.args) > most):
        expected = str(least) if least == most else f"{least} to {most or 'any number of'}"
        raise ExpressionError(
            f"{node.function}() takes {expected} argument(s), not {len(node.args)}", node.column
        )
    args = [_check(arg, resolve) for arg in node.args]
    allowed = _ARGUMENT_KINDS.get(node.function)
    # round()'s second argument is its places, checked below
    for arg in args[:1] if node.function == "round" else args:
        if allowed and arg.kind not in (*allowed, ValueKind.ANY):
            names = " or ".join(str(kind) for kind in allowed)
            raise ExpressionError(
                f"{node.function}() needs {names} values, not {_describe(arg)}", node.column
            )
    if node.function in _SCALAR_FUNCTIONS and any(arg.is_list for arg in args):
        raise ExpressionError(
            f"{node.function}() takes single values, not {_describe(args[0])}", node.column
        )
    if node.function in ("min", "max") and len(args) > 1:
        if any(arg.is_list for arg in args):
            raise ExpressionError(
                f"{node.function}() takes one list or several single values", node.column
            )
        if len({arg.kind for arg in args} - {ValueKind.ANY}) > 1:
            raise ExpressionError(f"{node.function}() needs values of one kind", node.column)
    if (
        node.function == "round"
        and len(args) == 2
        and args[1].kind
        not in (
            ValueKind.NUMBER,
            ValueKind.ANY,
        )
    ):
        raise ExpressionError("round() takes a number of decimal places", node.column)
    return function.result(args)


_ARITHMETIC = {"+", "-", "*", "/", "%"}


def _check_binary(node: Binary, resolve: Callable[[tuple[str, ...]], Type | None]) -> Type:
    left, right = _check(node.left, resolve), _check(node.right, resolve)
    is_list = left.is_list or right.is_list
    kinds = {left.kind, right.kind} - {ValueKind.ANY}
    whole_records = kinds & {ValueKind.ROWS, ValueKind.FILE}
    if whole_records and not (node.op in ("==", "!=") and ValueKind.ANY in (left.kind, right.kind)):
        raise ExpressionError(
            f"{node.op!r} cannot use a line-items or file field directly; "
            "use count(...) or one of its columns",
            node.column,
        )
    if node.op in ("and", "or"):
        if kinds - {ValueKind.BOOLEAN}:
            raise ExpressionError(
                f"{node.op!r} joins conditions, not {_describe(left)} and {_describe(right)}",
                node.column,
            )
        return Type(ValueKind.BOOLEAN, is_list)
    if node.op in ("in", "not in"):
        if not right.is_list and right.kind != ValueKind.STRING and right.kind != ValueKind.ANY:
            raise ExpressionError(f"{node.op!r} needs a list on its right", node.column)
        if len(kinds) > 1:  # a list's items, or the text of a string, are of the right's kind
            raise ExpressionError(
                f"{node.op!r} looks for {_describe(left)} in {_describe(right)}", node.column
            )
        return BOOLEAN
    if node.op in _ARITHMETIC:
        if node.op in ("+", "-") and ValueKind.DATE in kinds:
            if node.op == "-" and kinds == {ValueKind.DATE}:
                return Type(ValueKind.NUMBER, is_list)  # days between two dates
            if left.kind == ValueKind.DATE and right.kind in (ValueKind.NUMBER, ValueKind.ANY):
                return Type(ValueKind.DATE, is_list)
        elif kinds <= {ValueKind.NUMBER}:
            return Type(ValueKind.NUMBER, is_list)
        raise ExpressionError(
            f"{node.op!r} cannot combine {_describe(left)} and {_describe(right)}", node.column
        )
    # comparisons
    if len(kinds) > 1:
        raise ExpressionError(
            f"{node.op!r} compares {_describe(left)} with {_describe(right)}", node.column
        )
    if node.op not in ("==", "!=") and kinds & {ValueKind.BOOLEAN}:
        raise ExpressionError(f"{node.op!r} cannot order yes/no values", node.column)
    return Type(ValueKind.BOOLEAN, is_list)


# -- evaluation -------------------------------------------------------------------------------


def _elementwise(function: Callable[[object, object], object], left: object, right: object):
    """Apply a binary function, broadcasting over lists; a list of unequal length is empty."""
    if isinstance(left, list) and isinstance(right, list):
        if len(left) != len(right):
            return None
        return [function(a, b) for a, b in zip(left, right, strict=True)]
    if isinstance(left, list):
        return [function(a, right) for a in left]
    if isinstance(right, list):
        return [function(left, b) for b in right]
    return function(left, right)


def _arithmetic(op: str, left: object, right: object) -> object:
    if left is None or right is None:
        return None
    try:
        if isinstance(left, dt.date) and isinstance(right, dt.date):
            return Decimal((left - right).days) if op == "-" else None
        if isinstance(left, dt.date) and op in ("+", "-"):
            days = dt.timedelta(days=int(right))
            return left + days if op == "+" else left - days
        if op == "+":
            return DECIMAL_CONTEXT.add(left, right)
        if op == "-":
            return DECIMAL_CONTEXT.subtract(left, right)
        if op == "*":
            return DECIMAL_CONTEXT.multiply(left, right)
        if op == "/":
            return DECIMAL_CONTEXT.divide(left, right)
        return DECIMAL_CONTEXT.remainder(left, right)
    except (decimal.DecimalException, OverflowError, ValueError, TypeError):
        return None


def _negate(value: object) -> object:
    if value is None:
        return None
    try:
        return DECIMAL_CONTEXT.minus(value)
    except (decimal.DecimalException, TypeError):
        return None


def _compare(op: str, left: object, right: object) -> bool | None:
    if left is None or right is None:
        if op == "==":
            return left is None and right is None
        if op == "!=":
            return not (left is None and right is None)
        return None
    try:
        if op == "==":
            return left == right
        if op == "!=":
            return left != right
        if op == "<":
            return left < right
        if op == "<=":
            return left <= right
        if op == ">":
            return left > right
        return left >= right
    except TypeError:
        return None


def _contains(left: object, right: object) -> bool | None:
    if right is None or left is None:
        return None
    try:
        if isinstance(left, list):
            return all(item in right for item in left if item is not None)
        return left in right
    except TypeError:  # a number looked for in a string, say
        return None


def _logic(op: str, left: object, right: object) -> bool | None:
    """Kleene logic: empty is unknown; false and unknown is false, true or unknown is true."""
    if op == "and":
        if left is False or right is False:
            return False
        if left is None or right is None:
            return None
        return True
    if left is True or right is True:
        return True
    if left is None or right is None:
        return None
    return False


class _Evaluator:
    def __init__(self, values: Mapping[str, object], row: Mapping[str, object], today):
        self.values = values
        self.row = row
        self.today = today

    def run(self, node: Node) -> object:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Name):
            return self.lookup(node.parts)
        if isinstance(node, ListOf):
            return [self.run(item) for item in node.items]
        if isinstance(node, Unary):
            operand = self.run(node.operand)
            if node.op == "not":
                return _elementwise(lambda v, _: None if v is None else not v, operand, None)
            return _elementwise(lambda v, _: _negate(v), operand, None)
        if isinstance(node, Call):
            if node.function == "today":
                return self.today
            args = [self.run(arg) for arg in node.args]
            try:
                return FUNCTIONS[node.function].run(*args)
            except (decimal.DecimalException, TypeError, ValueError, OverflowError, AttributeError):
                return None
        left, right = self.run(node.left), self.run(node.right)
        if node.op in ("and", "or"):
            return _elementwise(lambda a, b: _logic(node.op, a, b), left, right)
        if node.op == "in":
            return _contains(left, right)
        if node.op == "not in":
            found = _contains(left, right)
            return None if found is None else not found
        if node.op in _ARITHMETIC:
            return _elementwise(lambda a, b: _arithmetic(node.op, a, b), left, right)
        return _elementwise(lambda a, b: _compare(node.op, a, b), left, right)

    def lookup(self, parts: tuple[str, ...]) -> object:
        head, *rest = parts
        value = self.row[head] if head in self.row else self.values.get(head)
        for part in rest:
            if isinstance(value, list):
                value = [item.get(part) if isinstance(item, Mapping) else None for item in value]
            elif isinstance(value, Mapping):
                value = value.get(part)
            else:
                return None
        return value


def is_true(value: object) -> bool:
    """A condition holds only when it is exactly true; empty (None) counts as false."""
    return value is True
