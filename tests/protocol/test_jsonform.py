"""The JSON form (vectors' shape): hooks, validation and errors."""

from __future__ import annotations

from typing import Any

import pytest
from actorscope.protocol import (
    DecodeError,
    MsgpackCodec,
    StateRequest,
    ToClient,
    ToClientV1,
    ToServer,
    WorkflowEntry,
    WorkflowEntryMetadata,
    WorkflowEntryStatus,
    WorkflowHistory,
    WorkflowLoopIterationMarker,
    WorkflowStepEntry,
    from_json,
    message_from_json,
    to_json,
)

HISTORY = WorkflowHistory(
    name_registry=["main", "step"],
    entries=[
        WorkflowEntry(
            "e0", [0, WorkflowLoopIterationMarker(0, 3), 1], WorkflowStepEntry(b"\x01", None)
        )
    ],
    entry_metadata={
        "e0": WorkflowEntryMetadata(WorkflowEntryStatus.COMPLETED, None, 1, 10, 9, 11, None, None)
    },
)
HISTORY_JSON = {
    "nameRegistry": ["main", "step"],
    "entries": [
        {
            "id": "e0",
            "location": [
                {"tag": "WorkflowNameIndex", "val": 0},
                {"tag": "WorkflowLoopIterationMarker", "val": {"loop": 0, "iteration": 3}},
                {"tag": "WorkflowNameIndex", "val": 1},
            ],
            "kind": {"tag": "WorkflowStepEntry", "val": {"output": "01", "error": None}},
        }
    ],
    "entryMetadata": {
        "e0": {
            "status": "COMPLETED",
            "error": None,
            "attempts": 1,
            "lastAttemptAt": 10,
            "createdAt": 9,
            "completedAt": 11,
            "rollbackCompletedAt": None,
            "rollbackError": None,
        }
    },
}


def test_history_json_form() -> None:
    assert to_json(HISTORY) == HISTORY_JSON
    assert from_json(WorkflowHistory, HISTORY_JSON) == HISTORY


def test_data_hooks() -> None:
    raw = to_json(HISTORY, data=lambda b: b)
    assert raw["entries"][0]["kind"]["val"]["output"] == b"\x01"
    assert from_json(WorkflowHistory, raw, data=lambda b: b) == HISTORY
    codec = MsgpackCodec()
    shown = to_json(HISTORY, data=codec.decode)
    assert shown["entries"][0]["kind"]["val"]["output"] == 1


