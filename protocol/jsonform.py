"""The JSON form of messages and histories, as used by ``../shared/vectors/``.

Rules: struct fields under their wire (camelCase) names in schema order;
``data`` as lowercase hex (or whatever the ``data`` hook makes of the bytes);
integers as exact JSON integers; absent optionals as ``null``; unions as
``{"tag": <member type name>, "val": <member>}``; enums by member name.

The ``data`` hooks let the HTTP API show user values decoded instead of as
hex, and let the engine hand over raw bytes
(``from_json(WorkflowHistory, t, data=lambda b: b)``). The walk is driven by
the same parsed schemas the codec is generated from, so the JSON form cannot
drift from the wire form either.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

import attrs

from . import history
from .codec import Codec
from .converters import Message
from .errors import DecodeError, SchemaError
from .framing import codec, parse_direction
from .schema import Enum, ListType, MapType, Named, OptionalType, Primitive, Struct, Type, Union

__all__ = ["from_json", "message_from_json", "to_json"]

T = TypeVar("T")

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
for _c in (codec(4), codec(3), codec(2), codec(1), history.CODEC):
    for _cls, _name in _c.names.items():
        _REGISTRY.setdefault(_cls, (_c, _name))


@cache
def _fields(c: Codec, name: str) -> tuple[tuple[str, str, Type], ...]:
    struct = c.schema.types[name]
    assert isinstance(struct, Struct)
    cls = c.bindings[name]
    assert isinstance(cls, type)
    return tuple(
        (f.name, a.name, f.type) for f, a in zip(struct.fields, attrs.fields(cls), strict=True)
    )


@cache
def _members(c: Codec, name: str) -> tuple[tuple[str, Type, type], ...]:
    """(tag name, member type, Python type) for each member of union ``name``."""
    union = c.schema.types[name]
    assert isinstance(union, Union)
    out = []
    for m in union.members:
        tag = m.name if isinstance(m, Named | Primitive) else repr(m)
        out.append((tag, m, _pytype(c, m)))
    return tuple(out)


def _pytype(c: Codec, t: Type) -> type:
    if isinstance(t, Named):
        target = c.schema.types[t.name]
        if isinstance(target, Struct | Enum):
            cls = c.bindings[t.name]
            assert isinstance(cls, type)
            return cls
        if isinstance(target, Primitive | Named):
            return _pytype(c, target)
    if isinstance(t, Primitive):
        return {"bool": bool, "str": str, "data": bytes}.get(t.name, int)
    raise SchemaError(f"union member {t!r} has no JSON form")


# -- to JSON ------------------------------------------------------------------


def to_json(obj: object, *, data: Callable[[bytes], Any] = bytes.hex) -> Any:
    """The JSON form (dicts, lists, str, int, bool, None) of a message or history.

    Args:
        obj: any model object (``ToServer``, ``ToClientV1``, ``WorkflowHistory``,
            ``StateRequest``, …).
        data: renders the bytes of each ``data`` field (default: lowercase hex).
    """
    entry = _REGISTRY.get(type(obj))
    if entry is None:
        raise TypeError(f"{type(obj).__name__} is not a protocol model class")
    c, name = entry
    return _to(c, Named(name), obj, data)


def _to(c: Codec, t: Type | Struct | Union | Enum, v: Any, data: Callable[[bytes], Any]) -> Any:
    match t:
        case Primitive("data"):
            return data(v)
        case Primitive():
            return v
        case OptionalType(inner):
            return None if v is None else _to(c, inner, v, data)
        case ListType(inner):
            return [_to(c, inner, x, data) for x in v]
        case MapType(key, value):
            return {_to(c, key, k, data): _to(c, value, x, data) for k, x in v.items()}
        case Named(name):
            target = c.schema.types[name]
            if isinstance(target, Struct):
                return {wire: _to(c, ft, getattr(v, py), data) for wire, py, ft in _fields(c, name)}
            if isinstance(target, Union):
                for tag, mt, pt in _members(c, name):
                    if type(v) is pt:
                        return {"tag": tag, "val": _to(c, mt, v, data)}
                raise TypeError(f"{type(v).__name__} is not a member of {name} {c.schema.label}")
            if isinstance(target, Enum):
                return v.name
            return _to(c, target, v, data)
    raise SchemaError(f"type {t!r} has no JSON form")


# -- from JSON ----------------------------------------------------------------


def from_json(cls: type[T], obj: Any, *, data: Callable[[Any], bytes] = bytes.fromhex) -> T:
    """Build a ``cls`` from its JSON form; the inverse of :func:`to_json`.

    Shared classes are read with the newest schema; for a message at an older
    version use :func:`message_from_json`.

    Args:
        cls: the model class (``ToServer``, ``WorkflowHistory``, ``Init``, …).
        obj: the JSON value (as ``json.loads`` returns it).
        data: turns the JSON value of a ``data`` field into bytes (default:
            from hex).

    Raises:
        DecodeError: ``obj`` does not have the shape, types or ranges ``cls`` needs.
    """
    entry = _REGISTRY.get(cls)
    if entry is None:
        raise TypeError(f"{cls.__name__} is not a protocol model class")
    c, name = entry
    result: T = _from(c, Named(name), obj, data, "$")
    return result


def message_from_json(
    direction: str, version: int, obj: Any, *, data: Callable[[Any], bytes] = bytes.fromhex
) -> Message:
    """Build the ``ToServer``/``ToClient`` *at* ``version`` (v1: ``ToServerV1``…) from JSON."""
    name = "ToServer" if parse_direction(direction) == "to_server" else "ToClient"
    return _from(codec(version), Named(name), obj, data, "$")


def _fail(what: str, path: str) -> DecodeError:
    return DecodeError(f"{what} at {path}")


def _from(
    c: Codec, t: Type | Struct | Union | Enum, v: Any, data: Callable[[Any], bytes], path: str
) -> Any:
    match t:
        case Primitive("bool"):
            if type(v) is not bool:
                raise _fail("expected true or false", path)
            return v
        case Primitive("str"):
            if type(v) is not str:
                raise _fail("expected a string", path)
            try:
                v.encode()
            except UnicodeEncodeError:
                raise _fail("string is not valid unicode", path) from None
            return v
        case Primitive("data"):
            try:
                b = data(v)
            except (TypeError, ValueError) as exc:
                raise _fail(f"bad data value ({exc})", path) from None
            if isinstance(b, bytearray | memoryview):
                b = bytes(b)
            if type(b) is not bytes:
                raise _fail("data hook did not return bytes", path)
            return b
        case Primitive(name) if name in _RANGES:
            lo, hi = _RANGES[name]
            if type(v) is not int or not lo <= v <= hi:
                raise _fail(f"expected an integer in the {name} range", path)
            return v
        case OptionalType(inner):
            return None if v is None else _from(c, inner, v, data, path)
        case ListType(inner):
            if type(v) is not list:
                raise _fail("expected a list", path)
            return [_from(c, inner, x, data, f"{path}[{i}]") for i, x in enumerate(v)]
        case MapType(key, value):
            if type(v) is not dict:
                raise _fail("expected an object", path)
            return {
                _from(c, key, k, data, path): _from(c, value, x, data, f"{path}.{k}")
                for k, x in v.items()
            }
        case Named(name):
            return _from_named(c, name, v, data, path)
    raise SchemaError(f"type {t!r} has no JSON form")


def _from_named(c: Codec, name: str, v: Any, data: Callable[[Any], bytes], path: str) -> Any:
    target = c.schema.types[name]
    if isinstance(target, Struct):
        if type(v) is not dict:
            raise _fail(f"expected an object for {name}", path)
        fields = _fields(c, name)
        extra = set(v) - {wire for wire, _, _ in fields}
        if extra:
            raise _fail(f"unknown field {sorted(extra)[0]!r} for {name}", path)
        args = []
        for wire, _, ft in fields:
            if wire not in v:
                raise _fail(f"missing field {wire!r} for {name}", path)
            args.append(_from(c, ft, v[wire], data, f"{path}.{wire}"))
        return c.bindings[name](*args)  # type: ignore[operator]
    if isinstance(target, Union):
        if type(v) is not dict or set(v) != {"tag", "val"}:
            raise _fail(f'expected {{"tag", "val"}} for {name}', path)
        for tag, mt, _ in _members(c, name):
            if tag == v["tag"]:
                return _from(c, mt, v["val"], data, f"{path}.val")
        raise _fail(f"unknown tag {v['tag']!r} for {name} {c.schema.label}", path)
    if isinstance(target, Enum):
        enum_cls: Any = c.bindings[name]
        if type(v) is not str or v not in target.values:
            raise _fail(f"unknown {name} value {v!r}", path)
        return enum_cls[v]
    return _from(c, target, v, data, path)
