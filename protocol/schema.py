"""A small parser for BARE schema files (the ``schemas/*.bare`` sources).

The grammar is the BARE schema language as RivetKit writes it::

    type Name struct { field: Type ... }
    type Name union { A | B | C }
    type Name enum { FIRST SECOND }
    type Name <any type>            # an alias, e.g. ``type WorkflowNameIndex u32``

with types ``uint int u8 u16 u32 u64 i8 i16 i32 i64 f32 f64 bool str data void``,
``data[N]``, ``optional<T>``, ``list<T>``, ``list<T>[N]``, ``map<K><V>`` and
type names. ``#`` starts a comment. Union members and enum values are numbered
by position (PROTOCOL.md §2); explicit ``= N`` values are rejected because no
schema here needs them and position is what the wire contract says.

The parsed :class:`Schema` is the single source of truth: the codec is
generated from it (:mod:`.codegen`) and the Python model is checked against it
(:mod:`.modelcheck`).
"""

from __future__ import annotations

import re
from importlib import resources

import attrs

from .errors import SchemaError

__all__ = [
    "PRIMITIVES",
    "Enum",
    "Field",
    "ListType",
    "MapType",
    "Named",
    "OptionalType",
    "Primitive",
    "Schema",
    "Struct",
    "Type",
    "TypeDef",
    "Union",
    "load_schema",
    "parse_schema",
    "references",
    "snake_case",
]

