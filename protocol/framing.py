"""Frames in and out: the API the server, the client and the tools use (PROTOCOL.md §1).

Two framings:

* **embedded** (``version=None`` / ``prefix=True``): ``u16 LE version ‖ payload``,
  every frame carries its own version;
* **negotiated** (a ``version`` argument / ``prefix=False``): the bare payload,
  the version agreed out of band (``?protocol_version=N``).

The high-level functions work on the newest model (:mod:`.messages`): decoding
upgrades, encoding downgrades (:mod:`.converters`). The ``*_versioned``
functions and :func:`convert` work on the message *at* a version (v1 uses the
classes of :mod:`.v1`), for tools and tests that need the exact wire form.
Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from .codec import Codec
from .converters import Message, downgrade, is_to_client, run_chain, upgrade, upgrade_chain
from .errors import ConversionError, DecodeError, UnsupportedVersion
from .messages import ToClient, ToServer
from .versions import MODULES, NEWEST_VERSION, VERSIONS

__all__ = [
    "NEWEST_VERSION",
    "VERSIONS",
    "Direction",
    "body_classes",
    "codec",
    "convert",
    "decode_to_client",
    "decode_to_server",
    "decode_versioned",
    "downgrade_to_server",
    "encode_to_client",
    "encode_to_server",
    "encode_versioned",
    "parse_direction",
]

Direction = Literal["to_server", "to_client"]

_CODECS: dict[int, Codec] = {v: m.CODEC for v, m in MODULES.items()}
_Dec = Callable[[bytes, int], Any]
_Enc = Callable[[Any, bytearray], None]
_DEC_SERVER: dict[int, _Dec] = {v: c.decoders["ToServer"] for v, c in _CODECS.items()}
_DEC_CLIENT: dict[int, _Dec] = {v: c.decoders["ToClient"] for v, c in _CODECS.items()}
_ENC_SERVER: dict[int, _Enc] = {v: c.encoders["ToServer"] for v, c in _CODECS.items()}
_ENC_CLIENT: dict[int, _Enc] = {v: c.encoders["ToClient"] for v, c in _CODECS.items()}
_PREFIX: dict[int, bytes] = {v: v.to_bytes(2, "little") for v in VERSIONS}
# Upgrade steps to the newest model; empty when nothing changes (v2+ requests).
_SERVER_TO_NEWEST = {v: upgrade_chain(v, NEWEST_VERSION, to_client=False) for v in VERSIONS}
_CLIENT_TO_NEWEST = {v: upgrade_chain(v, NEWEST_VERSION, to_client=True) for v in VERSIONS}
# No steps: the ``*_versioned`` functions keep the message at its own version.
_AS_IS: dict[int, tuple[Any, ...]] = {v: () for v in VERSIONS}
_DIRECTIONS: dict[str, Direction] = {
    "to_server": "to_server",
    "to-server": "to_server",
    "to_client": "to_client",
    "to-client": "to_client",
}


def parse_direction(direction: str) -> Direction:
    """``"to_server"``/``"to_client"`` (the CLI's ``to-server`` spelling is accepted too)."""
    try:
        return _DIRECTIONS[direction]
    except KeyError:
        raise ValueError(f"direction must be to_server or to_client, not {direction!r}") from None


def _too_short(frame: bytes) -> DecodeError:
    return DecodeError(f"frame of {len(frame)} bytes is too short for the version prefix")


def _decode(
    frame: bytes | bytearray | memoryview,
    version: int | None,
    decoders: dict[int, _Dec],
    chains: Mapping[int, tuple[Any, ...]],
) -> tuple[int, Any]:
    """Decode a frame with ``decoders`` and run ``chains[version]``: (version, message).

    ``version=None`` reads the embedded u16 LE prefix. This is the per-frame
    hot path of the server and the client, so the prefix is read inline.
    """
    if type(frame) is not bytes:
        frame = bytes(frame)
    offset = 0
    if version is None:
        if len(frame) < 2:
            raise _too_short(frame)
        version = frame[0] | (frame[1] << 8)
        offset = 2
    dec = decoders.get(version)
    if dec is None:
        raise UnsupportedVersion(version)
    msg = dec(frame, offset)
    chain = chains[version]
    if chain:
        msg = run_chain(msg, chain)
    return version, msg


def decode_to_server(
    frame: bytes | bytearray | memoryview, version: int | None = None
) -> tuple[int, ToServer | ToClient]:
    """Decode a client's frame into the newest model.

    Args:
        frame: the WebSocket message.
        version: ``None`` for embedded mode (u16 LE prefix), else the negotiated
            version of this prefix-less payload.

    Returns:
        The frame's version and the request upgraded to the newest model — or,
        when it has no newest form (v1 ``EventsRequest``), the
        ``ToClient(Error(...))`` to answer with.

    Raises:
        DecodeError: the bytes do not decode (``UnsupportedVersion`` for an
            unknown version).
    """
    return _decode(frame, version, _DEC_SERVER, _SERVER_TO_NEWEST)


def decode_to_client(
    frame: bytes | bytearray | memoryview, version: int | None = None
) -> tuple[int, ToClient]:
    """Decode a server's frame into the newest model (see :func:`decode_to_server`)."""
    return _decode(frame, version, _DEC_CLIENT, _CLIENT_TO_NEWEST)


def downgrade_to_server(msg: ToServer, version: int) -> ToServer | ToClient:
    """The request as a server capped at ``version`` sees it (PROTOCOL.md §5).

    Returns ``msg`` itself (still the newest model) when the request exists at
    ``version``, else the ``ToClient(Error(...))`` that server answers
    (``inspector.workflow_replay_unsupported``, …).
    """
    if version not in _CODECS:
        raise UnsupportedVersion(version)
    if version == NEWEST_VERSION:
        return msg
    out = downgrade(msg, NEWEST_VERSION, version)
    if is_to_client(out):
        return ToClient(out.body)
    return msg


def encode_to_client(msg: ToClient, version: int, *, prefix: bool = True) -> bytes:
    """Encode a newest-model ``ToClient`` for a peer at ``version``.

    Applies the downgrades newest→``version``; a message that does not exist
    there becomes the ``Error`` frame §5 names.
    """
    enc = _ENC_CLIENT.get(version)
    if enc is None:
        raise UnsupportedVersion(version)
    if version != NEWEST_VERSION:
        msg = downgrade(msg, NEWEST_VERSION, version)
    w = bytearray(_PREFIX[version]) if prefix else bytearray()
    enc(msg, w)
    return bytes(w)


def encode_to_server(msg: ToServer, version: int, *, prefix: bool = True) -> bytes:
    """Encode a newest-model ``ToServer`` for a server at ``version``.

    Raises:
        ConversionError: the request does not exist at ``version``; ``.reply``
            is the ``Error`` that server would have answered.
    """
    enc = _ENC_SERVER.get(version)
    if enc is None:
        raise UnsupportedVersion(version)
    out: Message = msg
    if version != NEWEST_VERSION:
        out = downgrade(msg, NEWEST_VERSION, version)
        if is_to_client(out):
            raise ConversionError(
                f"{type(msg.body).__name__} does not exist in v{version}: {out.body.message}",
                reply=out,
            )
    w = bytearray(_PREFIX[version]) if prefix else bytearray()
    enc(out, w)
    return bytes(w)


# -- the message at its own version ----------------------------------------------


def codec(version: int) -> Codec:
    """The generated codec of protocol ``version``."""
    try:
        return _CODECS[version]
    except KeyError:
        raise UnsupportedVersion(version) from None


def body_classes(direction: str, version: int) -> tuple[type, ...]:
    """The body classes of ``direction`` at ``version``, in union tag order."""
    c = codec(version)
    union = "ToServerBody" if parse_direction(direction) == "to_server" else "ToClientBody"
    return tuple(c.bindings[m.name] for m in c.schema.types[union].members)  # type: ignore[union-attr, misc]


def decode_versioned(
    direction: str, frame: bytes | bytearray | memoryview, version: int | None = None
) -> tuple[int, Message]:
    """Decode a frame to the message at its own version, without converting.

    ``version=None`` reads the embedded prefix. v1 messages use the classes
    of :mod:`.v1` (``ToServerV1``, ``ToClientV1``).
    """
    table = _DEC_SERVER if parse_direction(direction) == "to_server" else _DEC_CLIENT
    return _decode(frame, version, table, _AS_IS)


def encode_versioned(direction: str, msg: Message, version: int, *, prefix: bool = True) -> bytes:
    """Encode a message that already is at ``version`` (no conversion)."""
    table = _ENC_SERVER if parse_direction(direction) == "to_server" else _ENC_CLIENT
    enc = table.get(version)
    if enc is None:
        raise UnsupportedVersion(version)
    w = bytearray(_PREFIX[version]) if prefix else bytearray()
    enc(msg, w)
    return bytes(w)


def convert(direction: str, frame: bytes | bytearray | memoryview, to_version: int) -> bytes:
    """Convert an embedded-mode frame to ``to_version``, one adjacent step at a time.

    Returns the resulting frame, with its prefix: the message at
    ``to_version``, or a ``ToClient`` ``Error`` frame at ``to_version`` where
    PROTOCOL.md §5 says so (a request the target cannot serve, a v1 event
    message, a response the target cannot receive). Converting to the frame's
    own version re-encodes it unchanged.

    Raises:
        DecodeError: the frame does not decode.
    """
    if to_version not in _CODECS:
        raise UnsupportedVersion(to_version)
    from_version, msg = decode_versioned(direction, frame)
    if to_version > from_version:
        msg = upgrade(msg, from_version, to_version)
    else:
        msg = downgrade(msg, from_version, to_version)
    table = _ENC_CLIENT if is_to_client(msg) else _ENC_SERVER
    w = bytearray(_PREFIX[to_version])
    table[to_version](msg, w)
    return bytes(w)
