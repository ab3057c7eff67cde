"""The shared version rules (protocol/negotiation.py; PROTOCOL.md §1, §5, §9.2, §9.8)."""

from __future__ import annotations

import pytest
from actorscope.protocol import (
    NEWEST_VERSION,
    VERSIONS,
    ConversionError,
    Error,
    Init,
    QueueUpdated,
    SchedulesRequest,
    StateRequest,
    StateResponse,
    TabConfigEntry,
    ToClient,
    ToServer,
    WorkflowEntry,
    WorkflowEntryMetadata,
    WorkflowEntryStatus,
    WorkflowHistory,
    WorkflowHistoryResponse,
    WorkflowHistoryUpdated,
    WorkflowReplayResponse,
    WorkflowStepEntry,
    WorkflowVersionCheckEntry,
    decode_history,
    decode_to_client,
    encode_history,
    encode_to_server,
)
from actorscope.protocol.errors import DecodeError, InvalidProtocolVersion
from actorscope.protocol.negotiation import (
    ClientSide,
    ServerSide,
    for_peer,
    parse_protocol_version,
)
from hypothesis import given
from hypothesis import strategies as st


@pytest.mark.parametrize(
    ("query", "version"),
    [
        ("protocol_version=6", 6),
        ("protocol_version=06", 6),  # a decimal u16: leading zeros are fine
        ("protocol_version=%2B6", 6),  # "+6" after form decoding
        ("protocol_version=0000000001", 1),
        ("x=1&protocol_version=3", 3),
        ("protocol_version=5&protocol_version=nope", 5),  # the first one counts
        ("", None),
        ("other=6", None),
        (b"protocol_version=4", 4),
    ],
)
def test_accepted(query: str | bytes, version: int | None) -> None:
    assert parse_protocol_version(query) == version


@pytest.mark.parametrize(
    "query",
    [
        "protocol_version=",
        "protocol_version",
        "protocol_version=+6",  # "+" decodes to a space
        "protocol_version=%206",
        "protocol_version=6%20",
        "protocol_version=-6",
        "protocol_version=0",
        "protocol_version=7",
        "protocol_version=65536",
        "protocol_version=99999999999999999999",
        "protocol_version=\uff16",  # a fullwidth (non-ASCII) digit six
        "protocol_version=%2B",
        "protocol_version=6.0",
        "protocol_version=nope&protocol_version=6",
    ],
)
def test_refused(query: str) -> None:
    with pytest.raises(InvalidProtocolVersion):
        parse_protocol_version(query)


@given(st.text(max_size=12))
def test_any_value_is_a_version_or_refused(value: str) -> None:
    from urllib.parse import quote

    try:
        version = parse_protocol_version("protocol_version=" + quote(value))
    except InvalidProtocolVersion:
        return
    assert version is not None and 1 <= version <= NEWEST_VERSION
    assert int(value.removeprefix("+")) == version


def test_cap_bounds_negotiation() -> None:
    assert parse_protocol_version("protocol_version=3", cap=3) == 3
    with pytest.raises(InvalidProtocolVersion):
        parse_protocol_version("protocol_version=4", cap=3)


# -- the server side --------------------------------------------------------------


def test_embedded_mode_starts_at_v4_then_follows_the_peer() -> None:
    side = ServerSide(None)
    assert side.prefixed and side.version == 4  # §9.8
    side.decode(b"\x06\x00\x01\x07")
    assert side.version == 6
    side.decode(b"\x02\x00\x01\x07")
    assert side.version == 2
    assert ServerSide(None, cap=3).version == 3


def test_negotiated_mode_stays_at_its_version() -> None:
    side = ServerSide(5)
    assert not side.prefixed and side.version == 5
    assert side.decode(b"\x01\x07") == ToServer(StateRequest(7))
    assert side.encode(ToClient(StateResponse(7, None, False))) == b"\x00\x07\x00\x00"
    with pytest.raises(DecodeError):
        side.decode(b"\x0e\x01")  # tag 14 is past v5's requests
    with pytest.raises(ValueError):
        ServerSide(5, cap=4)


