"""The exceptions of :mod:`actorscope.protocol`.

Hierarchy::

    ProtocolError               root of everything this package raises on purpose
     ├── DecodeError            the peer sent bytes (or JSON) that do not decode
     │    └── UnsupportedVersion  a version this package does not speak (a frame's
     │                            u16 prefix, or a version argument)
     ├── InvalidProtocolVersion  a ``?protocol_version=`` this side does not accept
     │                          (the socket closes 1002, PROTOCOL.md §9.2)
     ├── ConversionError        a request cannot be expressed at the version asked;
     │                          ``.reply`` is the ``ToClient(Error(...))`` to answer with
     ├── EncodeError            we asked to encode a value the schema cannot carry
     │                          (our own misuse, like h11's LocalProtocolError)
     └── SchemaError            a ``.bare`` schema does not parse, or the Python
          └── SchemaMismatch    model does not match it (drift)

``UnsupportedVersion`` is a ``DecodeError`` so that a frame with an unknown
version prefix is answered like any other undecodable frame
(``inspector.invalid_frame``, PROTOCOL.md §5) by code that catches
``DecodeError``. Messages are short lowercase phrases naming the type and the
byte offset, e.g. ``"unknown union tag 17 for ToServerBody v3 at offset 2"``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .messages import ToClient
    from .v1 import ToClientV1

__all__ = [
    "ConversionError",
    "DecodeError",
    "EncodeError",
    "InvalidProtocolVersion",
    "ProtocolError",
    "SchemaError",
    "SchemaMismatch",
    "UnsupportedVersion",
]


class ProtocolError(Exception):
    """Root of the exceptions raised by :mod:`actorscope.protocol`."""


class DecodeError(ProtocolError, ValueError):
    """The input does not decode: bad bytes from the peer, or malformed JSON form."""


class UnsupportedVersion(DecodeError):
    """A protocol version outside :data:`~actorscope.protocol.framing.VERSIONS`."""

    def __init__(self, version: int) -> None:
        super().__init__(f"unsupported protocol version {version}")
        self.version = version


class ConversionError(ProtocolError):
    """A message cannot be expressed at the version asked (PROTOCOL.md §5).

    ``reply`` is the ``Error`` answer the peer would get instead, as a
    ``ToClient`` at the version asked.
    """

    def __init__(self, message: str, reply: ToClient | ToClientV1) -> None:
        super().__init__(message)
        self.reply = reply


class EncodeError(ProtocolError, ValueError):
    """A value does not fit its schema type (wrong Python type, out of range)."""


class SchemaError(ProtocolError):
    """A ``.bare`` schema is malformed or uses something the codec does not support."""


class SchemaMismatch(SchemaError):
    """The Python message model has drifted from its ``.bare`` schema."""


class InvalidProtocolVersion(ProtocolError):
    """A negotiated ``protocol_version`` that is not a version accepted here."""
