"""Property tests (hypothesis) for the codec, the framing and the version chain.

The strategies are built by walking the parsed schemas each codec was
generated from (``codec(v).schema`` and its Python bindings), so every message
type of every version and direction is covered, and a type added to a schema
is covered without touching this file. Properties:

* encode→decode is the identity for every body of every version and
  direction, in both framings, and through the JSON form; the same for the
  workflow history payload (PROTOCOL.md §4), also nested in the messages that
  carry it;
* every upgrade/downgrade through the chain accepts every well-formed message
  (§5: an older peer gets an ``Error``, never an exception);
* random bytes and mutated valid frames either decode or raise
  ``DecodeError`` — never another exception — and planted huge lengths and
  counts fail without allocating (§2).
"""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable
from functools import cache
from typing import Any

import attrs
import pytest
from actorscope.protocol import (
    VERSIONS,
    ConversionError,
    DecodeError,
    Error,
    WorkflowHistory,
    codes,
    convert,
    decode_history,
    decode_to_client,
    decode_to_server,
    decode_versioned,
    encode_history,
    encode_to_client,
    encode_to_server,
    encode_versioned,
    message_from_json,
    to_json,
)
from actorscope.protocol import history as history_module
from actorscope.protocol.bare import uvarint_bytes
from actorscope.protocol.codec import Codec
from actorscope.protocol.converters import downgrade, is_to_client, upgrade
from actorscope.protocol.framing import codec
from actorscope.protocol.schema import (
    Enum,
    ListType,
    MapType,
    Named,
    OptionalType,
    Primitive,
    Struct,
    Type,
    Union,
)
from actorscope.protocol.v1 import InitV1
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

DIRECTIONS = ("to_server", "to_client")
U64_MAX = (1 << 64) - 1
_INT_RANGES = {
    "uint": (0, U64_MAX),
    "u8": (0, 255),
    "u16": (0, (1 << 16) - 1),
    "u32": (0, (1 << 32) - 1),
    "u64": (0, U64_MAX),
}
# Fields whose bytes are a WorkflowHistory payload on the wire (§3, §4).
_HISTORY_FIELDS = {"history", "workflowHistory"}

SETTINGS = settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- strategies from the schemas --------------------------------------------------