def test_capped_server_answers_what_its_version_cannot_serve() -> None:
    side = ServerSide(None, cap=5)
    frame = encode_to_server(ToServer(SchedulesRequest(1)), 6)
    assert side.decode(frame) == ToClient(Error("inspector.schedules_unsupported"))
    assert side.version == 5  # answered at the cap, never above it
    assert side.decode(encode_to_server(ToServer(StateRequest(2)), 6)) == ToServer(StateRequest(2))


def test_pushes_a_version_cannot_carry_are_not_sent() -> None:
    assert not ServerSide(1).carries("QueueUpdated")
    assert ServerSide(2).carries("QueueUpdated")
    assert not ServerSide(5).carries("SchedulesUpdated")
    assert ServerSide(6).carries("SchedulesUpdated")
    assert not ServerSide(None).carries("SchedulesUpdated")  # embedded starts at v4


def _history(with_check: bool) -> bytes:
    entries = [WorkflowEntry("s1", [0], WorkflowStepEntry(b"\x01", None))]
    meta = WorkflowEntryMetadata(WorkflowEntryStatus.COMPLETED, None, 1, 5, 4, 6, None, None)
    metadata = {"s1": meta}
    if with_check:
        entries.append(WorkflowEntry("vc", [1], WorkflowVersionCheckEntry(2, 2)))
        metadata["vc"] = meta
    return encode_history(WorkflowHistory(["step", "charge-v2"], entries, metadata))


def _init(history: bytes | None) -> ToClient:
    return ToClient(Init([], None, False, [], False, 0, history, history is not None, [], []))


@pytest.mark.parametrize("version", VERSIONS)
def test_histories_for_old_peers_lose_version_checks(version: int) -> None:
    full = _history(True)
    kept = version >= 5
    for msg in (
        _init(full),
        ToClient(WorkflowHistoryUpdated(full)),
        ToClient(WorkflowHistoryResponse(1, full, True)),
        ToClient(WorkflowReplayResponse(1, full, True)),
    ):
        out = for_peer(msg, version)
        body = out.body
        payload = body.workflow_history if type(body) is Init else body.history
        if kept:
            assert payload is full
            continue
        history = decode_history(payload)
        assert [e.id for e in history.entries] == ["s1"]
        assert set(history.entry_metadata) == {"s1"}
        assert payload == _history(False)
    plain = ToClient(WorkflowHistoryUpdated(_history(False)))
    assert for_peer(plain, version) is plain
    other = ToClient(QueueUpdated(3))
    assert for_peer(other, version) is other


def test_server_side_encode_filters_and_downgrades() -> None:
    side = ServerSide(4)
    _, msg = decode_to_client(side.encode(_init(_history(True))), 4)
    assert type(msg.body) is Init
    assert msg.body.workflow_history == _history(False)


# -- the client side ----------------------------------------------------------------


def test_client_side_defaults_to_the_newest_version() -> None:
    client = ClientSide()
    assert client.version == NEWEST_VERSION
    assert client.query == f"protocol_version={NEWEST_VERSION}"
    assert parse_protocol_version(client.query) == NEWEST_VERSION
    with pytest.raises(ValueError, match="protocol_version"):
        ClientSide(NEWEST_VERSION + 1)


def test_client_side_refuses_requests_its_version_lacks() -> None:
    client = ClientSide(5)
    assert not client.supports("SchedulesRequest")
    with pytest.raises(ConversionError) as info:
        client.encode(ToServer(SchedulesRequest(1)))
    assert info.value.reply == ToClient(Error("inspector.schedules_unsupported"))
    assert ClientSide(6).encode(ToServer(SchedulesRequest(1))) == b"\x0b\x01"
    assert client.decode(b"\x00\x07\x00\x00") == ToClient(StateResponse(7, None, False))


def test_v5_peers_get_the_schedules_tab_hidden() -> None:
    # v5 has tabConfig but no schedule messages: the tab could never fill.
    hidden = TabConfigEntry("schedules", None, None, True)
    custom = TabConfigEntry("mine", "Mine", None, False)
    init = ToClient(Init([], None, False, [], False, 0, None, False, [custom], []))
    out = for_peer(init, 5)
    assert out.body.tab_config == [custom, hidden]
    assert for_peer(out, 5) is out  # already hidden: unchanged
    assert for_peer(init, 6) is init
    assert for_peer(init, 4) is init  # v4 has no tabConfig at all
