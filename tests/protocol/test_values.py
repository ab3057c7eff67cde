"""The value codec (PROTOCOL.md §7): MessagePack by default."""

from __future__ import annotations

from typing import Any

import pytest

from actorscope.protocol import MsgpackCodec, ValueCodec


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        -1,
        2**64 - 1,
        -(2**63),
        1.5,
        "héllo 漢字",
        b"\x00\xff",
        [1, "a", b"b"],
        {"count": 1, "nested": {"k": [b"\x01"]}},
    ],
    ids=repr,
)
def test_round_trip_is_exact(value: Any) -> None:
    codec = MsgpackCodec()
    decoded = codec.decode(codec.encode(value))
    assert decoded == value
    assert type(decoded) is type(value)


def test_tuples_come_back_as_lists_and_int_keys_are_accepted() -> None:
    codec = MsgpackCodec()
    assert codec.decode(codec.encode((1, 2))) == [1, 2]
    assert codec.decode(codec.encode({1: "a"})) == {1: "a"}


def test_is_a_value_codec() -> None:
    assert isinstance(MsgpackCodec(), ValueCodec)
    assert MsgpackCodec.name == "msgpack"


def test_errors() -> None:
    codec = MsgpackCodec()
    with pytest.raises(ValueError):
        codec.encode(2**64)
    with pytest.raises(ValueError):
        codec.encode(object())
    with pytest.raises(ValueError):
        codec.decode(b"\xc1")
    with pytest.raises(ValueError):
        codec.decode(b"\x01\x02")  # two values
    with pytest.raises(ValueError):
        codec.decode(b"\x92\x01")  # truncated array
    with pytest.raises(ValueError):
        codec.decode(b"\x81\x91\x01\x01")  # {[1]: 1}: unhashable key
    with pytest.raises(ValueError):
        codec.decode(b"\xc7\x00\xff")  # empty timestamp extension
