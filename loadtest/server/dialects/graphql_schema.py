"""The small GraphQL schema the embedded target serves, with just enough of a parser for it.

    type Query { hello: String!  echo(text: String!): String! }
    type Subscription { ticks(count: Int = 10, intervalMs: Int = 100): Int! }

``ticks`` yields 0, 1, ... ``count - 1``, waiting ``intervalMs`` after each (as the strawberry
server of the tests does). Operations hold root fields with arguments (literals or variables,
with defaults) and aliases; fragments, directives and nested selections are refused with a
GraphQL error, and a document that does not parse raises :class:`GraphQLSyntaxError` (the
dialect closes with 4400, as graphql-transport-ws asks). Error texts follow graphql-core's.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson

_TOKEN = re.compile(
    r'\s+|,|#[^\n]*|(?P<string>"(?:[^"\\\n]|\\.)*")|(?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)'
    r"|(?P<name>[_A-Za-z][_0-9A-Za-z]*)|(?P<punct>\.\.\.|[{}()\[\]:$!=@])"
)
MAX_TICKS = 100_000  # a bound on what one subscription may ask of the target


class GraphQLSyntaxError(ValueError):
    """A document that does not parse."""


class GraphQLError(ValueError):
    """A document that parses but cannot run here (its message is a GraphQL error's)."""


@dataclass
class Field:
    """One root field: its response key, its name and its arguments (values resolved)."""

    key: str
    name: str
    args: dict[str, Any] = field(default_factory=dict)


def _tokens(document: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    at = 0
    while at < len(document):
        match = _TOKEN.match(document, at)
        if match is None:
            raise GraphQLSyntaxError(f"Syntax Error: Unexpected character {document[at]!r}.")
        at = match.end()
        if match.lastgroup:
            tokens.append((match.lastgroup, match.group()))
    return tokens


class _Parser:
    def __init__(self, document: str, variables: dict[str, Any]) -> None:
        self.tokens = _tokens(document)
        self.at = 0
        self.variables = dict(variables)

    def peek(self) -> str:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else "<EOF>"

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.at >= len(self.tokens):
            raise GraphQLSyntaxError("Syntax Error: Unexpected <EOF>.")
        token = self.tokens[self.at]
        if expected is not None and token[1] != expected:
            raise GraphQLSyntaxError(f'Syntax Error: Expected "{expected}", found "{token[1]}".')
        self.at += 1
        return token

    def operation(self) -> tuple[str, list[Field]]:
        kind = "query"
        if self.peek() in ("query", "mutation", "subscription"):
            kind = self.take()[1]
            if self.peek() not in ("(", "{"):
                self.take()  # the operation's name
            if self.peek() == "(":
                self.variable_definitions()
        elif self.peek() == "fragment":
            raise GraphQLError("Fragments are not supported by the embedded target.")
        fields = self.selection_set()
        if self.at != len(self.tokens):
            raise GraphQLError("Only one operation per document is supported by the embedded target.")
        return kind, fields

    def variable_definitions(self) -> None:
        self.take("(")
        while self.peek() != ")":
            self.take("$")
            name = self.take()[1]
            self.take(":")
            while self.peek() not in ("=", ")", "$"):  # the type: Int, Int!, [Int]...
                self.take()
            if self.peek() == "=":
                self.take("=")
                default = self.value()
                self.variables.setdefault(name, default)
        self.take(")")

    def selection_set(self) -> list[Field]:
        self.take("{")
        fields: list[Field] = []
        while self.peek() != "}":
            if self.peek() in ("...", "@"):
                raise GraphQLError("Fragments and directives are not supported by the embedded target.")
            key = name = self.take()[1]
            if self.peek() == ":":
                self.take(":")
                name = self.take()[1]
            args: dict[str, Any] = {}
            if self.peek() == "(":
                self.take("(")
                while self.peek() != ")":
                    arg = self.take()[1]
                    self.take(":")
                    args[arg] = self.value()
                self.take(")")
            if self.peek() == "{":
                raise GraphQLError(
                    f"Field '{name}' must not have a selection since its type has no subfields."
                )
            fields.append(Field(key, name, args))
        self.take("}")
        if not fields:
            raise GraphQLSyntaxError('Syntax Error: Expected Name, found "}".')
        return fields

    def value(self) -> Any:
        kind, text = self.take()
        if text == "$":
            name = self.take()[1]
            if name not in self.variables:
                raise GraphQLError(f"Variable '${name}' of required type was not provided.")
            return self.variables[name]
        if kind in ("string", "number"):
            return orjson.loads(text)
        if text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text]
        raise GraphQLSyntaxError(f"Syntax Error: Unexpected {text!r}.")


def parse(document: str, variables: dict[str, Any] | None = None) -> tuple[str, list[Field]]:
    """Return the operation's type and its root fields, checked against the schema."""
    kind, fields = _Parser(document, variables or {}).operation()
    known = {"query": ("hello", "echo", "__typename"), "subscription": ("ticks",)}.get(kind, ())
    type_name = kind.capitalize()
    for f in fields:
        if f.name not in known:
            raise GraphQLError(f"Cannot query field '{f.name}' on type '{type_name}'.")
    if kind == "subscription" and len(fields) != 1:
        raise GraphQLError("Anonymous Subscription must select only one top level field.")
    return kind, fields


def _int(f: Field, name: str, default: int) -> int:
    value = f.args.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_TICKS:
        raise GraphQLError(f"Argument '{name}' of field '{f.name}' must be an Int from 0 to {MAX_TICKS}.")
    return value


def run_query(fields: list[Field]) -> dict[str, Any]:
    """Return the result of a query (``{"data": ...}``)."""
    data: dict[str, Any] = {}
    for f in fields:
        if f.name == "echo":
            text = f.args.get("text")
            if not isinstance(text, str):
                raise GraphQLError("Argument 'text' of field 'echo' must be a String.")
            data[f.key] = text
        else:
            data[f.key] = "world" if f.name == "hello" else "Query"
    return {"data": data}


def ticks_arguments(fields: list[Field]) -> tuple[str, int, int]:
    """Return the ``ticks`` subscription's response key, count and interval (checked)."""
    (f,) = fields
    return f.key, _int(f, "count", 10), _int(f, "intervalMs", 100)


async def ticks(key: str, count: int, interval_ms: int) -> AsyncIterator[dict[str, Any]]:
    """Yield the results of the ``ticks`` subscription: 0 .. count - 1, one per interval."""
    for i in range(count):
        yield {"data": {key: i}}
        await asyncio.sleep(interval_ms / 1000)
