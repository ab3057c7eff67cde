"""Runtime pieces of the BARE codec that the generated code calls (PROTOCOL.md §2).

The generated decoders (:mod:`.codegen`) inline the one-byte fast paths and
call these helpers only for multi-byte varints and for building error
messages, so the hot path stays straight-line code.

Strictness, as §2 asks: a varint is at most 10 bytes, at most 2^64-1 and
minimal (no trailing ``0x80``/``0x00`` groups); ``str``/``data`` lengths are
at most 2^32-1 and list/map counts at most 2^53-1, and callers check every
length against the bytes that remain before allocating anything.
"""

from __future__ import annotations

import struct

from .errors import DecodeError

__all__ = [
    "MAX_COUNT",
    "MAX_LENGTH",
    "U64_MAX",
    "read_count",
    "read_length",
    "read_uvarint",
    "uvarint_bytes",
    "write_uvarint",
]

U64_MAX = (1 << 64) - 1
MAX_LENGTH = (1 << 32) - 1  # str/data byte length cap (RivetKit's)
MAX_COUNT = (1 << 53) - 1  # list/map count cap (RivetKit's)

# Fixed-width integers, little-endian (§2). unpack_from raises struct.error on
# a short buffer, which the generated top-level decoder reports as truncation.
U16 = struct.Struct("<H")
U32 = struct.Struct("<I")
U64 = struct.Struct("<Q")
I8 = struct.Struct("<b")
U8 = struct.Struct("<B")
I16 = struct.Struct("<h")
I32 = struct.Struct("<i")
I64 = struct.Struct("<q")


def read_uvarint(b: bytes, p: int, what: str) -> tuple[int, int]:
    """Decode the unsigned LEB128 varint at ``b[p]``; return (value, next offset).

    Raises:
        DecodeError: longer than 10 bytes, not minimal, or above 2^64-1.
        IndexError: the input ends inside the varint (the caller reports it).
    """
    start = p
    result = 0
    shift = 0
    while True:
        x = b[p]
        p += 1
        result |= (x & 0x7F) << shift
        if x < 0x80:
            break
        shift += 7
        if shift >= 70:
            raise DecodeError(f"varint longer than 10 bytes for {what} at offset {start}")
    if x == 0 and p - start > 1:
        raise DecodeError(f"non-minimal varint for {what} at offset {start}")
    if result > U64_MAX:
        raise DecodeError(f"varint exceeds u64 for {what} at offset {start}")
    return result, p


def read_length(b: bytes, p: int, what: str) -> tuple[int, int]:
    """A ``str``/``data`` byte length: a varint capped at 2^32-1."""
    n, q = read_uvarint(b, p, what)
    if n > MAX_LENGTH:
        raise DecodeError(f"length {n} exceeds 2^32-1 for {what} at offset {p}")
    return n, q


def read_count(b: bytes, p: int, what: str) -> tuple[int, int]:
    """A list/map element count: a varint capped at 2^53-1."""
    n, q = read_uvarint(b, p, what)
    if n > MAX_COUNT:
        raise DecodeError(f"count {n} exceeds 2^53-1 for {what} at offset {p}")
    return n, q


def too_long(kind: str, n: int, remaining: int, what: str, p: int) -> DecodeError:
    """The error for a length or count that claims more than the bytes left."""
    return DecodeError(
        f"{kind} {n} exceeds the {remaining} bytes remaining for {what} at offset {p}"
    )


def write_uvarint(x: int, w: bytearray) -> None:
    """Append ``x`` (0 ≤ x ≤ 2^64-1) as a minimal LEB128 varint.

    Raises:
        TypeError / ValueError: not an int, or out of range (the generated
        top-level encoder turns these into ``EncodeError``).
    """
    if type(x) is not int and not isinstance(x, int):
        raise TypeError(f"expected int, got {type(x).__name__}")
    if x < 0 or x > U64_MAX:
        raise ValueError(f"{x} is out of the uint range")
    while x >= 0x80:
        w.append((x & 0x7F) | 0x80)
        x >>= 7
    w.append(x)


def write_length(x: int, w: bytearray) -> None:
    """Append a ``str``/``data`` length, refusing one above 2^32-1."""
    if x > MAX_LENGTH:
        raise ValueError(f"length {x} exceeds 2^32-1")
    write_uvarint(x, w)


def uvarint_bytes(x: int) -> bytes:
    """``x`` as a minimal LEB128 varint."""
    if type(x) is int and 0 <= x < 0x4000:
        # One or two bytes: request ids, lengths and tags nearly always are.
        return bytes((x,)) if x < 0x80 else bytes(((x & 0x7F) | 0x80, x >> 7))
    w = bytearray()
    write_uvarint(x, w)
    return bytes(w)