def _ints(name: str) -> st.SearchStrategy[int]:
    lo, hi = _INT_RANGES[name]
    # The edges (one-byte varints, 7-bit boundaries, the top of the range) are
    # where a varint or fixed-width codec breaks; draw them often.
    points = (lo, 127, 128, 255, 256, 16383, 16384, (1 << 32) - 1, 1 << 32, (hi + 1) // 2, hi)
    edges = sorted({x for x in points if lo <= x <= hi})
    return st.one_of(st.sampled_from(edges), st.integers(lo, hi))


_TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
_DATA = st.binary(max_size=24)


def _strategy(c: Codec, t: Type | Struct | Union | Enum, field: str = "") -> st.SearchStrategy[Any]:
    """Values of schema type ``t`` as the model holds them (the codec's own Python types)."""
    match t:
        case Primitive("bool"):
            return st.booleans()
        case Primitive("str"):
            return _TEXT
        case Primitive("data") if field in _HISTORY_FIELDS:
            # The payload of these fields is a WorkflowHistory; carry a real one
            # so the nested payload takes part in every round trip.
            return st.one_of(histories().map(encode_history), _DATA)
        case Primitive("data"):
            return _DATA
        case Primitive(name) if name in _INT_RANGES:
            return _ints(name)
        case OptionalType(inner):
            return st.none() | _strategy(c, inner, field)
        case ListType(inner):
            return st.lists(_strategy(c, inner), max_size=3)
        case MapType(key, value):
            return st.dictionaries(_strategy(c, key), _strategy(c, value), max_size=3)
        case Named(name):
            return _named(c, name)
    raise AssertionError(f"no strategy for schema type {t!r} in {c.schema.label}")


@cache
def _named(c: Codec, name: str) -> st.SearchStrategy[Any]:
    target = c.schema.types[name]
    match target:
        case Struct(fields):
            cls = c.bindings[name]
            assert isinstance(cls, type)
            # Positional, in wire order: the attrs classes declare fields in that order.
            return st.builds(cls, *(_strategy(c, f.type, f.name) for f in fields))
        case Union(members):
            return st.one_of(*(_strategy(c, m) for m in members))
        case Enum():
            return st.sampled_from(list(c.bindings[name]))  # type: ignore[call-overload]
    return _strategy(c, target)


def histories() -> st.SearchStrategy[WorkflowHistory]:
    return _named(history_module.CODEC, "WorkflowHistory")


def _root(direction: str) -> str:
    return "ToServer" if direction == "to_server" else "ToClient"


def _members(direction: str, version: int) -> tuple[Type, ...]:
    union = codec(version).schema.types[_root(direction) + "Body"]
    assert isinstance(union, Union)
    return union.members


def _member_name(m: Type) -> str:
    assert isinstance(m, Named)
    return m.name


def messages(direction: str, version: int, body: str | None = None) -> st.SearchStrategy[Any]:
    """``ToServer``/``ToClient`` at ``version`` (v1: its own classes), one body or any."""
    c = codec(version)
    wrapper = c.bindings[_root(direction)]
    assert isinstance(wrapper, type)
    bodies = [m for m in _members(direction, version) if body is None or _member_name(m) == body]
    assert bodies, f"{body} is not a {direction} body in v{version}"
    return st.builds(wrapper, st.one_of(*(_strategy(c, m) for m in bodies)))


BODIES = [
    pytest.param(d, v, _member_name(m), id=f"{d}-v{v}-{_member_name(m)}")
    for d in DIRECTIONS
    for v in VERSIONS
    for m in _members(d, v)
]


def test_every_body_of_every_version_is_covered() -> None:
    # PROTOCOL.md §3: 7/8/10/11 requests and 10/13/15/16 responses in v1..v4.
    counts = {(d, v): len(_members(d, v)) for d in DIRECTIONS for v in VERSIONS}
    assert counts == {
        ("to_server", 1): 7, ("to_server", 2): 8, ("to_server", 3): 10, ("to_server", 4): 11,
        ("to_client", 1): 10, ("to_client", 2): 13, ("to_client", 3): 15, ("to_client", 4): 16,
        ("to_server", 5): 11, ("to_server", 6): 14, ("to_client", 5): 16, ("to_client", 6): 20,
    }
    assert len(BODIES) == sum(counts.values())


# -- encode→decode is the identity --------------------------------------------------


@pytest.mark.parametrize(("direction", "version", "body"), BODIES)
def test_encode_decode_identity(direction: str, version: int, body: str) -> None:
    @SETTINGS
    @given(messages(direction, version, body))
    def check(msg: Any) -> None:
        frame = encode_versioned(direction, msg, version)
        assert frame[:2] == version.to_bytes(2, "little")
        assert decode_versioned(direction, frame) == (version, msg)
        payload = encode_versioned(direction, msg, version, prefix=False)
        assert payload == frame[2:]
        assert decode_versioned(direction, payload, version) == (version, msg)
        # The JSON form (vectors, `actorscope frame`) round-trips too.
        form = json.loads(json.dumps(to_json(msg)))
        assert message_from_json(direction, version, form) == msg
        # A nested history payload decodes to what it encoded.
        for name in ("history", "workflow_history"):
            nested = getattr(msg.body, name, None)
            if isinstance(nested, bytes):  # ScheduleHistoryResponse.history is a list
                try:
                    h = decode_history(nested)
                except DecodeError:
                    continue  # arbitrary bytes drawn for the field
                assert encode_history(h) == nested

    check()


@SETTINGS
@given(histories())
def test_history_encode_decode_identity(h: WorkflowHistory) -> None:
    payload = encode_history(h)
    assert decode_history(payload) == h
    form = json.loads(json.dumps(to_json(h)))
    assert form == to_json(decode_history(payload))


@settings(max_examples=40, deadline=None, database=None)
@given(histories(), st.sampled_from([2, 3, 4]))
def test_history_nested_in_a_response_round_trips(h: WorkflowHistory, version: int) -> None:
    c = codec(version)
    to_client, response = c.bindings["ToClient"], c.bindings["WorkflowHistoryResponse"]
    assert isinstance(to_client, type)
    assert isinstance(response, type)
    msg = to_client(response(7, encode_history(h), True))
    _, back = decode_versioned("to_client", encode_versioned("to_client", msg, version))
    assert decode_history(back.body.history) == h


# -- the version chain never raises on a well-formed message --------------------------

_ERROR_CODES = {v for k, v in vars(codes).items() if k.isupper() and isinstance(v, str)}


def _exists_at(direction: str, version: int, body: str) -> bool:
    return body in {_member_name(m) for m in _members(direction, version)}


def _expected_round_trip(msg: Any, version: int) -> Any:
    """``msg`` after going up to the newest version and back down (§5)."""
    if version == 1 and type(msg.body) is InitV1:
        return attrs.evolve(msg, body=attrs.evolve(msg.body, events=[]))
    return msg


@pytest.mark.parametrize(("direction", "version", "body"), BODIES)
def test_every_conversion_accepts_every_well_formed_message(
    direction: str, version: int, body: str
) -> None:
    dec: Callable[..., tuple[int, Any]] = (
        decode_to_server if direction == "to_server" else decode_to_client
    )

    @SETTINGS
    @given(messages(direction, version, body))
    def check(msg: Any) -> None:
        frame = encode_versioned(direction, msg, version)
        for target in VERSIONS:
            step = upgrade if target >= version else downgrade
            out = step(msg, version, target)
            out_direction = "to_client" if is_to_client(out) else "to_server"
            out_body = codec(target).names[type(out.body)]
            if _exists_at(direction, target, body):
                # §5: everything that exists at the target maps by name.
                assert (out_direction, out_body) == (direction, body)
            else:
                assert (out_direction, out_body) == ("to_client", "Error")
                assert out.body.message in _ERROR_CODES
            # What the chain produced encodes at the target, and `convert` agrees.
            converted = convert(direction, frame, target)
            assert converted == encode_versioned(out_direction, out, target)
        # Up to the newest and back down gives the message back (v1 Init loses
        # its events, §5), for every message that has a newest form.
        if _exists_at(direction, VERSIONS[-1], body):
            back = downgrade(upgrade(msg, version, VERSIONS[-1]), VERSIONS[-1], version)
            assert back == _expected_round_trip(msg, version)
        # The newest-model API the server and the client use.
        got_version, model = dec(frame)
        assert got_version == version
        for target in VERSIONS:
            if is_to_client(model):
                encode_to_client(model, target)
                continue
            try:
                encode_to_server(model, target)
            except ConversionError as exc:
                # The reply is the Error answer *at* the target version (§5),
                # the same frame `convert` produces step by step.
                reply = exc.reply
                assert isinstance(reply.body, Error)
                assert reply.body.message in _ERROR_CODES
                assert encode_versioned("to_client", reply, target) == convert(
                    direction, frame, target
                )

    check()


# -- bad input only ever raises DecodeError --------------------------------------------


def _decoders(direction: str) -> list[Callable[[bytes], object]]:
    """Every decoding entry point for ``direction``: embedded and each negotiated version."""
    dec = decode_to_server if direction == "to_server" else decode_to_client

    def at(version: int | None) -> list[Callable[[bytes], object]]:
        return [lambda b: decode_versioned(direction, b, version), lambda b: dec(b, version)]

    return [f for version in (None, *VERSIONS) for f in at(version)]


def _decodes_or_decode_error(decode: Callable[[bytes], object], data: bytes) -> None:
    try:
        decode(data)
    except DecodeError as exc:
        assert str(exc)


@settings(max_examples=300, deadline=None, database=None)
@given(st.sampled_from(DIRECTIONS), st.binary(max_size=48))
def test_random_bytes_decode_or_raise_decode_error(direction: str, data: bytes) -> None:
    for decode in _decoders(direction):
        _decodes_or_decode_error(decode, data)
    _decodes_or_decode_error(decode_history, data)


@st.composite
def _mutated(draw: st.DrawFn, original: bytes) -> bytes:
    """``original`` with a few byte flips, insertions, deletions or a truncation."""
    b = bytearray(original)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "huge"]))
        i = draw(st.integers(0, len(b)))
        if op == "flip" and i < len(b):
            b[i] ^= draw(st.integers(1, 255))
        elif op == "insert":
            b[i:i] = draw(st.binary(min_size=1, max_size=3))
        elif op == "delete":
            del b[i : i + draw(st.integers(1, 3))]
        elif op == "truncate":
            del b[i:]
        elif op == "huge" and i < len(b):
            # Plant a huge length/count varint where a small one may have been.
            claim = draw(st.sampled_from([1 << 60, (1 << 53) - 1, 1 << 40, (1 << 32) - 1, 1 << 31]))
            b[i : i + 1] = uvarint_bytes(claim)
    return bytes(b)


