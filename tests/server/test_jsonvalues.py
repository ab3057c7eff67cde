"""User values in the HTTP API's JSON: what JSON cannot carry becomes null (§8)."""

from __future__ import annotations

import msgpack

from actorscope.server.jsonvalues import decode_json_value, to_jsonable


def test_plain_json_values_pass_through() -> None:
    value = {"a": [1, 2.5, "x", True, None], "b": {"c": 2**70}}
    assert to_jsonable(value) == value


def test_parts_without_a_json_form_become_null() -> None:
    assert to_jsonable(b"\x00") is None
    assert to_jsonable(float("nan")) is None
    assert to_jsonable(float("inf")) is None
    assert to_jsonable({1: "int key"}) is None
    assert to_jsonable({"ok": 1, "raw": b"x", "list": [b"y", 2]}) == {
        "ok": 1,
        "raw": None,
        "list": [None, 2],
    }
    assert to_jsonable((1, 2)) == [1, 2]
    assert to_jsonable(object()) is None


def test_decode_json_value() -> None:
    assert decode_json_value(msgpack.packb({"n": 1})) == {"n": 1}
    assert decode_json_value(msgpack.packb(b"bytes")) is None
    assert decode_json_value(b"\xc1") is None  # not MessagePack at all
