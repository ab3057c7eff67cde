"""Checks that the Python message model matches its ``.bare`` schema.

Each schema type name is *bound* to a Python object: a struct to an
``attrs`` class, a union to a type alias (``A | B | C``, members in tag
order), an enum to an :class:`enum.Enum` (values 0, 1, … in declaration
order) and an alias such as ``type WorkflowNameIndex u32`` to the Python type
of what it aliases (``int``). :func:`check_bindings` compares every type, field
name (camelCase on the wire, snake_case in Python), field order, field type,
union member order and enum order, and lists every difference. The codec
builder runs it at import, so a drifted model cannot load, and the tests run it
on deliberately altered schemas to show that drift is caught.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Mapping

import attrs

from .errors import SchemaError, SchemaMismatch
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
    snake_case,
)

__all__ = [
    "check_bindings",
    "collect_bindings",
    "expected_annotation",
    "primitive_type",
    "require_bindings",
]

_INTS = frozenset(["uint", "int", "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64"])


def primitive_type(name: str) -> type:
    """The Python type that carries a BARE primitive."""
    if name in _INTS:
        return int
    simple: dict[str, type] = {"bool": bool, "str": str, "data": bytes, "f32": float, "f64": float}
    if name in simple:
        return simple[name]
    raise SchemaError(f"primitive {name} has no Python type here")


def expected_annotation(schema: Schema, bindings: Mapping[str, object], t: Type) -> object:
    """The Python annotation a field of schema type ``t`` must carry."""
    match t:
        case Primitive(name):
            return primitive_type(name)
        case Named(name):
            return bindings.get(name)
        case OptionalType(inner):
            return expected_annotation(schema, bindings, inner) | None  # type: ignore[operator]
        case ListType(inner):
            return list[expected_annotation(schema, bindings, inner)]  # type: ignore[misc]
        case MapType(key, value):
            k = expected_annotation(schema, bindings, key)
            v = expected_annotation(schema, bindings, value)
            return dict[k, v]  # type: ignore[valid-type]
    raise SchemaError(f"unexpected schema type {t!r}")


def _members(annotation: object) -> tuple[object, ...]:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return typing.get_args(annotation)
    return (annotation,)


def _contains_all(members: tuple[object, ...], annotation: tuple[object, ...]) -> bool:
    return all(any(x is y for y in annotation) for x in members)


def _check_struct(
    schema: Schema, bindings: Mapping[str, object], name: str, struct: Struct, cls: object
) -> list[str]:
    if not (isinstance(cls, type) and attrs.has(cls)):
        return [f"{name}: bound to {cls!r}, not an attrs class"]
    if "__slots__" not in cls.__dict__:
        return [f"{name}: {cls.__name__} is not slotted"]
    fields = attrs.fields(cls)
    # The generated decoder fills the slots directly (see codegen), so the
    # class must be plain data: nothing its __init__ would do beyond storing.
    if hasattr(cls, "__attrs_post_init__") or any(
        f.default is not attrs.NOTHING or f.validator or f.converter or f.on_setattr
        for f in fields
    ):
        return [f"{name}: {cls.__name__} has defaults, validators, converters or hooks"]
    want = [snake_case(f.name) for f in struct.fields]
    have = [f.name for f in fields]
    if want != have:
        return [f"{name}: {cls.__name__} fields {have} != schema {want} ({schema.label})"]
    # Resolve string annotations (``from __future__ import annotations``) in
    # the namespace of the module that defines the class.
    hints = typing.get_type_hints(cls)
    problems: list[str] = []
    for sf, af in zip(struct.fields, fields, strict=True):
        annotation = hints[af.name]
        expected = expected_annotation(schema, bindings, sf.type)
        target = schema.resolve(sf.type) if isinstance(sf.type, Named) else None
        if isinstance(target, Union):
            # A wrapper shared by several versions (ToServer, ToClient) is
            # annotated with a union that accepts every version's members; the
            # tag order is checked where each version binds its own union.
            ok = _contains_all(_members(expected), _members(annotation))
        else:
            ok = annotation == expected
        if not ok:
            problems.append(
                f"{name}.{sf.name}: {cls.__name__}.{af.name} is {annotation!r}, "
                f"schema wants {expected!r} ({schema.label})"
            )
    return problems


def check_bindings(schema: Schema, bindings: Mapping[str, object]) -> list[str]:
    """Every difference between ``schema`` and the Python objects bound to its names."""
    problems: list[str] = []
    for name, tdef in schema.types.items():
        if name not in bindings:
            problems.append(f"{name}: no Python binding ({schema.label})")
            continue
        obj = bindings[name]
        match tdef:
            case Struct():
                problems += _check_struct(schema, bindings, name, tdef, obj)
            case Union(members):
                want = tuple(expected_annotation(schema, bindings, m) for m in members)
                have = _members(obj)
                pairs = zip(want, have, strict=False)
                if len(want) != len(have) or any(a is not b for a, b in pairs):
                    problems.append(f"{name}: union members {have} != {want} ({schema.label})")
            case Enum(values):
                if not (isinstance(obj, type) and issubclass(obj, enum.Enum)):
                    problems.append(f"{name}: bound to {obj!r}, not an Enum")
                    continue
                have_e = [(m.name, m.value) for m in obj]
                want_e = list(zip(values, range(len(values)), strict=True))
                if have_e != want_e:
                    problems.append(f"{name}: enum {have_e} != schema {want_e} ({schema.label})")
            case _:
                expected = expected_annotation(schema, bindings, tdef)
                if obj != expected:
                    problems.append(f"{name}: alias bound to {obj!r}, schema wants {expected!r}")
    extra = set(bindings) - set(schema.types)
    if extra:
        problems.append(f"bindings for names not in the schema: {sorted(extra)} ({schema.label})")
    return problems


def require_bindings(schema: Schema, bindings: Mapping[str, object]) -> None:
    """Raise :class:`SchemaMismatch` listing every difference, if there is any."""
    problems = check_bindings(schema, bindings)
    if problems:
        raise SchemaMismatch("model does not match schema:\n  " + "\n  ".join(problems))


def collect_bindings(schema: Schema, *sources: Mapping[str, object]) -> dict[str, object]:
    """Bind each schema type name to the first source (a namespace) defining it."""
    out: dict[str, object] = {}
    for name in schema.types:
        for source in sources:
            if name in source:
                out[name] = source[name]
                break
    return out
