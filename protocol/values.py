"""Value codecs: how user values become the bytes of ``data`` fields (PROTOCOL.md §7).

State, action arguments and output, connection details, database schema and
rows, and the user values inside a workflow history are carried as opaque
``data``; a :class:`ValueCodec` turns them into bytes and back. The default is
MessagePack: bytes stay bytes, ints are exact over the whole int64 and uint64
range, maps keep their (string) keys, tuples come back as lists.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import msgpack

__all__ = ["MsgpackCodec", "ValueCodec"]


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
    """MessagePack (the default value codec).

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
