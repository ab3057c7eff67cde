"""The JSON form of messages and histories, as used by ``tests/vectors/``.

Rules: struct fields under their wire (camelCase) names in schema order;
``data`` as lowercase hex (or whatever the ``data`` hook makes of the bytes);
integers as exact JSON integers; absent optionals as ``null``; unions as
``{"tag": <member type name>, "val": <member>}``; enums by member name.

The ``data`` hooks let the HTTP API show user values decoded instead of as
hex, and let the engine hand over raw bytes
(``from_json(WorkflowHistory, t, data=lambda b: b)``). The converters are
compiled, once per type, from the same parsed schemas the codec is generated
from, so the JSON form cannot drift from the wire form; compiling to closures
keeps a 1,000-entry history to a few milliseconds (the server converts one on
every history push).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from . import history
from .codec import Codec
from .codegen import union_member_types
from .converters import Message
from .errors import DecodeError, SchemaError
from .framing import VERSIONS, codec, parse_direction
from .schema import Enum, ListType, MapType, Named, OptionalType, Primitive, Struct, Type, Union

__all__ = ["from_json", "message_from_json", "to_json"]

T = TypeVar("T")
Hook = Callable[[Any], Any]
# A compiled converter: (value, data hook) -> converted value.
_Conv = Callable[[Any, Hook], Any]

_RANGES = {
    "uint": (0, (1 << 64) - 1),
    "u8": (0, 255),
    "u16": (0, (1 << 16) - 1),
    "u32": (0, (1 << 32) - 1),
    "u64": (0, (1 << 64) - 1),
    "i8": (-(1 << 7), (1 << 7) - 1),
    "i16": (-(1 << 15), (1 << 15) - 1),
    "i32": (-(1 << 31), (1 << 31) - 1),
    "i64": (-(1 << 63), (1 << 63) - 1),
}

# Where each class is described: the newest version first, so a class shared
# by several versions is walked with the newest schema (they are identical).
_REGISTRY: dict[type, tuple[Codec, str]] = {}
for _c in (*(codec(v) for v in reversed(VERSIONS)), history.CODEC):
    for _cls, _name in _c.names.items():
        _REGISTRY.setdefault(_cls, (_c, _name))


def _identity(v: Any, data: Hook) -> Any:
    return v


class _Compiler:
    """Builds and caches the converters of one direction (to or from JSON) per codec."""

    def __init__(self, build: Callable[[_Compiler, Codec, Type], _Conv]) -> None:
        self.build = build
        self.cache: dict[tuple[int, str], _Conv] = {}

    def named(self, c: Codec, name: str) -> _Conv:
        key = (id(c), name)
        conv = self.cache.get(key)
        if conv is None:
            # A trampoline first, so a recursive type refers to itself lazily.
            self.cache[key] = lambda v, d: self.cache[key](v, d)
            conv = self.cache[key] = self.build(self, c, Named(name))
        return conv

    def of(self, c: Codec, t: Type) -> _Conv:
        return self.named(c, t.name) if isinstance(t, Named) else self.build(self, c, t)


def _struct_fields(c: Codec, name: str) -> list[tuple[str, str, Type]]:
    struct = c.schema.types[name]
    assert isinstance(struct, Struct)
    cls = c.bindings[name]
    assert isinstance(cls, type)
    fields = zip(struct.fields, attrs.fields(cls), strict=True)
    return [(f.name, a.name, f.type) for f, a in fields]


def _union_members(c: Codec, name: str) -> list[tuple[str, Type, type]]:
    """(tag name, member type, Python type) for each member of union ``name``.

    The Python types are the ones the codec dispatches on when encoding
    (:func:`.codegen.union_member_types`), so both forms agree on them.
    """
    union = c.schema.types[name]
    assert isinstance(union, Union)
    tags: list[str] = []
    for m in union.members:
        if not isinstance(m, Named | Primitive):
            raise SchemaError(f"union member {m!r} of {name} has no JSON form")
        tags.append(m.name)
    pytypes = union_member_types(c.schema, c.bindings, name)
    return list(zip(tags, union.members, pytypes, strict=True))


# -- to JSON ------------------------------------------------------------------


def _build_to(comp: _Compiler, c: Codec, t: Type) -> _Conv:
    match t:
        case Primitive("data"):
            return lambda v, data: data(v)
        case Primitive():
            return _identity
        case OptionalType(inner):
            f = comp.of(c, inner)
            if f is _identity:
                return _identity
            return lambda v, data: None if v is None else f(v, data)
        case ListType(inner):
            f = comp.of(c, inner)
            if f is _identity:
                return lambda v, data: list(v)
            return lambda v, data: [f(x, data) for x in v]
        case MapType(key, value):
            fk, fv = comp.of(c, key), comp.of(c, value)
            return lambda v, data: {fk(k, data): fv(x, data) for k, x in v.items()}
        case Named(name):
            target = c.schema.types[name]
            if isinstance(target, Struct):
                fields = [(w, py, comp.of(c, ft)) for w, py, ft in _struct_fields(c, name)]
                return lambda v, data: {w: f(getattr(v, py), data) for w, py, f in fields}
            if isinstance(target, Union):
                members = {pt: (tag, comp.of(c, mt)) for tag, mt, pt in _union_members(c, name)}
                tags = frozenset(tag for tag, _ in members.values())
                label = f"{name} {c.schema.label}"

                def union(v: Any, data: Hook) -> Any:
                    m = members.get(type(v))
                    if m is None:
                        m = members[type(v)] = _older_member(type(v), tags, label)
                    return {"tag": m[0], "val": m[1](v, data)}

                return union
            if isinstance(target, Enum):
                return lambda v, data: v.name
            return comp.of(c, target)
    raise SchemaError(f"type {t!r} has no JSON form")


def _older_member(cls: type, tags: frozenset[str], label: str) -> tuple[str, _Conv]:
    # A shared wrapper (ToClient) walked with the newest schema may hold an
    # older version's form of a member (InitV2, InitV5 for Init): its tag
    # name and fields come from the schema that describes that class.
    entry = _REGISTRY.get(cls)
    if entry is None or entry[1] not in tags:
        raise TypeError(f"{cls.__name__} is not a member of {label}")
    c, name = entry
    return name, _TO.named(c, name)


_TO = _Compiler(_build_to)


def to_json(obj: object, *, data: Callable[[bytes], Any] = bytes.hex) -> Any:
    """The JSON form (dicts, lists, str, int, bool, None) of a message or history.

    Args:
        obj: any model object (``ToServer``, ``ToClientV1``, ``WorkflowHistory``,
            ``StateRequest``, ...).
        data: renders the bytes of each ``data`` field (default: lowercase hex).
    """
    entry = _REGISTRY.get(type(obj))
    if entry is None:
        raise TypeError(f"{type(obj).__name__} is not a protocol model class")
    c, name = entry
    return _TO.named(c, name)(obj, data)


# -- from JSON ----------------------------------------------------------------


class _Invalid(Exception):
    """A JSON value that does not fit; ``path`` is filled in on the way out."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.parts: list[str] = []