_NUMBERS = ("uint", "int", "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "f32", "f64")
PRIMITIVES = frozenset((*_NUMBERS, "bool", "str", "data", "void"))


@attrs.frozen
class Primitive:
    """A built-in type; ``length`` is set for fixed-length ``data[N]``."""

    name: str
    length: int | None = None


@attrs.frozen
class Named:
    """A reference to a type declared with ``type Name ...``."""

    name: str


@attrs.frozen
class OptionalType:
    inner: Type


@attrs.frozen
class ListType:
    inner: Type
    length: int | None = None


@attrs.frozen
class MapType:
    key: Type
    value: Type


Type = Primitive | Named | OptionalType | ListType | MapType


@attrs.frozen
class Field:
    name: str
    type: Type


@attrs.frozen
class Struct:
    fields: tuple[Field, ...]


@attrs.frozen
class Union:
    members: tuple[Type, ...]


@attrs.frozen
class Enum:
    values: tuple[str, ...]


TypeDef = Struct | Union | Enum | Type


@attrs.frozen
class Schema:
    """A parsed schema: its declarations in file order, and a label for messages."""

    label: str
    types: dict[str, TypeDef] = attrs.field(eq=False)

    def resolve(self, t: Type) -> TypeDef:
        """Follow a ``Named`` reference to its declaration (other types are returned as is)."""
        if isinstance(t, Named):
            return self.types[t.name]
        return t


_TOKEN = re.compile(r"\s*(?:#[^\n]*|([A-Za-z_][A-Za-z0-9_]*|\d+|[{}<>|:\[\]=]))")


def _tokenize(text: str) -> list[tuple[str, int]]:
    """Split ``text`` into (token, line number) pairs, dropping comments."""
    tokens: list[tuple[str, int]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            rest = text[pos:].lstrip()
            if not rest:
                break
            line = text.count("\n", 0, len(text) - len(rest)) + 1
            raise SchemaError(f"unexpected character {rest[0]!r} on line {line}")
        if m.group(1) is not None:
            tokens.append((m.group(1), text.count("\n", 0, m.start(1)) + 1))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> str | None:
        return self.tokens[self.i][0] if self.i < len(self.tokens) else None

    def line(self) -> int:
        if self.i < len(self.tokens):
            return self.tokens[self.i][1]
        return self.tokens[-1][1] if self.tokens else 1

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None:
            raise SchemaError(f"unexpected end of schema, expected {expected or 'a token'}")
        if expected is not None and tok != expected:
            raise SchemaError(f"expected {expected!r}, got {tok!r} on line {self.line()}")
        self.i += 1
        return tok

    def name(self) -> str:
        tok = self.take()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", tok):
            raise SchemaError(f"expected a name, got {tok!r} on line {self.line()}")
        return tok

    def number(self) -> int:
        tok = self.take()
        if not tok.isdigit():
            raise SchemaError(f"expected a number, got {tok!r} on line {self.line()}")
        return int(tok)

    def type(self) -> Type:
        tok = self.name()
        if tok == "optional":
            self.take("<")
            inner = self.type()
            self.take(">")
            return OptionalType(inner)
        if tok == "list":
            self.take("<")
            inner = self.type()
            self.take(">")
            return ListType(inner, self.fixed_length())
        if tok == "map":
            self.take("<")
            key = self.type()
            self.take(">")
            self.take("<")
            value = self.type()
            self.take(">")
            return MapType(key, value)
        if tok == "data":
            return Primitive("data", self.fixed_length())
        if tok in PRIMITIVES:
            return Primitive(tok)
        if tok in ("struct", "union", "enum", "type"):
            raise SchemaError(f"{tok!r} is not allowed here (line {self.line()})")
        return Named(tok)

    def fixed_length(self) -> int | None:
        if self.peek() != "[":
            return None
        self.take("[")
        n = self.number()
        self.take("]")
        return n

    def typedef(self) -> TypeDef:
        kind = self.peek()
        if kind == "struct":
            self.take()
            self.take("{")
            fields: list[Field] = []
            while self.peek() != "}":
                fname = self.name()
                self.take(":")
                fields.append(Field(fname, self.type()))
            self.take("}")
            names = [f.name for f in fields]
            if len(set(names)) != len(names):
                raise SchemaError(f"duplicate field name in struct on line {self.line()}")
            return Struct(tuple(fields))
        if kind == "union":
            self.take()
            self.take("{")
            if self.peek() == "|":
                self.take()
            members = [self.type()]
            while self.peek() == "|":
                self.take()
                members.append(self.type())
            if self.peek() == "=":
                raise SchemaError(f"explicit union tags are not supported (line {self.line()})")
            self.take("}")
            if len(set(members)) != len(members):
                raise SchemaError(f"duplicate union member on line {self.line()}")
            return Union(tuple(members))
        if kind == "enum":
            self.take()
            self.take("{")
            values: list[str] = []
            while self.peek() != "}":
                values.append(self.name())
                if self.peek() == "=":
                    raise SchemaError(f"explicit enum values are unsupported (line {self.line()})")
            self.take("}")
            if not values or len(set(values)) != len(values):
                raise SchemaError(f"empty or duplicate enum values on line {self.line()}")
            return Enum(tuple(values))
        return self.type()

    def schema(self, label: str) -> Schema:
        types: dict[str, TypeDef] = {}
        while self.peek() is not None:
            self.take("type")
            line = self.line()
            tname = self.name()
            if tname in types or tname in PRIMITIVES:
                raise SchemaError(f"type {tname} is declared twice or is a primitive (line {line})")
            types[tname] = self.typedef()
        return Schema(label, types)


def references(t: TypeDef) -> list[str]:
    """The names of the declared types that ``t`` refers to (with repeats)."""
    match t:
        case Named(name):
            return [name]
        case OptionalType(inner) | ListType(inner, _):
            return references(inner)
        case MapType(key, value):
            return references(key) + references(value)
        case Struct(fields):
            return [n for f in fields for n in references(f.type)]
        case Union(members):
            return [n for m in members for n in references(m)]
    return []


def parse_schema(text: str, label: str) -> Schema:
    """Parse BARE schema ``text``; ``label`` names it in messages (``"v3"``).

    Raises:
        SchemaError: on a syntax error or a reference to an undeclared type.
    """
    schema = _Parser(text).schema(label)
    for tname, tdef in schema.types.items():
        for ref in references(tdef):
            if ref not in schema.types:
                raise SchemaError(f"type {tname} refers to undeclared type {ref} in {label}")
    return schema


def snake_case(name: str) -> str:
    """The Python spelling of a wire field name: ``isStateEnabled`` -> ``is_state_enabled``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def load_schema(filename: str, label: str) -> Schema:
    """Load and parse ``filename`` shipped in the ``actorscope.schemas`` package."""
    text = resources.files("actorscope.schemas").joinpath(filename).read_text("utf-8")
    return parse_schema(text, label)
