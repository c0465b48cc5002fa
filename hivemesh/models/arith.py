"""Exact arithmetic on a small expression language (pure; no ``eval``, no ``exec``).

    expr   := term (("+" | "-") term)*
    term   := unary (("*" | "/" | "×" | "÷") unary)*
    unary  := ("-" | "+") unary | power
    power  := postfix (("^" | "**") unary)?          right-associative
    postfix:= atom "%"?                              15% is 15/100
    atom   := NUMBER | "(" expr ")" | FUNC "(" expr ("," expr)* ")"
    FUNC   := round | abs | min | max | sqrt | floor | ceil

Numbers are decimal (``1289``, ``3.75``, ``.5``); thousands separators are
refused rather than guessed at. Values are exact fractions; ``round(x, n)``
rounds half away from zero (what people expect, unlike Python's ``round``);
``sqrt`` is exact for perfect squares and otherwise good to 28 digits.
Everything is bounded (expression length, nesting, exponent, digits), so a
hostile expression costs an error, never a hang. Errors are ``ArithmeticProblem``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

MAX_CHARS = 2000
MAX_DEPTH = 40
MAX_EXPONENT = 256
MAX_BITS = 4096
DECIMALS = 10  # digits after the point when a result is not whole

_TOKEN = re.compile(r"\s*(?:(\d+\.?\d*|\.\d+)|(\*\*|[-+*/^()%,×÷])|([a-z]+))", re.IGNORECASE)


class ArithmeticProblem(ValueError):
    """The text is not an expression we evaluate, or its value is out of bounds."""


@dataclass(frozen=True)
class _Tok:
    kind: str  # "num" | "op" | "name" | "end"
    text: str
    at: int


def tokenize(text: str) -> list[_Tok]:
    if len(text) > MAX_CHARS:
        raise ArithmeticProblem(f"expression is over {MAX_CHARS} characters")
    tokens, pos = [], 0
    stripped = text.rstrip()
    while pos < len(stripped):
        match = _TOKEN.match(stripped, pos)
        if match is None or match.end() == pos:
            raise ArithmeticProblem(f"unexpected {stripped[pos:].lstrip()[:12]!r} at {pos}")
        number, op, name = match.groups()
        kind, value = ("num", number) if number else ("op", op) if op else ("name", (name or "").lower())
        tokens.append(_Tok(kind, value, match.start(1 if number else 2 if op else 3)))
        pos = match.end()
    _refuse_grouping(tokens)
    tokens.append(_Tok("end", "", len(stripped)))
    return tokens


def _refuse_grouping(tokens: list[_Tok]) -> None:
    """``1,289`` outside a function call is a thousands separator: refuse it."""
    depth_in_call: list[bool] = []
    previous: _Tok | None = None
    for tok in tokens:
        if tok.text == "(":
            depth_in_call.append(previous is not None and previous.kind == "name")
        elif tok.text == ")" and depth_in_call:
            depth_in_call.pop()
        elif tok.text == "," and not (depth_in_call and depth_in_call[-1]):
            raise ArithmeticProblem("write numbers without thousands separators (1289, not 1,289)")
        previous = tok


def _exact_sqrt(x: Fraction) -> Fraction:
    if x < 0:
        raise ArithmeticProblem("square root of a negative number")
    n, d = math.isqrt(x.numerator), math.isqrt(x.denominator)
    if n * n == x.numerator and d * d == x.denominator:
        return Fraction(n, d)
    with localcontext() as ctx:
        ctx.prec = 28
        return Fraction((Decimal(x.numerator) / Decimal(x.denominator)).sqrt())


def round_half_up(x: Fraction, places: int = 0) -> Fraction:
    if not -20 <= places <= 20:
        raise ArithmeticProblem("round() places must be between -20 and 20")
    with localcontext() as ctx:
        ctx.prec = 200
        value = Decimal(x.numerator) / Decimal(x.denominator)
        return Fraction(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def _round(*args: Fraction) -> Fraction:
    if len(args) not in (1, 2):
        raise ArithmeticProblem("round() takes a value and, optionally, a number of places")
    places = args[1] if len(args) == 2 else Fraction(0)
    if places.denominator != 1:
        raise ArithmeticProblem("round() places must be a whole number")
    return round_half_up(args[0], int(places))


def _one(name: str, fn: Callable[[Fraction], Fraction]) -> Callable[..., Fraction]:
    def call(*args: Fraction) -> Fraction:
        if len(args) != 1:
            raise ArithmeticProblem(f"{name}() takes one value")
        return fn(args[0])

    return call


def _some(name: str, fn: Callable[..., Fraction]) -> Callable[..., Fraction]:
    def call(*args: Fraction) -> Fraction:
        if not args:
            raise ArithmeticProblem(f"{name}() needs at least one value")
        return fn(args)

    return call


FUNCTIONS: dict[str, Callable[..., Fraction]] = {
    "round": _round,
    "abs": _one("abs", abs),
    "sqrt": _one("sqrt", _exact_sqrt),
    "floor": _one("floor", lambda x: Fraction(math.floor(x))),
    "ceil": _one("ceil", lambda x: Fraction(math.ceil(x))),
    "min": _some("min", min),
    "max": _some("max", max),
}


class _Parser:
    def __init__(self, tokens: list[_Tok]) -> None:
        self.tokens, self.i, self.depth = tokens, 0, 0

    @property
    def tok(self) -> _Tok:
        return self.tokens[self.i]

    def take(self, *texts: str) -> _Tok | None:
        if self.tok.kind == "op" and self.tok.text in texts:
            self.i += 1
            return self.tokens[self.i - 1]
        return None

    def expect(self, text: str) -> None:
        if self.take(text) is None:
            raise ArithmeticProblem(f"expected {text!r} at {self.tok.at}, found {self.tok.text or 'the end'!r}")

    def parse(self) -> Fraction:
        value = self.expr()
        if self.tok.kind != "end":
            raise ArithmeticProblem(f"unexpected {self.tok.text!r} at {self.tok.at}")
        return value

    def expr(self) -> Fraction:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ArithmeticProblem(f"expression nested deeper than {MAX_DEPTH}")
        value = self.term()
        while (op := self.take("+", "-")) is not None:
            right = self.term()
            value = _check(value + right if op.text == "+" else value - right)
        self.depth -= 1
        return value

    def term(self) -> Fraction:
        value = self.unary()
        while (op := self.take("*", "/", "×", "÷")) is not None:
            right = self.unary()
            if op.text in ("/", "÷"):
                if right == 0:
                    raise ArithmeticProblem("division by zero")
                value = _check(value / right)
            else:
                value = _check(value * right)
        return value

    def unary(self) -> Fraction:
        if self.take("-") is not None:
            return -self.unary()
        if self.take("+") is not None:
            return self.unary()
        return self.power()

    def power(self) -> Fraction:
        base = self.postfix()
        if self.take("^", "**") is None:
            return base
        exponent = self.unary()
        if exponent.denominator != 1 or abs(exponent) > MAX_EXPONENT:
            raise ArithmeticProblem(f"exponents must be whole numbers up to {MAX_EXPONENT}")
        if base == 0 and exponent < 0:
            raise ArithmeticProblem("division by zero")
        return _check(base ** int(exponent))

    def postfix(self) -> Fraction:
        value = self.atom()
        if self.take("%") is not None:
            value = value / 100
        return value

    def atom(self) -> Fraction:
        tok = self.tok
        if tok.kind == "num":
            self.i += 1
            return Fraction(tok.text)
        if tok.kind == "name":
            return self.call(tok)
        if self.take("(") is not None:
            value = self.expr()
            self.expect(")")
            return value
        raise ArithmeticProblem(f"expected a number at {tok.at}, found {tok.text or 'the end'!r}")

    def call(self, tok: _Tok) -> Fraction:
        fn = FUNCTIONS.get(tok.text)
        if fn is None:
            raise ArithmeticProblem(f"unknown function {tok.text!r} (known: {', '.join(sorted(FUNCTIONS))})")
        self.i += 1
        self.expect("(")
        args = [self.expr()]
        while self.take(",") is not None:
            args.append(self.expr())
        self.expect(")")
        return _check(fn(*args))


def _check(value: Fraction) -> Fraction:
    if value.numerator.bit_length() > MAX_BITS or value.denominator.bit_length() > MAX_BITS:
        raise ArithmeticProblem("a value in this expression is too large")
    return value


def evaluate(text: str) -> Fraction:
    """The exact value of ``text``; ``ArithmeticProblem`` when it is not an expression."""
    if not text.strip():
        raise ArithmeticProblem("empty expression")
    return _Parser(tokenize(text)).parse()


def format_number(value: Fraction) -> str:
    """``233.4285714286`` style: whole numbers without a point, others to
    ``DECIMALS`` places, trailing zeros dropped."""
    if value.denominator == 1:
        return str(value.numerator)
    rounded = round_half_up(value, DECIMALS)
    text = f"{Decimal(rounded.numerator) / Decimal(rounded.denominator):.{DECIMALS}f}"
    return text.rstrip("0").rstrip(".")
