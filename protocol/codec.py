"""A schema's compiled codec: the generated functions bound to the Python model.

:class:`Codec` checks the bindings against the schema (:mod:`.modelcheck`),
generates the source (:mod:`.codegen`) and compiles it once. The per-version
modules each hold one (``v4.CODEC``), and :mod:`.framing` calls its
``decoders``/``encoders`` directly on the hot path.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from . import bare
from .codegen import FIXED_WIDTH, generate, union_member_types
from .errors import DecodeError, EncodeError, SchemaError
from .modelcheck import require_bindings
from .schema import Enum, Schema, Struct, Union

__all__ = ["Codec", "Decoder", "Encoder"]

Decoder = Callable[[bytes, int], Any]
Encoder = Callable[[Any, bytearray], None]


def _as_bytes(x: object, what: str) -> bytes:
    if isinstance(x, bytearray | memoryview):
        return bytes(x)
    raise TypeError(f"expected bytes for {what}, got {type(x).__name__}")


class Codec:
    """The generated encoder/decoder of one schema bound to its Python model.

    Args:
        schema: the parsed schema.
        bindings: schema type name -> Python class / union alias / Enum / type
            (checked with :func:`.modelcheck.require_bindings` first).

    Raises:
        SchemaMismatch: the bindings do not match the schema.
        SchemaError: the schema uses something this codec does not support.
    """

    def __init__(self, schema: Schema, bindings: Mapping[str, object]) -> None:
        require_bindings(schema, bindings)
        self.schema = schema
        self.bindings = dict(bindings)
        self.source = generate(schema, bindings)
        ns: dict[str, Any] = {
            "DecodeError": DecodeError,
            "EncodeError": EncodeError,
            "struct_error": struct.error,
            "read_uvarint": bare.read_uvarint,
            "read_length": bare.read_length,
            "read_count": bare.read_count,
            "too_long": bare.too_long,
            "write_uvarint": bare.write_uvarint,
            "write_length": bare.write_length,
            "as_bytes": _as_bytes,
            "new_object": object.__new__,
        }
        for fx in FIXED_WIDTH.values():
            packer: struct.Struct = getattr(bare, fx)
            ns[fx] = packer.unpack_from
            ns["P" + fx] = packer.pack
        self.names: dict[type, str] = {}
        for name, t in schema.types.items():
            obj = bindings[name]
            if isinstance(t, Struct | Enum):
                assert isinstance(obj, type)
                ns[f"C_{name}"] = obj
                self.names.setdefault(obj, name)
            if isinstance(t, Struct):
                cls: Any = obj
                for i, field in enumerate(attrs.fields(cls)):
                    ns[f"S_{name}_{i}"] = cls.__dict__[field.name].__set__
            if isinstance(t, Enum):
                members = list(obj)  # type: ignore[call-overload]
                ns[f"E_{name}"] = tuple(members)
                ns[f"EE_{name}"] = {m: i for i, m in enumerate(members)}
            if isinstance(t, Union):
                pytypes = union_member_types(schema, bindings, name)
                if len(set(pytypes)) != len(pytypes):
                    raise SchemaError(f"union {name} has members with the same Python type")
                ns[f"UT_{name}"] = pytypes
        exec(compile(self.source, f"<bare codec {schema.label}>", "exec"), ns)
        self.decoders: dict[str, Decoder] = {n: ns[f"decode_{n}"] for n in schema.types}
        self.encoders: dict[str, Encoder] = {n: ns[f"encode_{n}"] for n in schema.types}

    def decode(self, name: str, data: bytes) -> Any:
        """Decode ``data`` (all of it) as the schema type ``name``."""
        return self.decoders[name](bytes(data), 0)

    def encode(self, name: str, value: Any) -> bytes:
        """Encode ``value`` as the schema type ``name``."""
        w = bytearray()
        self.encoders[name](value, w)
        return bytes(w)
