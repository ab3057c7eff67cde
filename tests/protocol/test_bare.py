"""BARE strictness (PROTOCOL.md §2), fed byte literals.

Frames below are embedded-mode v4 unless said otherwise: ``04 00`` prefix,
then the ToServer/ToClient union tag (StateRequest = 01, ActionRequest = 03,
PatchStateRequest = 00; ToClient StateResponse = 00, ConnectionsUpdated = 03).
"""

from __future__ import annotations

import tracemalloc

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actorscope.protocol import (
    NEWEST_VERSION,
    DecodeError,
    StateRequest,
    ToServer,
    UnsupportedVersion,
    decode_history,
    decode_to_client,
    decode_to_server,
)
from actorscope.protocol.bare import uvarint_bytes, write_uvarint


def reason(frame: bytes, *, client: bool = False) -> str:
    with pytest.raises(DecodeError) as info:
        (decode_to_client if client else decode_to_server)(frame)
    return str(info.value)


# -- varints ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "value"),
    [
        (b"\x04\x00\x01\x00", 0),
        (b"\x04\x00\x01\x7f", 127),
        (b"\x04\x00\x01\x80\x01", 128),
        (b"\x04\x00\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 2**64 - 1),
    ],
)
def test_valid_varints(frame: bytes, value: int) -> None:
    assert decode_to_server(frame) == (4, ToServer(StateRequest(value)))


def test_non_minimal_varint() -> None:
    assert reason(b"\x04\x00\x01\x80\x00") == (
        "non-minimal varint for StateRequest.id v4 at offset 3"
    )
    assert "non-minimal" in reason(b"\x04\x00\x01\xff\x80\x00")


def test_eleven_byte_varint() -> None:
    assert reason(b"\x04\x00\x01" + b"\xff" * 10 + b"\x01") == (
        "varint longer than 10 bytes for StateRequest.id v4 at offset 3"
    )


def test_varint_above_u64() -> None:
    assert reason(b"\x04\x00\x01" + b"\xff" * 9 + b"\x02") == (
        "varint exceeds u64 for StateRequest.id v4 at offset 3"
    )
    assert "exceeds u64" in reason(b"\x04\x00\x01" + b"\x80" * 9 + b"\x7f")


# -- bool, optional, str --------------------------------------------------------


def test_bool_must_be_zero_or_one() -> None:
    # StateResponse { rid 0, state absent, isStateEnabled 2 }
    assert reason(b"\x04\x00\x00\x00\x00\x02", client=True) == (
        "invalid bool 2 for StateResponse.isStateEnabled v4 at offset 5"
    )


def test_optional_flag_must_be_zero_or_one() -> None:
    assert reason(b"\x04\x00\x00\x00\x02\x00", client=True) == (
        "invalid optional flag 2 for StateResponse.state v4 at offset 4"
    )


