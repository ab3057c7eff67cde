"""Value codecs: how user values become the bytes of ``data`` fields (PROTOCOL.md §7, §11).

State, action arguments and output, connection details, database schema and
rows, and the user values inside a workflow history are carried as opaque
``data``; a :class:`ValueCodec` turns them into bytes and back.

* :class:`CborCodec` is the inspector wire's default: RivetKit and its
  Inspector UI encode and decode every user value as CBOR (§11).
* :class:`MsgpackCodec` is what the engine stores on disk, and what an
  inspector peer gets on the wire when it asks for it.

Both round-trip exactly the plain values a user value is made of: ``None``,
``bool``, ``int`` (the whole int64 and uint64 range; CBOR also carries
bigger ones as bignums), ``float``, ``str``, ``bytes`` (bytes stay bytes),
lists (tuples come back as lists) and maps. A value one codec cannot express,
or bytes that are not exactly one value, raise ``ValueError`` with a short
reason; nothing else escapes.
"""

from __future__ import annotations

import io
from typing import Any, Protocol, runtime_checkable

import cbor2
import msgpack

__all__ = ["VALUE_CODECS", "CborCodec", "MsgpackCodec", "ValueCodec", "value_codec"]


@runtime_checkable
class ValueCodec(Protocol):
    """Turns a user value into bytes and back."""

    def encode(self, value: Any) -> bytes:
        """The bytes of ``value``; raises ``ValueError`` if it has none."""
        ...

    def decode(self, data: bytes) -> Any:
        """The value ``data`` encodes; raises ``ValueError`` if the bytes are not one value."""
        ...


class MsgpackCodec:
    """MessagePack (the storage codec, and the wire codec on request).

    ``bin`` is used for bytes (``use_bin_type``) and ``str`` is decoded as
    UTF-8 (``raw=False``), so bytes and text round-trip as themselves; map keys
    of any hashable type are accepted on decode (``strict_map_key=False``).
    """

    name = "msgpack"

    def encode(self, value: Any) -> bytes:
        try:
            out: bytes = msgpack.packb(value, use_bin_type=True)
        except (TypeError, ValueError, OverflowError, msgpack.PackException) as exc:
            raise ValueError(f"value has no msgpack form: {exc}") from exc
        return out

    def decode(self, data: bytes) -> Any:
        try:
            return msgpack.unpackb(data, raw=False, strict_map_key=False)
        except (msgpack.UnpackException, ValueError, TypeError) as exc:
            # TypeError: a map key that cannot be a dict key (a list or a map).
            raise ValueError(f"bytes are not one msgpack value: {exc}") from exc


#: CBOR tag 64 is "uint8 typed array": how cbor-x (RivetKit's CBOR library)
#: writes a JavaScript ``Uint8Array``. Its content is plain bytes.
_TAG_UINT8_ARRAY = 64

_PLAIN_SCALARS = (str, int, float, bytes, bool, type(None))


class CborCodec:
    """CBOR (RFC 8949), the inspector wire's default value codec (§11).

    Encoding uses definite lengths, floats as 64-bit doubles and bignum tags
    for ints beyond 64 bits. Decoding accepts what cbor-x writes for plain
    JavaScript values: ``undefined`` becomes ``None`` and a tag-64 typed
    array becomes ``bytes``. Anything without a plain Python form (a date, a
    set, an unknown tag, a map keyed by a list) is a ``ValueError``, because
    the value could neither be stored nor sent back the way it came.
    """

    name = "cbor"

    def encode(self, value: Any) -> bytes:
        try:
            _check_plain(value, "value")
            out: bytes = cbor2.dumps(value)
        except (cbor2.CBORError, TypeError, ValueError, OverflowError, RecursionError) as exc:
            raise ValueError(f"value has no CBOR form: {exc}") from exc
        return out

    def decode(self, data: bytes) -> Any:
        stream = io.BytesIO(data)
        try:
            value = cbor2.CBORDecoder(stream, tag_hook=_tag_hook).decode()
        except (cbor2.CBORError, TypeError, ValueError, OverflowError, RecursionError) as exc:
            raise ValueError(f"bytes are not one CBOR value: {exc}") from exc
        if stream.tell() != len(data):
            raise ValueError(
                f"bytes are not one CBOR value: {len(data) - stream.tell()} bytes left over"
            )
        return _plain(value, "value")


def _tag_hook(*args: Any) -> Any:
    # cbor2 5 calls tag_hook(decoder, tag), cbor2 6 tag_hook(tag, immutable).
    tag = next(a for a in args if isinstance(a, cbor2.CBORTag))
    if tag.tag == _TAG_UINT8_ARRAY and isinstance(tag.value, bytes):
        return tag.value
    raise ValueError(f"CBOR tag {tag.tag} has no plain value form")


def _plain(value: Any, where: str) -> Any:
    """``value`` made of plain types only (``undefined`` → ``None``), else ``ValueError``."""
    if value is cbor2.undefined:
        return None
    if isinstance(value, _PLAIN_SCALARS):
        return value
    if isinstance(value, list):
        return [_plain(item, where) for item in value]
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if not isinstance(key, _PLAIN_SCALARS):
                raise ValueError(f"a map key in {where} is a {type(key).__name__}")
            out[key] = _plain(item, where)
        return out
    raise ValueError(f"{where} holds a {type(value).__name__}, which has no plain form")


def _check_plain(value: Any, where: str) -> None:
    # cbor2 would happily encode sets, datetimes and the like as tagged
    # values the UI and the store cannot carry; refuse them like msgpack does.
    if isinstance(value, _PLAIN_SCALARS):
        return
    if isinstance(value, list | tuple):
        for item in value:
            _check_plain(item, where)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, _PLAIN_SCALARS):
                raise ValueError(f"a map key in {where} is a {type(key).__name__}")
            _check_plain(item, where)
        return
    raise ValueError(f"cannot encode a {type(value).__name__}")


#: The codecs an inspector peer may ask for by name (§11).
VALUE_CODECS: dict[str, type[CborCodec] | type[MsgpackCodec]] = {
    CborCodec.name: CborCodec,
    MsgpackCodec.name: MsgpackCodec,
}


def value_codec(name: str) -> ValueCodec:
    """The codec called ``name`` (``"cbor"`` or ``"msgpack"``).

    Raises:
        ValueError: no codec has that name.
    """
    cls = VALUE_CODECS.get(name)
    if cls is None:
        raise ValueError(f"unknown value codec {name!r} (expected cbor or msgpack)")
    return cls()
