"""User values on the inspector wire: stored MessagePack in, the peer's codec out (§11).

The engine and the actor store keep every user value MessagePack-encoded;
the inspector wire carries them in the connection's value codec (CBOR
unless the peer asked for MessagePack, PROTOCOL.md §11). Values the server
builds itself (state, action output, connections) are simply encoded with
that codec; the values *inside a workflow history* arrive as stored bytes,
so they are re-encoded here, field by field, while the §4 payload is built.

Which codec a connection gets is chosen at the handshake:
``?value_codec=cbor|msgpack`` on the WebSocket URL, else the server's
default (``actorscope serve --value-codec``, CBOR unless set).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from actorscope.protocol.history import WorkflowHistory, encode_history
from actorscope.protocol.jsonform import from_json
from actorscope.protocol.values import VALUE_CODECS, MsgpackCodec, ValueCodec, value_codec

from .store import unpack

if TYPE_CHECKING:
    from actorscope.engine import HistorySnapshot

__all__ = [
    "INVALID_VALUE_CODEC",
    "VALUE_CODEC_PARAM",
    "InvalidValueCodec",
    "codec_from_query",
    "stored_to_wire",
    "wire_history_bytes",
]

#: The WebSocket query parameter a peer names its value codec with.
VALUE_CODEC_PARAM = "value_codec"
#: Close reason (code 1002) for a ``value_codec`` no codec answers to.
INVALID_VALUE_CODEC = "inspector.invalid_value_codec"


class InvalidValueCodec(ValueError):
    """``?value_codec=`` names no codec this server has."""


def codec_from_query(query_string: bytes, default: ValueCodec) -> ValueCodec:
    """The value codec a WebSocket handshake asks for, or ``default``.

    Raises:
        InvalidValueCodec: the parameter is present but names neither
            ``cbor`` nor ``msgpack`` (or names both).
    """
    asked = {
        value
        for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
        if key == VALUE_CODEC_PARAM
    }
    if not asked:
        return default
    if len(asked) != 1 or next(iter(asked)) not in VALUE_CODECS:
        names = ", ".join(sorted(VALUE_CODECS))
        raise InvalidValueCodec(f"value_codec must be one of {names}, got {sorted(asked)}")
    name = asked.pop()
    if getattr(default, "name", None) == name:
        return default
    return value_codec(name)


def stored_to_wire(codec: ValueCodec | None) -> Callable[[bytes], bytes]:
    """A function re-encoding one stored (MessagePack) value for ``codec``.

    Empty bytes stay empty: the engine writes them for a value that does not
    exist yet (a message entry still waiting), and no codec decodes them.
    """
    if codec is None or isinstance(codec, MsgpackCodec):
        return _same
    encode = codec.encode

    def transcode(data: bytes) -> bytes:
        if not data:
            return data
        return encode(unpack(data))

    return transcode


def wire_history_bytes(snapshot: HistorySnapshot, codec: ValueCodec | None = None) -> bytes:
    """The §4 ``WorkflowHistory`` bytes of ``snapshot``, user values in ``codec``.

    ``codec=None`` keeps the stored encoding (MessagePack).
    """
    history = from_json(WorkflowHistory, snapshot.to_transport(), data=stored_to_wire(codec))
    return encode_history(history)


def _same(data: bytes) -> bytes:
    return data