def _locate(f: _Conv, items: Any, data: Hook, err: _Invalid) -> None:
    """Add to ``err`` the path part of the first of ``items`` (key, value) that fails."""
    for part, x in items:
        try:
            f(x, data)
        except _Invalid:
            err.parts.append(part)
            return


def _check_primitive(name: str) -> _Conv:
    if name == "bool":

        def conv_bool(v: Any, data: Hook) -> Any:
            if type(v) is not bool:
                raise _Invalid("expected true or false")
            return v

        return conv_bool
    if name == "str":

        def conv_str(v: Any, data: Hook) -> Any:
            if type(v) is not str:
                raise _Invalid("expected a string")
            if not v.isascii():
                try:
                    v.encode()
                except UnicodeEncodeError:
                    raise _Invalid("string is not valid unicode") from None
            return v

        return conv_str
    if name == "data":

        def conv_data(v: Any, data: Hook) -> Any:
            try:
                b = data(v)
            except (TypeError, ValueError) as exc:
                raise _Invalid(f"bad data value ({exc})") from None
            if type(b) is not bytes:
                if not isinstance(b, bytearray | memoryview):
                    raise _Invalid("data hook did not return bytes")
                b = bytes(b)
            return b

        return conv_data
    if name in _RANGES:
        lo, hi = _RANGES[name]
        reason = f"expected an integer in the {name} range"

        def conv_int(v: Any, data: Hook) -> Any:
            if type(v) is not int or not lo <= v <= hi:
                raise _Invalid(reason)
            return v

        return conv_int
    raise SchemaError(f"primitive {name} has no JSON form")


def _build_from(comp: _Compiler, c: Codec, t: Type) -> _Conv:
    match t:
        case Primitive(name, None):
            return _check_primitive(name)
        case OptionalType(inner):
            f = comp.of(c, inner)
            return lambda v, data: None if v is None else f(v, data)
        case ListType(inner, None):
            return _from_list(comp.of(c, inner))
        case MapType(key, value):
            return _from_map(comp.of(c, key), comp.of(c, value))
        case Named(name):
            target = c.schema.types[name]
            if isinstance(target, Struct):
                return _from_struct(comp, c, name)
            if isinstance(target, Union):
                return _from_union(comp, c, name)
            if isinstance(target, Enum):
                members: dict[str, Any] = {m.name: m for m in c.bindings[name]}  # type: ignore[attr-defined]

                def conv_enum(v: Any, data: Hook) -> Any:
                    m = members.get(v) if type(v) is str else None
                    if m is None:
                        raise _Invalid(f"unknown {name} value {v!r}")
                    return m

                return conv_enum
            return comp.of(c, target)
    raise SchemaError(f"type {t!r} has no JSON form")


