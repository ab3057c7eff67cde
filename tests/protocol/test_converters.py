"""The adjacent converters themselves (PROTOCOL.md §5), one step at a time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from actorscope.protocol import (
    Connection,
    DatabaseSchemaResponse,
    Error,
    EventsRequest,
    EventsResponse,
    InitV1,
    InitV2,
    QueueResponse,
    QueueStatus,
    StateRequest,
    ToClient,
    ToClientV1,
    ToServer,
    ToServerV1,
    decode_versioned,
    v2,
)
from actorscope.protocol.converters import IDENTITY_STEPS, downgrade, upgrade
from actorscope.protocol.versions import MODULES as VERSION_MODULES
from actorscope.protocol.versions import VERSIONS

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
FRAMES: list[dict[str, Any]] = [
    *json.loads((VECTORS / "inspector-frames.json").read_text()),
    *json.loads((VECTORS / "v5-v6" / "inspector-frames.json").read_text()),
]


def _messages(direction: str, version: int) -> list[Any]:
    return [
        decode_versioned(direction, bytes.fromhex(x["hex"]))[1]
        for x in FRAMES
        if x["direction"] == direction and x["version"] == version
    ]


NEWER = [v for v in VERSION_MODULES if v > 1]


@pytest.mark.parametrize("version", NEWER)
def test_identity_steps_return_their_argument(version: int) -> None:
    module = VERSION_MODULES[version]
    if module.SERVER_UPGRADE_IS_IDENTITY:
        assert module.upgrade_to_server in IDENTITY_STEPS
        for msg in _messages("to_server", version - 1):
            assert module.upgrade_to_server(msg) is msg
    else:
        assert module.upgrade_to_server not in IDENTITY_STEPS
    if module.CLIENT_UPGRADE_IS_IDENTITY:
        assert module.upgrade_to_client in IDENTITY_STEPS
        for msg in _messages("to_client", version - 1):
            assert module.upgrade_to_client(msg) is msg
    else:
        assert module.upgrade_to_client not in IDENTITY_STEPS


def test_which_steps_are_identities() -> None:
    # v1->v2 rebuilds everything; v5 and v6 rebuild Init on the client side.
    server = [VERSION_MODULES[v].SERVER_UPGRADE_IS_IDENTITY for v in NEWER]
    client = [VERSION_MODULES[v].CLIENT_UPGRADE_IS_IDENTITY for v in NEWER]
    assert server == [False, True, True, True, True]
    assert client == [False, True, True, False, False]
    assert type(v2.upgrade_to_server(ToServerV1(StateRequest(1)))) is ToServer
    assert v2.upgrade_to_server not in IDENTITY_STEPS
    assert v2.upgrade_to_client not in IDENTITY_STEPS


def _step_by_step_up(msg: Any, frm: int, to: int) -> Any:
    for n in range(frm + 1, to + 1):
        client = type(msg) in (ToClient, ToClientV1)
        module = VERSION_MODULES[n]
        msg = module.upgrade_to_client(msg) if client else module.upgrade_to_server(msg)
    return msg


@pytest.mark.parametrize("direction", ["to_server", "to_client"])
@pytest.mark.parametrize("frm", VERSIONS)
def test_chains_equal_every_adjacent_step_applied_in_order(direction: str, frm: int) -> None:
    for msg in _messages(direction, frm):
        for to in VERSIONS[frm - 1 :]:
            assert upgrade(msg, frm, to) == _step_by_step_up(msg, frm, to)


def test_v1_v2_request_steps() -> None:
    assert v2.upgrade_to_server(ToServerV1(StateRequest(1))) == ToServer(StateRequest(1))
    assert v2.upgrade_to_server(ToServerV1(EventsRequest(1))) == ToClient(
        Error("inspector.events_dropped")
    )
    assert v2.downgrade_to_server(ToServer(StateRequest(1))) == ToServerV1(StateRequest(1))


def test_v1_v2_response_steps() -> None:
    init_v1 = InitV1([Connection("a", b"")], [], None, False, ["r"], True)
    init = InitV2([Connection("a", b"")], None, False, ["r"], True, 0, None, False)
    assert v2.upgrade_to_client(ToClientV1(init_v1)) == ToClient(init)
    assert v2.downgrade_to_client(ToClient(init)) == ToClientV1(init_v1)
    assert v2.upgrade_to_client(ToClientV1(EventsResponse(1, []))) == ToClient(
        Error("inspector.events_dropped")
    )
    queue = ToClient(QueueResponse(1, QueueStatus(0, 10, [], False)))
    assert v2.downgrade_to_client(queue) == ToClientV1(Error("inspector.queue_dropped"))


def test_errors_travel_on_through_later_steps() -> None:
    # v3 -> v2 turns the database response into an Error, v2 -> v1 carries it on.
    msg = ToClient(DatabaseSchemaResponse(1, b"\x90"))
    assert downgrade(msg, 4, 1) == ToClientV1(Error("inspector.database_dropped"))
    assert downgrade(msg, 4, 3) is msg
