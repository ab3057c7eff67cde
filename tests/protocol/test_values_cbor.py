"""CBOR values (PROTOCOL.md §11): exact round-trips, what cbor-x writes, clear errors."""

from __future__ import annotations

import contextlib
import datetime
import math
from typing import Any

import cbor2
import pytest
from actorscope.protocol import CborCodec, MsgpackCodec, ValueCodec
from actorscope.protocol.values import VALUE_CODECS, value_codec
from hypothesis import given
from hypothesis import strategies as st

PLAIN = [
    None,
    True,
    False,
    0,
    -1,
    23,
    24,
    2**32,
    2**64 - 1,
    -(2**63),
    -(2**64),
    2**70,  # CBOR carries it as a bignum
    -(2**70),
    1.5,
    -0.0,
    1e300,
    "",
    "héllo 漢字",
    b"",
    b"\x00\xff",
    [],
    [1, "a", b"b", None, [2.5]],
    {},
    {"count": 1, "nested": {"k": [b"\x01"]}, "": None},
    {1: "int keys", b"k": "bytes keys"},
]


@pytest.mark.parametrize("value", PLAIN, ids=repr)
def test_round_trip_is_exact(value: Any) -> None:
    codec = CborCodec()
    decoded = codec.decode(codec.encode(value))
    assert decoded == value
    assert type(decoded) is type(value)
    if isinstance(value, float):
        assert math.copysign(1.0, decoded) == math.copysign(1.0, value)


def test_nan_and_infinity_survive() -> None:
    codec = CborCodec()
    assert math.isnan(codec.decode(codec.encode(math.nan)))
    assert codec.decode(codec.encode(-math.inf)) == -math.inf


def test_standard_encodings() -> None:
    # RFC 8949 Appendix A: what any CBOR decoder (cbor-x in the UI) reads.
    codec = CborCodec()
    assert codec.encode(0) == b"\x00"
    assert codec.encode(2**64 - 1) == bytes.fromhex("1bffffffffffffffff")
    assert codec.encode(-(2**63)) == bytes.fromhex("3b7fffffffffffffff")
    assert codec.encode(b"\x01\x02") == bytes.fromhex("420102")  # a byte string, not text
    assert codec.encode("a") == bytes.fromhex("6161")
    assert codec.encode({"a": [1, None, True]}) == bytes.fromhex("a1616183 01f6f5".replace(" ", ""))
    assert codec.encode(1.5) == bytes.fromhex("fb3ff8000000000000")


def test_tuples_come_back_as_lists() -> None:
    codec = CborCodec()
    assert codec.decode(codec.encode((1, (2, 3)))) == [1, [2, 3]]


def test_reads_what_cbor_x_writes() -> None:
    codec = CborCodec()
    assert codec.decode(b"\xf7") is None  # JavaScript undefined
    assert codec.decode(bytes.fromhex("a16178f7")) == {"x": None}
    # A Uint8Array: tag 64 ("uint8 typed array") around a byte string.
    assert codec.decode(bytes.fromhex("d84043010203")) == b"\x01\x02\x03"
    assert codec.decode(bytes.fromhex("fa3fc00000")) == 1.5  # a float32
    assert codec.decode(bytes.fromhex("f93e00")) == 1.5  # a float16
    assert codec.decode(bytes.fromhex("9f0102ff")) == [1, 2]  # indefinite length


@pytest.mark.parametrize(
    "value",
    [object(), {1, 2}, datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC), {(1, 2): "tuple key"}],
    ids=["object", "set", "datetime", "tuple-key"],
)
def test_a_value_without_a_plain_form_is_a_value_error(value: Any) -> None:
    with pytest.raises(ValueError, match="no CBOR form"):
        CborCodec().encode(value)


@pytest.mark.parametrize(
    "hex_bytes",
    [
        "",  # nothing
        "0102",  # two values
        "82 01",  # a truncated array
        "1b00",  # a truncated uint64
        "c11a5f5e1000",  # tag 1: a date
        "d9010282 0102",  # tag 258: a set
        "d86400",  # an unknown tag
        "a1820102 01",  # a map keyed by an array
        "62 c328",  # text that is not UTF-8
        "ff",  # a stray break
        "f8 18",  # a reserved simple value encoding
    ],
)
def test_bytes_that_are_not_one_plain_value_are_a_value_error(hex_bytes: str) -> None:
    with pytest.raises(ValueError):
        CborCodec().decode(bytes.fromhex(hex_bytes.replace(" ", "")))


def test_codecs_by_name() -> None:
    assert sorted(VALUE_CODECS) == ["cbor", "msgpack"]
    assert isinstance(value_codec("cbor"), CborCodec)
    assert isinstance(value_codec("msgpack"), MsgpackCodec)
    assert isinstance(CborCodec(), ValueCodec)
    with pytest.raises(ValueError, match="unknown value codec"):
        value_codec("json")


_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary()
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@given(_values)
def test_both_codecs_round_trip_every_plain_value(value: Any) -> None:
    for codec in (CborCodec(), MsgpackCodec()):
        assert codec.decode(codec.encode(value)) == value


@given(st.binary(max_size=64))
def test_random_bytes_only_ever_raise_value_error(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        CborCodec().decode(data)


def test_cbor2_is_the_library() -> None:
    # Storage stays MessagePack; the wire codec is cbor2's standard encoding.
    assert CborCodec().encode({"a": 1}) == cbor2.dumps({"a": 1})