def _from_list(f: _Conv) -> _Conv:
    def conv(v: Any, data: Hook) -> Any:
        if type(v) is not list:
            raise _Invalid("expected a list")
        try:
            return [f(x, data) for x in v]
        except _Invalid as err:
            _locate(f, ((f"[{i}]", x) for i, x in enumerate(v)), data, err)
            raise

    return conv


def _from_map(fk: _Conv, fv: _Conv) -> _Conv:
    def conv(v: Any, data: Hook) -> Any:
        if type(v) is not dict:
            raise _Invalid("expected an object")
        try:
            return {fk(k, data): fv(x, data) for k, x in v.items()}
        except _Invalid as err:
            _locate(fv, ((f".{k}", x) for k, x in v.items()), data, err)
            raise

    return conv


def _from_struct(comp: _Compiler, c: Codec, name: str) -> _Conv:
    cls: Any = c.bindings[name]
    fields = [(w, comp.of(c, ft)) for w, _, ft in _struct_fields(c, name)]
    wires = [w for w, _ in fields]

    def bad_keys(v: dict[str, Any]) -> _Invalid:
        extra = sorted(set(v) - set(wires), key=str)
        if extra:
            return _Invalid(f"unknown field {extra[0]!r} for {name}")
        missing = next(w for w in wires if w not in v)
        return _Invalid(f"missing field {missing!r} for {name}")

    def conv(v: Any, data: Hook) -> Any:
        if type(v) is not dict:
            raise _Invalid(f"expected an object for {name}")
        if len(v) != len(fields):
            raise bad_keys(v)
        try:
            return cls(*[f(v[w], data) for w, f in fields])
        except KeyError:
            raise bad_keys(v) from None
        except _Invalid as err:
            for w, f in fields:
                try:
                    f(v[w], data)
                except _Invalid:
                    err.parts.append(f".{w}")
                    break
            raise

    return conv


def _from_union(comp: _Compiler, c: Codec, name: str) -> _Conv:
    members = {tag: comp.of(c, mt) for tag, mt, _ in _union_members(c, name)}
    label = f"{name} {c.schema.label}"

    def conv(v: Any, data: Hook) -> Any:
        if type(v) is not dict or len(v) != 2 or "tag" not in v or "val" not in v:
            raise _Invalid(f'expected {{"tag", "val"}} for {name}')
        tag = v["tag"]
        f = members.get(tag) if type(tag) is str else None
        if f is None:
            raise _Invalid(f"unknown tag {tag!r} for {label}")
        try:
            return f(v["val"], data)
        except _Invalid as err:
            err.parts.append(".val")
            raise

    return conv


_FROM = _Compiler(_build_from)


def _run_from(c: Codec, name: str, obj: Any, data: Hook) -> Any:
    try:
        return _FROM.named(c, name)(obj, data)
    except _Invalid as err:
        raise DecodeError(f"{err.reason} at $" + "".join(reversed(err.parts))) from None


def from_json(cls: type[T], obj: Any, *, data: Callable[[Any], bytes] = bytes.fromhex) -> T:
    """Build a ``cls`` from its JSON form; the inverse of :func:`to_json`.

    Shared classes are read with the newest schema; for a message at an older
    version use :func:`message_from_json`.

    Args:
        cls: the model class (``ToServer``, ``WorkflowHistory``, ``Init``, ...).
        obj: the JSON value (as ``json.loads`` returns it).
        data: turns the JSON value of a ``data`` field into bytes (default:
            from hex).

    Raises:
        DecodeError: ``obj`` does not have the shape, types or ranges ``cls``
            needs; the message ends with the JSON path (``at $.body.val.id``).
    """
    entry = _REGISTRY.get(cls)
    if entry is None:
        raise TypeError(f"{cls.__name__} is not a protocol model class")
    result: T = _run_from(entry[0], entry[1], obj, data)
    return result


def message_from_json(
    direction: str, version: int, obj: Any, *, data: Callable[[Any], bytes] = bytes.fromhex
) -> Message:
    """Build the ``ToServer``/``ToClient`` *at* ``version`` (v1: ``ToServerV1``...) from JSON."""
    name = "ToServer" if parse_direction(direction) == "to_server" else "ToClient"
    return _run_from(codec(version), name, obj, data)