@st.composite
def _mutated_frames(draw: st.DrawFn) -> tuple[str, bytes]:
    direction = draw(st.sampled_from(DIRECTIONS))
    version = draw(st.sampled_from(VERSIONS))
    frame = encode_versioned(direction, draw(messages(direction, version)), version)
    return direction, draw(_mutated(frame))


@settings(
    max_examples=400,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(_mutated_frames())
def test_mutated_frames_decode_or_raise_decode_error(case: tuple[str, bytes]) -> None:
    direction, frame = case
    for decode in _decoders(direction):
        _decodes_or_decode_error(decode, frame)
        _decodes_or_decode_error(decode, frame[2:])


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(histories().map(encode_history).flatmap(_mutated))
def test_mutated_histories_decode_or_raise_decode_error(payload: bytes) -> None:
    _decodes_or_decode_error(decode_history, payload)


# -- huge claims fail at once, without allocating ---------------------------------------

_HUGE_CLAIMS = [1 << 60, (1 << 53) - 1, 1 << 40, (1 << 32) - 1]


def _peak_while(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        with pytest.raises(DecodeError):
            fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("claim", _HUGE_CLAIMS)
@pytest.mark.parametrize(
    ("direction", "frame_head"),
    [
        # v4 ConnectionsUpdated { connections: list<Connection> } — a list count.
        ("to_client", b"\x04\x00\x03"),
        # v1 EventsUpdated { events: list<Event> } — a list count.
        ("to_client", b"\x01\x00\x05"),
        # v4 RpcsListResponse { rid 0, rpcs: list<str> } — a list of strings.
        ("to_client", b"\x04\x00\x07\x00"),
        # v4 ActionRequest { id 0, name: str } — a string length.
        ("to_server", b"\x04\x00\x03\x00"),
        # v2 PatchStateRequest { state: data } — a data length.
        ("to_server", b"\x02\x00\x00"),
    ],
)
def test_frame_claiming_a_huge_length_fails_without_allocating(
    direction: str, frame_head: bytes, claim: int
) -> None:
    frame = frame_head + uvarint_bytes(claim) + b"\x01" * 64
    peak = _peak_while(lambda: decode_versioned(direction, frame))
    assert peak < 256 * 1024


@pytest.mark.parametrize("claim", _HUGE_CLAIMS)
@pytest.mark.parametrize(
    "head",
    [
        b"",  # nameRegistry: list<str>
        b"\x00",  # entries: list<WorkflowEntry>
        b"\x00\x00",  # entryMetadata: map<str><WorkflowEntryMetadata>
        b"\x01",  # the first nameRegistry string's length
    ],
)
def test_history_claiming_a_huge_length_fails_without_allocating(head: bytes, claim: int) -> None:
    payload = head + uvarint_bytes(claim) + b"\x00" * 64
    assert _peak_while(lambda: decode_history(payload)) < 256 * 1024