@pytest.mark.parametrize(
    "name",
    [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf8\x88\x80\x80\x80"],
    ids=["ff", "truncated-2-byte", "surrogate", "overlong", "5-byte"],
)
def test_invalid_utf8(name: bytes) -> None:
    # ActionRequest { id 0, name <bad>, args "" }
    frame = b"\x04\x00\x03\x00" + bytes([len(name)]) + name + b"\x00"
    assert reason(frame) == "invalid utf-8 for ActionRequest.name v4 at offset 5"


# -- framing-level: trailing, truncated, tags, versions ----------------------------


def test_trailing_bytes() -> None:
    assert reason(b"\x04\x00\x01\x00\x00") == "1 trailing bytes after ToServer v4 at offset 4"


@pytest.mark.parametrize(
    "frame",
    [b"\x04\x00", b"\x04\x00\x01", b"\x04\x00\x01\x80", b"\x04\x00\x03\x00\x05abc"],
    ids=["no-tag", "no-id", "varint-cut", "str-cut"],
)
def test_truncated(frame: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_to_server(frame)


def test_truncated_reports_end_of_input() -> None:
    assert reason(b"\x04\x00\x01") == "unexpected end of input for ToServer v4 at offset 3"


@pytest.mark.parametrize("frame", [b"", b"\x04"])
def test_too_short_for_prefix(frame: bytes) -> None:
    assert "too short for the version prefix" in reason(frame)


def test_unknown_union_tag() -> None:
    assert reason(b"\x03\x00\x11\x00") == "unknown union tag 17 for ToServerBody v3 at offset 2"
    assert reason(b"\x04\x00\x0b\x00") == "unknown union tag 11 for ToServerBody v4 at offset 2"
    # 10 and 11 are valid v4 tags but not v3 ones.
    assert "unknown union tag 10" in reason(b"\x03\x00\x0a\x00")


def test_tag_byte_with_high_bit_is_unknown() -> None:
    assert "unknown union tag 128" in reason(b"\x04\x00\x80\x01\x00")


@pytest.mark.parametrize(
    "prefix", [b"\x00\x00", (NEWEST_VERSION + 1).to_bytes(2, "little"), b"\x01\x01", b"\xff\xff"]
)
def test_unknown_version_prefix(prefix: bytes) -> None:
    with pytest.raises(UnsupportedVersion) as info:
        decode_to_server(prefix + b"\x01\x00")
    assert isinstance(info.value, DecodeError)
    assert info.value.version == int.from_bytes(prefix, "little")


def test_negotiated_mode_has_no_prefix() -> None:
    assert decode_to_server(b"\x01\x05", 2) == (2, ToServer(StateRequest(5)))
    with pytest.raises(UnsupportedVersion):
        decode_to_server(b"\x01\x05", NEWEST_VERSION + 1)


def test_accepts_bytearray_and_memoryview() -> None:
    assert decode_to_server(bytearray(b"\x04\x00\x01\x05"))[1] == ToServer(StateRequest(5))
    assert decode_to_server(memoryview(b"\x04\x00\x01\x05"))[1] == ToServer(StateRequest(5))


# -- lengths and counts are checked before allocating --------------------------


def _fails_without_allocating(frame: bytes, *, client: bool = False) -> str:
    tracemalloc.start()
    try:
        message = reason(frame, client=client)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    return message


def test_claimed_2_pow_60_byte_data_fails_at_once() -> None:
    frame = b"\x04\x00\x00" + uvarint_bytes(2**60)
    assert _fails_without_allocating(frame) == (
        f"length {2**60} exceeds 2^32-1 for PatchStateRequest.state v4 at offset 3"
    )


def test_claimed_2_pow_60_byte_string_fails_at_once() -> None:
    frame = b"\x04\x00\x03\x00" + uvarint_bytes(2**60) + b"abc"
    assert "exceeds 2^32-1 for ActionRequest.name" in _fails_without_allocating(frame)


def test_length_beyond_remaining_bytes() -> None:
    frame = b"\x04\x00\x00" + uvarint_bytes(2**31) + b"ab"
    assert _fails_without_allocating(frame) == (
        f"length {2**31} exceeds the 2 bytes remaining for PatchStateRequest.state v4 at offset 8"
    )


def test_claimed_2_pow_60_element_list_fails_at_once() -> None:
    frame = b"\x04\x00\x03" + uvarint_bytes(2**60)
    assert _fails_without_allocating(frame, client=True) == (
        f"count {2**60} exceeds 2^53-1 for ConnectionsUpdated.connections v4 at offset 3"
    )


def test_list_count_beyond_remaining_bytes() -> None:
    # Each Connection takes at least 2 bytes, so 3 of them cannot fit in 4.
    frame = b"\x04\x00\x03\x03" + b"\x00\x00\x00\x00"
    assert _fails_without_allocating(frame, client=True) == (
        "count 3 exceeds the 4 bytes remaining for ConnectionsUpdated.connections v4 at offset 4"
    )


def test_claimed_2_pow_60_entry_map_fails_at_once() -> None:
    # WorkflowHistory { nameRegistry [], entries [], entryMetadata <2^60 entries> }
    payload = b"\x00\x00" + uvarint_bytes(2**53 - 1)
    with pytest.raises(DecodeError, match="exceeds the 0 bytes remaining"):
        decode_history(payload)


# -- maps and enums (workflow history) -----------------------------------------------

# WorkflowEntryMetadata: status PENDING, error absent, attempts 1 (u32), lastAttemptAt 0 and
# createdAt 0 (u64), completedAt, rollbackCompletedAt and rollbackError absent: 25 bytes.
_META = bytes.fromhex("000001000000" + "00" * 16 + "000000")


def test_history_metadata_literal_is_valid() -> None:
    h = decode_history(b"\x00\x00\x01\x01a" + _META)
    assert list(h.entry_metadata) == ["a"]


def test_duplicate_map_key() -> None:
    payload = b"\x00\x00\x02\x01a" + _META + b"\x01a" + _META
    with pytest.raises(DecodeError) as info:
        decode_history(payload)
    assert str(info.value) == (
        "duplicate map key for WorkflowHistory.entryMetadata workflow-history-v1 at offset 30"
    )


def test_unknown_enum_value() -> None:
    bad = b"\x05" + _META[1:]
    with pytest.raises(DecodeError) as info:
        decode_history(b"\x00\x00\x01\x01a" + bad)
    assert str(info.value) == (
        "unknown enum value 5 for WorkflowEntryStatus workflow-history-v1 at offset 5"
    )


def test_fixed_width_u32_truncated() -> None:
    # entries: one entry, id "", location [WorkflowLoopIterationMarker { loop, <cut> }]
    with pytest.raises(DecodeError) as info:
        decode_history(b"\x00\x01\x00\x01\x01\xaa\xbb\xcc\xdd")
    assert str(info.value) == (
        "unexpected end of input for WorkflowHistory workflow-history-v1 at offset 9"
    )


@given(st.integers(0, 2**64 - 1) | st.integers(0, 0x4100))
def test_uvarint_bytes_is_what_write_uvarint_appends(x: int) -> None:
    w = bytearray()
    write_uvarint(x, w)
    assert uvarint_bytes(x) == bytes(w)