def test_message_json_and_versions() -> None:
    msg = ToServer(StateRequest(2**64 - 1))
    form = {"body": {"tag": "StateRequest", "val": {"id": 2**64 - 1}}}
    assert to_json(msg) == form
    assert from_json(ToServer, form) == msg
    assert message_from_json("to_server", 2, form) == msg
    init_v1 = {
        "body": {
            "tag": "Init",
            "val": {
                "connections": [],
                "events": [],
                "state": None,
                "isStateEnabled": False,
                "rpcs": [],
                "isDatabaseEnabled": False,
            },
        }
    }
    built = message_from_json("to_client", 1, init_v1)
    assert type(built) is ToClientV1
    assert to_json(built) == init_v1
    with pytest.raises(DecodeError, match="unknown field 'events' for Init"):
        from_json(ToClient, init_v1)


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([], "expected an object for ToServer at \\$"),
        ({"body": {"tag": "StateRequest"}}, 'expected {"tag", "val"} for ToServerBody at \\$.body'),
        ({"body": {"tag": "Nope", "val": {}}}, "unknown tag 'Nope' for ToServerBody v6"),
        ({"body": {"tag": "StateRequest", "val": {}}}, "missing field 'id'"),
        ({"body": {"tag": "StateRequest", "val": {"id": 1, "x": 2}}}, "unknown field 'x'"),
        ({"body": {"tag": "StateRequest", "val": {"id": -1}}}, "uint range at \\$.body.val.id"),
        ({"body": {"tag": "StateRequest", "val": {"id": 2**64}}}, "uint range"),
        ({"body": {"tag": "StateRequest", "val": {"id": True}}}, "uint range"),
        ({"body": {"tag": "StateRequest", "val": {"id": 1.0}}}, "uint range"),
        ({"body": {"tag": "PatchStateRequest", "val": {"state": "zz"}}}, "bad data value"),
        ({"body": {"tag": "PatchStateRequest", "val": {"state": 5}}}, "bad data value"),
        (
            {"body": {"tag": "ActionRequest", "val": {"id": 1, "name": 5, "args": ""}}},
            "expected a string at \\$.body.val.name",
        ),
        (
            {"body": {"tag": "ActionRequest", "val": {"id": 1, "name": "\ud800", "args": ""}}},
            "not valid unicode",
        ),
        (
            {"body": {"tag": "WorkflowReplayRequest", "val": {"id": 1, "entryId": 3}}},
            "expected a string",
        ),
    ],
)
def test_from_json_errors(obj: Any, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        from_json(ToServer, obj)


def test_from_json_checks_message_exists_at_the_version() -> None:
    form = {"body": {"tag": "WorkflowReplayRequest", "val": {"id": 1, "entryId": None}}}
    assert message_from_json("to_server", 4, form) is not None
    expected = "unknown tag 'WorkflowReplayRequest' for ToServerBody v3"
    with pytest.raises(DecodeError, match=expected):
        message_from_json("to_server", 3, form)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"attempts": 2**32}, "u32 range"),
        ({"status": "DONE"}, "unknown WorkflowEntryStatus value 'DONE'"),
        ({"lastAttemptAt": -5}, "u64 range"),
        ({"error": 3}, "expected a string"),
    ],
)
def test_history_from_json_errors(patch: dict[str, Any], message: str) -> None:
    meta = {**HISTORY_JSON["entryMetadata"]["e0"], **patch}  # type: ignore[index]
    bad = {**HISTORY_JSON, "entryMetadata": {"e0": meta}}
    with pytest.raises(DecodeError, match=message):
        from_json(WorkflowHistory, bad)


def test_bool_fields_need_json_booleans() -> None:
    form = {"body": {"tag": "StateResponse", "val": {"rid": 1, "state": None, "isStateEnabled": 1}}}
    with pytest.raises(DecodeError, match="expected true or false"):
        from_json(ToClient, form)


def test_to_json_refuses_foreign_objects() -> None:
    with pytest.raises(TypeError):
        to_json({"body": 1})
    with pytest.raises(TypeError):
        from_json(dict, {})


def test_error_paths_name_list_indexes_and_map_keys() -> None:
    bad = {**HISTORY_JSON}
    entry = dict(HISTORY_JSON["entries"][0])  # type: ignore[index]
    entry["location"] = [
        {"tag": "WorkflowNameIndex", "val": 0},
        {"tag": "WorkflowLoopIterationMarker", "val": {"loop": -1, "iteration": 0}},
    ]
    bad["entries"] = [HISTORY_JSON["entries"][0], entry]  # type: ignore[index]
    with pytest.raises(DecodeError) as info:
        from_json(WorkflowHistory, bad)
    assert str(info.value) == (
        "expected an integer in the u32 range at $.entries[1].location[1].val.loop"
    )
    meta = {**HISTORY_JSON["entryMetadata"]["e0"], "attempts": "1"}  # type: ignore[index]
    with pytest.raises(DecodeError) as info:
        from_json(WorkflowHistory, {**HISTORY_JSON, "entryMetadata": {"e0": meta}})
    assert str(info.value) == "expected an integer in the u32 range at $.entryMetadata.e0.attempts"


def test_to_json_refuses_a_non_member_in_a_union() -> None:
    with pytest.raises(TypeError, match="is not a member of ToServerBody v6"):
        to_json(ToServer(WorkflowHistory([], [], {})))  # type: ignore[arg-type]
