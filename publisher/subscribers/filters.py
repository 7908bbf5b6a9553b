"""The Pub/Sub subscription filter language, evaluated by the subscriber itself.

Production selects what each subscriber receives with a filter on the subscription
(`attributes.severity = "critical" AND attributes.kind = "failure_rate"`). The emulator
ignores filters, and a subscriber should not trust that a filter is set at all, so each
subscriber evaluates the same expression on the attributes it receives: one string
configures both. Supported (the whole language Pub/Sub documents for attributes):

    attributes:KEY                      the attribute exists
    attributes.KEY = "v"  /  != "v"     equality
    hasPrefix(attributes.KEY, "p")      prefix
    NOT x, -x, x AND y, x OR y, ( x )
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

Predicate = Callable[[Mapping[str, str]], bool]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<op>!=|=|:|\(|\)|,|-)
      | (?P<word>[A-Za-z_][A-Za-z0-9_.\-]*)
    )""",
    re.VERBOSE,
)


class FilterSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class AttributeFilter:
    expression: str
    predicate: Predicate

    def accepts(self, attributes: Mapping[str, str]) -> bool:
        return self.predicate(attributes)

    @classmethod
    def parse(cls, expression: str | None) -> AttributeFilter:
        expression = (expression or "").strip()
        if not expression:
            return cls("", lambda attributes: True)
        return cls(expression, _Parser(expression).parse())


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(text):
            if text[position:].strip() == "":
                break
            match = _TOKEN.match(text, position)
            if not match or match.end() == position:
                raise FilterSyntaxError(f"cannot read the filter at {text[position:]!r}")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.index = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise FilterSyntaxError(f"expected {value or 'more'} in filter {self.text!r}")
        self.index += 1
        return token

    def parse(self) -> Predicate:
        predicate = self.disjunction()
        if self.peek() is not None:
            raise FilterSyntaxError(f"unexpected {self.peek()[1]!r} in filter {self.text!r}")
        return predicate

    def disjunction(self) -> Predicate:
        terms = [self.conjunction()]
        while self.peek() == ("word", "OR"):
            self.take()
            terms.append(self.conjunction())
        return terms[0] if len(terms) == 1 else (lambda a: any(t(a) for t in terms))

    def conjunction(self) -> Predicate:
        terms = [self.negation()]
        while self.peek() == ("word", "AND"):
            self.take()
            terms.append(self.negation())
        return terms[0] if len(terms) == 1 else (lambda a: all(t(a) for t in terms))

    def negation(self) -> Predicate:
        if self.peek() in (("word", "NOT"), ("op", "-")):
            self.take()
            inner = self.negation()
            return lambda a: not inner(a)
        return self.atom()

    def atom(self) -> Predicate:
        token = self.peek()
        if token == ("op", "("):
            self.take()
            inner = self.disjunction()
            self.take(")")
            return inner
        if token == ("word", "hasPrefix"):
            self.take()
            self.take("(")
            key = self.attribute()
            self.take(",")
            prefix = self.string()
            self.take(")")
            return lambda a: key in a and a[key].startswith(prefix)
        if token == ("word", "attributes"):
            self.take()
            self.take(":")
            kind, key = self.take()
            name = _unquote(key) if kind == "string" else key
            return lambda a: name in a
        key = self.attribute()
        operator = self.take()[1]
        value = self.string()
        if operator == "=":
            return lambda a: a.get(key) == value
        if operator == "!=":
            return lambda a: a.get(key) != value
        raise FilterSyntaxError(f"unknown operator {operator!r} in filter {self.text!r}")

    def attribute(self) -> str:
        kind, word = self.take()
        if kind == "word" and word.startswith("attributes."):
            return word[len("attributes.") :]
        raise FilterSyntaxError(f"expected attributes.KEY, got {word!r} in {self.text!r}")

    def string(self) -> str:
        kind, value = self.take()
        if kind != "string":
            raise FilterSyntaxError(f"expected a quoted string, got {value!r} in {self.text!r}")
        return _unquote(value)


def _unquote(token: str) -> str:
    return re.sub(r"\\(.)", r"\1", token[1:-1])
