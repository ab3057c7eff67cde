"""Generates the BARE encoder and decoder of a schema as Python source.

:func:`generate` turns a parsed :class:`~.schema.Schema` plus its Python
bindings (see :mod:`.modelcheck`) into the source of straight-line functions,
which :class:`.codec.Codec` compiles once at import: for every type ``T`` a
``decode_T(b, p)`` that decodes ``b[p:]`` completely and an
``encode_T(value, w)`` that appends to a ``bytearray``. Generating code from
the schema keeps the schema the single source of truth and keeps the hot path
free of per-field interpretation (``Codec.source`` shows what was generated).

Decoding follows PROTOCOL.md §2 strictly: one-byte varints are read inline and
longer ones by :func:`.bare.read_uvarint`; every length and count is checked
against the bytes remaining before anything is allocated; a truncated input
surfaces as ``IndexError``/``struct.error`` inside and is reported once, by
the top-level function, as ``DecodeError``.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from .errors import SchemaError
from .modelcheck import primitive_type
from .schema import (
    Enum,
    ListType,
    MapType,
    Named,
    OptionalType,
    Primitive,
    Schema,
    Struct,
    Type,
    Union,
    references,
)

__all__ = ["FIXED_WIDTH", "generate", "union_member_types"]

_FIXED = {"u8": "U8", "u16": "U16", "u32": "U32", "u64": "U64",
          "i8": "I8", "i16": "I16", "i32": "I32", "i64": "I64"}
_SIZES = {"U8": 1, "U16": 2, "U32": 4, "U64": 8, "I8": 1, "I16": 2, "I32": 4, "I64": 8}
_ENC_ERRORS = "(TypeError, ValueError, KeyError, AttributeError, OverflowError, struct_error)"


class _Gen:
    """Emits the source of one schema's codec."""

    def __init__(self, schema: Schema, bindings: Mapping[str, object]) -> None:
        self.schema = schema
        self.bindings = bindings
        self.label = schema.label
        self.out: list[str] = []
        self.n = 0

    def tmp(self) -> str:
        self.n += 1
        return f"t{self.n}"

    def emit(self, line: str) -> None:
        self.out.append(line)

    def fail(self, ind: str, message: str, suffix: str = "") -> None:
        """Emit ``raise DecodeError(f'<message>')``; ``message`` is f-string source."""
        self.out.append(f"{ind}raise DecodeError(f'{message}'){suffix}")

    # -- sizes and Python types ------------------------------------------------

    def minsize(self, t: Type | Struct | Union | Enum) -> int:
        """The fewest bytes a value of ``t`` can take (to bound list counts)."""
        match t:
            case Primitive(name, None):
                return _SIZES.get(_FIXED.get(name, ""), 1)
            case Named(name):
                return self.minsize(self.schema.types[name])
            case Struct(fields):
                return sum(self.minsize(f.type) for f in fields)
            case Union(members):
                return 1 + min(self.minsize(m) for m in members)
        return 1

    def member_pytype(self, t: Type) -> type:
        if isinstance(t, Primitive):
            return primitive_type(t.name)
        if isinstance(t, Named):
            target = self.schema.types[t.name]
            if isinstance(target, Struct | Enum):
                cls = self.bindings[t.name]
                assert isinstance(cls, type)
                return cls
            if isinstance(target, Primitive | Named):
                return self.member_pytype(target)
        raise SchemaError(f"union member {t!r} is not a struct, enum or primitive ({self.label})")

    # -- decoding ------------------------------------------------------------

    def dec_varint(self, v: str, ind: str, what: str, reader: str) -> None:
        self.emit(f"{ind}{v} = b[p]")
        self.emit(f"{ind}if {v} < 128:")
        self.emit(f"{ind}    p += 1")
        self.emit(f"{ind}else:")
        self.emit(f"{ind}    {v}, p = {reader}(b, p, {what!r})")

    def dec(self, t: Type, v: str, ind: str, what: str) -> None:
        """Emit statements decoding a ``t`` at ``b[p]`` into ``v``, advancing ``p``."""
        e = self.emit
        match t:
            case Primitive("uint", None):
                self.dec_varint(v, ind, what, "read_uvarint")
            case Primitive("bool", None):
                e(f"{ind}{v} = b[p]")
                e(f"{ind}if {v} > 1:")
                self.fail(ind + "    ", f"invalid bool {{{v}}} for {what} at offset {{p}}")
                e(f"{ind}{v} = {v} == 1")
                e(f"{ind}p += 1")
            case Primitive("str" | "data" as kind, None):
                n = self.tmp()
                self.dec_varint(n, ind, what, "read_length")
                e(f"{ind}if {n} > len(b) - p:")
                e(f"{ind}    raise too_long('length', {n}, len(b) - p, {what!r}, p)")
                if kind == "data":
                    e(f"{ind}{v} = b[p:p + {n}]")
                else:
                    e(f"{ind}try:")
                    e(f"{ind}    {v} = b[p:p + {n}].decode()")
                    e(f"{ind}except UnicodeDecodeError:")
                    msg = f"invalid utf-8 for {what} at offset {{p}}"
                    self.fail(ind + "    ", msg, " from None")
                e(f"{ind}p += {n}")
            case Primitive(name, None) if name in _FIXED:
                fx = _FIXED[name]
                e(f"{ind}{v} = {fx}(b, p)[0]")
                e(f"{ind}p += {_SIZES[fx]}")
            case OptionalType(inner):
                f = self.tmp()
                e(f"{ind}{f} = b[p]")
                e(f"{ind}if {f} == 0:")
                e(f"{ind}    {v} = None")
                e(f"{ind}    p += 1")
                e(f"{ind}elif {f} == 1:")
                e(f"{ind}    p += 1")
                self.dec(inner, v, ind + "    ", what)
                e(f"{ind}else:")
                self.fail(ind + "    ", f"invalid optional flag {{{f}}} for {what} at offset {{p}}")
            case ListType(inner, None):
                n, item = self.tmp(), self.tmp()
                self.dec_count(n, ind, what, self.minsize(inner))
                e(f"{ind}{v} = []")
                e(f"{ind}for _ in range({n}):")
                self.dec(inner, item, ind + "    ", what)
                e(f"{ind}    {v}.append({item})")
            case MapType(key, value):
                n, k, val, kp = self.tmp(), self.tmp(), self.tmp(), self.tmp()
                self.dec_count(n, ind, what, self.minsize(key) + self.minsize(value))
                e(f"{ind}{v} = {{}}")
                e(f"{ind}for _ in range({n}):")
                e(f"{ind}    {kp} = p")
                self.dec(key, k, ind + "    ", what)
                e(f"{ind}    if {k} in {v}:")
                self.fail(ind + "        ", f"duplicate map key for {what} at offset {{{kp}}}")
                self.dec(value, val, ind + "    ", what)
                e(f"{ind}    {v}[{k}] = {val}")
            case Named(name):
                self.dec_named(name, v, ind)
            case _:
                raise SchemaError(f"type {t!r} is not supported by this codec ({self.label})")

    def dec_count(self, n: str, ind: str, what: str, minsize: int) -> None:
        if minsize < 1:
            raise SchemaError(f"zero-size list or map elements in {what}")
        self.dec_varint(n, ind, what, "read_count")
        claim = n if minsize == 1 else f"{n} * {minsize}"
        self.emit(f"{ind}if {claim} > len(b) - p:")
        self.emit(f"{ind}    raise too_long('count', {n}, len(b) - p, {what!r}, p)")

    def dec_named(self, name: str, v: str, ind: str) -> None:
        e = self.emit
        target = self.schema.types[name]
        what = f"{name} {self.label}"
        match target:
            case Struct():
                e(f"{ind}{v}, p = d_{name}(b, p)")
            case Union(members):
                e(f"{ind}{v} = b[p]")
                e(f"{ind}if {v} >= {len(members)}:")
                self.fail(ind + "    ", f"unknown union tag {{{v}}} for {what} at offset {{p}}")
                e(f"{ind}{v}, p = DU_{name}[{v}](b, p + 1)")
            case Enum(values):
                e(f"{ind}{v} = b[p]")
                e(f"{ind}if {v} >= {len(values)}:")
                self.fail(ind + "    ", f"unknown enum value {{{v}}} for {what} at offset {{p}}")
                e(f"{ind}{v} = E_{name}[{v}]")
                e(f"{ind}p += 1")
            case _:
                self.dec(target, v, ind, what)

    def struct_body_dec(self, name: str, struct: Struct, ind: str, v: str) -> None:
        for i, f in enumerate(struct.fields):
            self.dec(f.type, f"f{i}", ind, f"{name}.{f.name} {self.label}")
        # Build the frozen instance without its attrs __init__: allocate it and
        # fill each slot through its member descriptor (S_<T>_<i> is
        # ``cls.__dict__[field].__set__``), half the cost of calling the class.
        # Equivalent because modelcheck requires plain fields (no defaults,
        # validators, converters or __attrs_post_init__).
        self.emit(f"{ind}{v} = new_object(C_{name})")
        for i in range(len(struct.fields)):
            self.emit(f"{ind}S_{name}_{i}({v}, f{i})")

    # -- encoding ------------------------------------------------------------

    def enc(self, t: Type, x: str, ind: str, what: str) -> None:
        """Emit statements appending the encoding of ``x`` (a ``t``) to ``w``."""
        e = self.emit
        match t:
            case Primitive("uint", None):
                e(f"{ind}if {x} < 128:")
                e(f"{ind}    w.append({x})")
                e(f"{ind}else:")
                e(f"{ind}    write_uvarint({x}, w)")
            case Primitive("bool", None):
                e(f"{ind}if {x} is True:")
                e(f"{ind}    w.append(1)")
                e(f"{ind}elif {x} is False:")
                e(f"{ind}    w.append(0)")
                e(f"{ind}else:")
                e(f"{ind}    raise TypeError('expected bool for {what}')")
            case Primitive("str" | "data" as kind, None):
                s, n = self.tmp(), self.tmp()
                if kind == "str":
                    e(f"{ind}{s} = {x}.encode()")
                else:
                    e(f"{ind}{s} = {x}")
                    e(f"{ind}if type({s}) is not bytes:")
                    e(f"{ind}    {s} = as_bytes({s}, {what!r})")
                e(f"{ind}{n} = len({s})")
                e(f"{ind}if {n} < 128:")
                e(f"{ind}    w.append({n})")
                e(f"{ind}else:")
                e(f"{ind}    write_length({n}, w)")
                e(f"{ind}w += {s}")
            case Primitive(name, None) if name in _FIXED:
                e(f"{ind}w += P{_FIXED[name]}({x})")
            case OptionalType(inner):
                e(f"{ind}if {x} is None:")
                e(f"{ind}    w.append(0)")
                e(f"{ind}else:")
                e(f"{ind}    w.append(1)")
                self.enc(inner, x, ind + "    ", what)
            case ListType(inner, None):
                item = self.tmp()
                e(f"{ind}write_uvarint(len({x}), w)")
                e(f"{ind}for {item} in {x}:")
                self.enc(inner, item, ind + "    ", what)
            case MapType(key, value):
                k, val = self.tmp(), self.tmp()
                e(f"{ind}write_uvarint(len({x}), w)")
                e(f"{ind}for {k}, {val} in {x}.items():")
                self.enc(key, k, ind + "    ", what)
                self.enc(value, val, ind + "    ", what)
            case Named(name):
                self.enc_named(name, x, ind)
            case _:
                raise SchemaError(f"type {t!r} is not supported by this codec ({self.label})")

    def enc_named(self, name: str, x: str, ind: str) -> None:
        e = self.emit
        target = self.schema.types[name]
        what = f"{name} {self.label}"
        match target:
            case Struct():
                e(f"{ind}e_{name}({x}, w)")
            case Union():
                r = self.tmp()
                e(f"{ind}{r} = EU_{name}.get(type({x}))")
                e(f"{ind}if {r} is None:")
                e(f"{ind}    raise TypeError(f'{{type({x}).__name__}} is not a member of {what}')")
                e(f"{ind}w.append({r}[0])")
                e(f"{ind}{r}[1]({x}, w)")
            case Enum():
                r = self.tmp()
                e(f"{ind}{r} = EE_{name}.get({x})")
                e(f"{ind}if {r} is None or type({x}) is not C_{name}:")
                e(f"{ind}    raise TypeError(f'{{{x}!r}} is not a {what} value')")
                e(f"{ind}w.append({r})")
            case _:
                self.enc(target, x, ind, what)

    def struct_body_enc(self, name: str, struct: Struct, ind: str, v: str) -> None:
        self.emit(f"{ind}if type({v}) is not C_{name}:")
        self.emit(f"{ind}    raise TypeError(f'expected {name}, got {{type({v}).__name__}}')")
        for i, f in enumerate(struct.fields):
            x = f"x{i}"
            self.emit(f"{ind}{x} = {v}.{self.pyname(name, i)}")
            self.enc(f.type, x, ind, f"{name}.{f.name} {self.label}")

    def pyname(self, struct_name: str, index: int) -> str:
        cls = self.bindings[struct_name]
        assert isinstance(cls, type)
        name: str = attrs.fields(cls)[index].name
        return name

    # -- whole module --------------------------------------------------------

    def generate(self) -> str:
        e = self.emit
        tables: list[str] = []
        referenced = {r for t in self.schema.types.values() for r in references(t)}
        roots = set(self.schema.types) - referenced
        for name, t in self.schema.types.items():
            what = f"{name} {self.label}"
            if isinstance(t, Struct):
                e(f"def d_{name}(b, p):")
                self.struct_body_dec(name, t, "    ", "v")
                e("    return v, p")
                e(f"def e_{name}(v, w):")
                self.struct_body_enc(name, t, "    ", "v")
                e("    return None")
            if isinstance(t, Union):
                decs, encs = [], []
                for i, m in enumerate(t.members):
                    if isinstance(m, Named) and isinstance(self.schema.types[m.name], Struct):
                        decs.append(f"d_{m.name}")
                        encs.append(f"e_{m.name}")
                    else:
                        e(f"def dm_{name}_{i}(b, p):")
                        self.dec(m, "v", "    ", what)
                        e("    return v, p")
                        e(f"def em_{name}_{i}(v, w):")
                        self.enc(m, "v", "    ", what)
                        decs.append(f"dm_{name}_{i}")
                        encs.append(f"em_{name}_{i}")
                    tables.append(f"# {name}[{i}] is {m!r}")
                tables.append(f"DU_{name} = ({', '.join(decs)},)")
                entries = ", ".join(f"UT_{name}[{i}]: ({i}, {fn})" for i, fn in enumerate(encs))
                tables.append(f"EU_{name} = {{{entries}}}")
            # Top-level entry points: the whole input must be one value. Root
            # types (referenced by no other type: ToServer, ToClient,
            # WorkflowHistory) get their struct body inlined, the hot path;
            # the others call their inner function, which keeps the source
            # (and the compile at import) about half as big.
            inline = isinstance(t, Struct) and name in roots
            e(f"def decode_{name}(b, p=0):")
            e("    try:")
            if inline:
                assert isinstance(t, Struct)
                self.struct_body_dec(name, t, "        ", "v")
            elif isinstance(t, Struct):
                e(f"        v, p = d_{name}(b, p)")
            else:
                self.dec(Named(name), "v", "        ", what)
            e("    except (IndexError, struct_error):")
            msg = f"unexpected end of input for {what} at offset {{len(b)}}"
            self.fail("        ", msg, " from None")
            e("    if p != len(b):")
            self.fail("        ", f"{{len(b) - p}} trailing bytes after {what} at offset {{p}}")
            e("    return v")
            e(f"def encode_{name}(v, w):")
            e("    try:")
            if inline:
                assert isinstance(t, Struct)
                self.struct_body_enc(name, t, "        ", "v")
            elif isinstance(t, Struct):
                e(f"        e_{name}(v, w)")
            else:
                self.enc(Named(name), "v", "        ", what)
            e(f"    except {_ENC_ERRORS} as exc:")
            e(f"        raise EncodeError(f'cannot encode {what}: {{exc}}') from exc")
        return "\n".join(self.out + tables) + "\n"


# Fixed-width integer types -> the name of their struct.Struct in .bare.
FIXED_WIDTH = dict(_FIXED)


def generate(schema: Schema, bindings: Mapping[str, object]) -> str:
    """The Python source of the codec of ``schema`` bound to ``bindings``.

    The source expects, in its namespace, the helpers listed in
    :class:`.codec.Codec` and, per type: ``C_<T>`` (struct/enum class),
    ``E_<T>``/``EE_<T>`` (enum members by index / index by member) and
    ``UT_<T>`` (each union member's Python type).
    """
    return _Gen(schema, bindings).generate()


def union_member_types(
    schema: Schema, bindings: Mapping[str, object], name: str
) -> tuple[type, ...]:
    """The Python type that stands for each member of union ``name``, in tag order."""
    union = schema.types[name]
    assert isinstance(union, Union)
    gen = _Gen(schema, bindings)
    return tuple(gen.member_pytype(m) for m in union.members)
