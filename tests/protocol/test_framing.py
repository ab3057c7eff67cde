"""The framing API the server and client use (ARCHITECTURE.md, PROTOCOL.md §1, §5)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from actorscope.protocol import (
    NEWEST_VERSION,
    VERSIONS,
    ActionRequest,
    Connection,
    ConversionError,
    DatabaseSchemaRequest,
    EncodeError,
    Error,
    EventsRequest,
    Init,
    InitV1,
    InitV2,
    InitV5,
    PatchStateRequest,
    QueueRequest,
    SchedulesUpdated,
    StateRequest,
    StateResponse,
    ToClient,
    ToClientV1,
    ToServer,
    ToServerV1,
    UnsupportedVersion,
    WorkflowReplayRequest,
    WorkflowReplayResponse,
    body_classes,
    decode_to_client,
    decode_to_server,
    decode_versioned,
    downgrade_to_server,
    encode_to_client,
    encode_to_server,
    encode_versioned,
    to_json,
)
from actorscope.protocol.framing import parse_direction

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
FRAMES: list[dict[str, Any]] = json.loads((VECTORS / "inspector-frames.json").read_text())
EVENTS_DROPPED = {"body": {"tag": "Error", "val": {"message": "inspector.events_dropped"}}}


def test_versions() -> None:
    # PROTOCOL.md §9.1: six versions, newest 6.
    assert NEWEST_VERSION == 6
    assert tuple(range(1, NEWEST_VERSION + 1)) == VERSIONS


@pytest.mark.parametrize(
    "vector", [x for x in FRAMES if x["direction"] == "to_server"], ids=lambda x: x["hex"][:24]
)
def test_decode_to_server_upgrades_every_request_to_the_newest_model(
    vector: dict[str, Any],
) -> None:
    version, msg = decode_to_server(bytes.fromhex(vector["hex"]))
    assert version == vector["version"]
    if vector["message"]["body"]["tag"] in ("EventsRequest", "ClearEventsRequest"):
        assert type(msg) is ToClient
        assert to_json(msg) == EVENTS_DROPPED
    else:
        assert type(msg) is ToServer
        assert to_json(msg) == vector["message"]
    # Negotiated mode: the same payload without the prefix.
    assert decode_to_server(bytes.fromhex(vector["hex"][4:]), version) == (version, msg)


@pytest.mark.parametrize(
    "vector", [x for x in FRAMES if x["direction"] == "to_client"], ids=lambda x: x["hex"][:24]
)
def test_decode_to_client_upgrades_every_message_to_the_newest_model(
    vector: dict[str, Any],
) -> None:
    version, msg = decode_to_client(bytes.fromhex(vector["hex"]))
    assert version == vector["version"]
    assert type(msg) is ToClient
    tag = vector["message"]["body"]["tag"]
    val = vector["message"]["body"]["val"]
    if tag in ("EventsResponse", "EventsUpdated"):
        assert to_json(msg) == EVENTS_DROPPED
    elif tag == "Init" and version == 1:
        assert type(msg.body) is Init
        assert msg.body.queue_size == 0
        assert msg.body.workflow_history is None
        assert msg.body.is_workflow_enabled is False
        assert [to_json(c) for c in msg.body.connections] == val["connections"]
        assert msg.body.rpcs == val["rpcs"]
    elif tag == "Init":
        # §9.5: v2-v4 Init gains an empty tabConfig (v5) and schedules (v6).
        assert type(msg.body) is Init
        assert msg.body.tab_config == [] and msg.body.schedules == []
        newest = {k: v for k, v in to_json(msg)["body"]["val"].items()}
        assert newest.pop("tabConfig") == [] and newest.pop("schedules") == []
        assert newest == val
    else:
        assert to_json(msg) == vector["message"]
    assert decode_to_client(bytes.fromhex(vector["hex"][4:]), version) == (version, msg)


def test_identity_upgrades_keep_the_same_objects() -> None:
    # v2/v3 share the v4 classes: nothing is rebuilt on the way up.
    _, msg = decode_to_server(b"\x03\x00\x01\x07")
    assert type(msg) is ToServer and msg == ToServer(StateRequest(7))
    _, v1msg = decode_to_server(b"\x01\x00\x01\x07")
    assert v1msg == ToServer(StateRequest(7))


INIT = ToClient(
    Init(
        connections=[Connection("c1", b"\x80")],
        state=b"\x01",
        is_state_enabled=True,
        rpcs=["inc"],
        is_database_enabled=False,
        queue_size=3,
        workflow_history=b"\x00\x00\x00",
        is_workflow_enabled=True,
        tab_config=[],
        schedules=[],
    )
)


def test_encode_to_client_downgrades_init_for_v1() -> None:
    frame = encode_to_client(INIT, 1)
    # v1 Init (tag 9): connections [("c1", 80)], events [], state 01, enabled, ["inc"], no db.
    assert frame.hex() == "01000901026331018000010101010103696e6300"
    _, msg = decode_versioned("to_client", frame)
    assert msg == ToClientV1(InitV1([Connection("c1", b"\x80")], [], b"\x01", True, ["inc"], False))


def test_encode_to_client_at_each_version_and_without_prefix() -> None:
    for version in VERSIONS:
        framed = encode_to_client(INIT, version)
        assert framed[:2] == bytes([version, 0])
        assert encode_to_client(INIT, version, prefix=False) == framed[2:]
    assert decode_to_client(encode_to_client(INIT, NEWEST_VERSION)) == (NEWEST_VERSION, INIT)
    for version in VERSIONS[1:]:
        # Down and up again loses nothing INIT carries (its lists are empty).
        assert decode_to_client(encode_to_client(INIT, version)) == (version, INIT)


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (4, "04000b000001"),  # WorkflowReplayResponse (tag 11) { rid 0, absent, true }
        (3, "03000b22" + b"inspector.workflow_history_dropped".hex()),
        (1, "01000822" + b"inspector.workflow_history_dropped".hex()),
    ],
)
def test_encode_to_client_turns_missing_responses_into_errors(version: int, expected: str) -> None:
    msg = ToClient(WorkflowReplayResponse(0, None, True))
    assert encode_to_client(msg, version).hex() == expected


def test_downgrade_to_server() -> None:
    replay = ToServer(WorkflowReplayRequest(5, "e1"))
    assert downgrade_to_server(replay, 4) is replay
    assert downgrade_to_server(replay, 3) == ToClient(
        Error("inspector.workflow_replay_unsupported")
    )
    state = ToServer(StateRequest(1))
    for version in VERSIONS:
        assert downgrade_to_server(state, version) is state
    assert downgrade_to_server(ToServer(QueueRequest(1, 10)), 2) == ToServer(QueueRequest(1, 10))
    assert downgrade_to_server(ToServer(QueueRequest(1, 10)), 1) == ToClient(
        Error("inspector.queue_unsupported")
    )
    assert downgrade_to_server(ToServer(DatabaseSchemaRequest(1)), 2) == ToClient(
        Error("inspector.database_unsupported")
    )
    with pytest.raises(UnsupportedVersion):
        downgrade_to_server(state, 0)


def test_encode_to_server() -> None:
    msg = ToServer(ActionRequest(1, "inc", b"\x91\x01"))
    assert encode_to_server(msg, 4).hex() == "0400030103696e63029101"
    assert encode_to_server(msg, 1, prefix=False).hex() == "030103696e63029101"


def test_encode_to_server_raises_conversion_error_with_the_reply() -> None:
    with pytest.raises(ConversionError) as info:
        encode_to_server(ToServer(WorkflowReplayRequest(1, None)), 3)
    assert info.value.reply == ToClient(Error("inspector.workflow_replay_unsupported"))
    with pytest.raises(ConversionError) as info:
        encode_to_server(ToServer(DatabaseSchemaRequest(1)), 1)
    assert info.value.reply == ToClientV1(Error("inspector.database_unsupported"))


@pytest.mark.parametrize(
    "call",
    [
        lambda: encode_to_client(INIT, NEWEST_VERSION + 1),
        lambda: encode_to_server(ToServer(StateRequest(1)), 0),
        lambda: decode_to_client(b"\x01", NEWEST_VERSION + 3),
        lambda: encode_versioned("to_server", ToServer(StateRequest(1)), NEWEST_VERSION + 1),
    ],
)
def test_unsupported_version_arguments(call: Any) -> None:
    with pytest.raises(UnsupportedVersion):
        call()


@pytest.mark.parametrize(
    "msg",
    [
        ToServer(StateRequest(-1)),
        ToServer(StateRequest(2**64)),
        ToServer(StateRequest("1")),  # type: ignore[arg-type]
        ToServer(PatchStateRequest("text")),  # type: ignore[arg-type]
        ToServer(ActionRequest(1, "\ud800", b"")),
        ToServer(EventsRequest(1)),  # type: ignore[arg-type]
        ToServer(StateResponse(1, None, True)),  # type: ignore[arg-type]
        ToClient(StateResponse(1, None, 1)),  # type: ignore[arg-type]
        ToServerV1(StateRequest(1)),
    ],
    ids=repr,
)
def test_encode_refuses_values_the_schema_cannot_carry(msg: Any) -> None:
    direction = "to_client" if type(msg) is ToClient else "to_server"
    with pytest.raises(EncodeError):
        encode_versioned(direction, msg, 4)


def test_body_classes_in_tag_order() -> None:
    assert body_classes("to_server", 1)[4] is EventsRequest
    assert body_classes("to_server", 4)[8] is WorkflowReplayRequest
    assert body_classes("to_client", 1)[9] is InitV1
    assert body_classes("to_client", 4)[13] is InitV2
    assert body_classes("to_client", 5)[13] is InitV5
    assert body_classes("to_client", 6)[17] is Init
    assert body_classes("to_client", 6)[7] is SchedulesUpdated


def test_parse_direction() -> None:
    assert parse_direction("to-server") == "to_server"
    assert parse_direction("to_client") == "to_client"
    with pytest.raises(ValueError, match="direction"):
        parse_direction("sideways")
