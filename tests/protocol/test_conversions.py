"""Version conversion (PROTOCOL.md §5, §9.5): the reference vectors and every chain pair.

The expectations here are written from the spec, not derived from our code:
which message exists at which version, which Error code replaces it, and the
wire tag of ``Error`` at each version (the §3 tables).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from actorscope.protocol import VERSIONS, convert, decode_versioned, to_json

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
# v1-v4 from rivetkit 2.2.1, v4-v6 from 2.3.19 (tests/vectors/README.md).
OLD_CONVERSIONS: list[dict[str, Any]] = json.loads((VECTORS / "conversions.json").read_text())
NEW_CONVERSIONS: list[dict[str, Any]] = json.loads(
    (VECTORS / "v5-v6" / "conversions.json").read_text()
)
FRAMES: list[dict[str, Any]] = [
    *json.loads((VECTORS / "inspector-frames.json").read_text()),
    *json.loads((VECTORS / "v5-v6" / "inspector-frames.json").read_text()),
]
CONVERSIONS = [*OLD_CONVERSIONS, *NEW_CONVERSIONS]

# The union tag of ToClient's Error at each version (PROTOCOL.md §3, §9.3).
ERROR_TAG = {1: 8, 2: 11, 3: 11, 4: 12, 5: 12, 6: 16}

# First and last version in which each message exists (PROTOCOL.md §3 tables).
TO_SERVER_SPAN = {
    "PatchStateRequest": (1, 6),
    "StateRequest": (1, 6),
    "ConnectionsRequest": (1, 6),
    "ActionRequest": (1, 6),
    "EventsRequest": (1, 1),
    "ClearEventsRequest": (1, 1),
    "RpcsListRequest": (1, 6),
    "TraceQueryRequest": (2, 6),
    "QueueRequest": (2, 6),
    "WorkflowHistoryRequest": (2, 6),
    "WorkflowReplayRequest": (4, 6),
    "DatabaseSchemaRequest": (3, 6),
    "DatabaseTableRowsRequest": (3, 6),
    "SchedulesRequest": (6, 6),
    "ScheduleHistoryRequest": (6, 6),
    "ScheduleDeleteRequest": (6, 6),
}
TO_CLIENT_SPAN = {
    "StateResponse": (1, 6),
    "ConnectionsResponse": (1, 6),
    "EventsResponse": (1, 1),
    "ActionResponse": (1, 6),
    "ConnectionsUpdated": (1, 6),
    "EventsUpdated": (1, 1),
    "QueueUpdated": (2, 6),
    "StateUpdated": (1, 6),
    "WorkflowHistoryUpdated": (2, 6),
    "RpcsListResponse": (1, 6),
    "TraceQueryResponse": (2, 6),
    "QueueResponse": (2, 6),
    "WorkflowHistoryResponse": (2, 6),
    "WorkflowReplayResponse": (4, 6),
    "Error": (1, 6),
    "Init": (1, 6),
    "DatabaseSchemaResponse": (3, 6),
    "DatabaseTableRowsResponse": (3, 6),
    "SchedulesUpdated": (6, 6),
    "SchedulesResponse": (6, 6),
    "ScheduleHistoryResponse": (6, 6),
    "ScheduleDeleteResponse": (6, 6),
}
# §5: the Error that replaces a message where it does not exist.
REQUEST_UNSUPPORTED = {
    "EventsRequest": "inspector.events_dropped",
    "ClearEventsRequest": "inspector.events_dropped",
    "TraceQueryRequest": "inspector.trace_unsupported",
    "QueueRequest": "inspector.queue_unsupported",
    "WorkflowHistoryRequest": "inspector.workflow_history_unsupported",
    "WorkflowReplayRequest": "inspector.workflow_replay_unsupported",
    "DatabaseSchemaRequest": "inspector.database_unsupported",
    "DatabaseTableRowsRequest": "inspector.database_unsupported",
    "SchedulesRequest": "inspector.schedules_unsupported",
    "ScheduleHistoryRequest": "inspector.schedules_unsupported",
    "ScheduleDeleteRequest": "inspector.schedules_unsupported",
}
RESPONSE_DROPPED = {
    "EventsResponse": "inspector.events_dropped",
    "EventsUpdated": "inspector.events_dropped",
    "QueueUpdated": "inspector.queue_dropped",
    "QueueResponse": "inspector.queue_dropped",
    "WorkflowHistoryUpdated": "inspector.workflow_history_dropped",
    "WorkflowHistoryResponse": "inspector.workflow_history_dropped",
    "TraceQueryResponse": "inspector.trace_dropped",
    "WorkflowReplayResponse": "inspector.workflow_history_dropped",
    "DatabaseSchemaResponse": "inspector.database_dropped",
    "DatabaseTableRowsResponse": "inspector.database_dropped",
    "SchedulesUpdated": "inspector.schedules_dropped",
    "SchedulesResponse": "inspector.schedules_dropped",
    "ScheduleHistoryResponse": "inspector.schedules_dropped",
    "ScheduleDeleteResponse": "inspector.schedules_dropped",
}

_TAGS = {(x["direction"], x["hex"]): x["message"]["body"]["tag"] for x in FRAMES}


def error_frame_hex(version: int, code: str) -> str:
    """A ToClient Error frame, spelled out byte by byte from the §1/§3 tables."""
    raw = code.encode()
    assert len(raw) < 128
    return f"{version:02x}00{ERROR_TAG[version]:02x}{len(raw):02x}{raw.hex()}"


def test_error_frame_helper_matches_a_reference_frame() -> None:
    # The reference's own v1->v4 EventsResponse conversion output (conversions.json).
    assert error_frame_hex(4, "inspector.events_dropped") == (
        "04000c18696e73706563746f722e6576656e74735f64726f70706564"
    )


def _conv_id(x: dict[str, Any]) -> str:
    tag = _TAGS[(x["direction"], x["input_hex"])]
    return f"{x['direction']}-{tag}-v{x['from_version']}-v{x['to_version']}-{x['input_hex'][:16]}"


@pytest.mark.parametrize("case", CONVERSIONS, ids=_conv_id)
def test_reference_conversion(case: dict[str, Any]) -> None:
    frame = bytes.fromhex(case["input_hex"])
    out = convert(case["direction"], frame, case["to_version"]).hex()
    if not case["adjacent_threw"]:
        # adjacent_output_hex, not output_hex: the latter carries vbare 0.0.4's
        # serialize-order bug (PROTOCOL.md §5).
        assert out == case["adjacent_output_hex"]
        return
    # The reference threw; we answer with the Error frame §5 names.
    tag = _TAGS[(case["direction"], case["input_hex"])]
    assert case["direction"] == "to_server"
    assert out == error_frame_hex(case["to_version"], REQUEST_UNSUPPORTED[tag])


def test_reference_threw_only_for_requests_we_answer_with_errors() -> None:
    threw = {
        (_TAGS[(x["direction"], x["input_hex"])], x["to_version"])
        for x in CONVERSIONS
        if x["adjacent_threw"]
    }
    assert {tag for tag, _ in threw} == {
        "EventsRequest",
        "ClearEventsRequest",
        "TraceQueryRequest",
        "QueueRequest",
        "WorkflowHistoryRequest",
        "WorkflowReplayRequest",
        "DatabaseSchemaRequest",
        "DatabaseTableRowsRequest",
        "SchedulesRequest",
        "ScheduleHistoryRequest",
        "ScheduleDeleteRequest",
    }


def test_vbare_order_bug_records_differ_from_the_reference_and_we_match_adjacent() -> None:
    # PROTOCOL.md §9.6: TypeScript vbare 0.0.4 serializes to v5/v4 with the
    # wrong converter steps. Those records carry both answers; ours is the
    # adjacent-step one (test_reference_conversion). Every other record is
    # the reference's own output, so there we match RivetKit itself.
    bugs = [x for x in NEW_CONVERSIONS if x["vbare_order_bug"]]
    assert bugs, "the 2.3.19 vectors record the ordering bug"
    for x in NEW_CONVERSIONS:
        same = (x["output_hex"], x["reference_threw"]) == (
            x["adjacent_output_hex"],
            x["adjacent_threw"],
        )
        assert same != x["vbare_order_bug"], x
        if not x["vbare_order_bug"] and not x["reference_threw"]:
            frame = bytes.fromhex(x["input_hex"])
            assert convert(x["direction"], frame, x["to_version"]).hex() == x["output_hex"]


# -- every (message type, from-version, to-version) through the chain ---------------


def _samples() -> list[tuple[str, str, int, dict[str, Any], str]]:
    """One vector per (direction, version, message type)."""
    out: dict[tuple[str, int, str], dict[str, Any]] = {}
    for x in FRAMES:
        out.setdefault((x["direction"], x["version"], x["message"]["body"]["tag"]), x)
    return [(d, tag, v, x["message"], x["hex"]) for (d, v, tag), x in sorted(out.items())]


def _chain_cases() -> list[tuple[str, str, int, int, dict[str, Any], str]]:
    cases = []
    for direction, tag, version, message, hexframe in _samples():
        for to in VERSIONS:
            if to != version:
                cases.append((direction, tag, version, to, message, hexframe))
    return cases


def _init_at(val: dict[str, Any], version: int) -> dict[str, Any]:
    """§5, §9.5: Init at ``version`` (v1 events empty; fields a version lacks
    dropped; fields it adds defaulted: tabConfig and schedules empty)."""
    common = {k: val[k] for k in ("connections", "state", "isStateEnabled", "rpcs")}
    if version == 1:
        return {
            "connections": common["connections"],
            "events": [],
            "state": common["state"],
            "isStateEnabled": common["isStateEnabled"],
            "rpcs": common["rpcs"],
            "isDatabaseEnabled": val["isDatabaseEnabled"],
        }
    out = {
        **common,
        "isDatabaseEnabled": val["isDatabaseEnabled"],
        "queueSize": val.get("queueSize", 0),
        "workflowHistory": val.get("workflowHistory"),
        "isWorkflowEnabled": val.get("isWorkflowEnabled", False),
    }
    if version >= 5:
        out["tabConfig"] = val.get("tabConfig", [])
    if version >= 6:
        out["schedules"] = val.get("schedules", [])
    return out


def expected_after(direction: str, tag: str, frm: int, to: int, message: dict[str, Any]) -> Any:
    """What §5 says ``message`` becomes at ``to``: (direction, JSON message)."""
    span = (TO_SERVER_SPAN if direction == "to_server" else TO_CLIENT_SPAN)[tag]
    lo, hi = span
    if lo <= to <= hi:
        val = message["body"]["val"]
        if tag == "Init":
            val = _init_at(val, to)
        return direction, {"body": {"tag": tag, "val": val}}
    table = REQUEST_UNSUPPORTED if direction == "to_server" else RESPONSE_DROPPED
    return "to_client", {"body": {"tag": "Error", "val": {"message": table[tag]}}}


def _chain_id(case: tuple[str, str, int, int, dict[str, Any], str]) -> str:
    direction, tag, frm, to, _, _ = case
    return f"{direction}-{tag}-v{frm}-v{to}"


@pytest.mark.parametrize("case", _chain_cases(), ids=_chain_id)
def test_chain_pair(case: tuple[str, str, int, int, dict[str, Any], str]) -> None:
    direction, tag, frm, to, message, hexframe = case
    out = convert(direction, bytes.fromhex(hexframe), to)
    out_direction, expected = expected_after(direction, tag, frm, to, message)
    version, msg = decode_versioned(out_direction, out)
    assert version == to
    assert to_json(msg) == expected
    if out_direction != direction:
        code = expected["body"]["val"]["message"]
        assert out.hex() == error_frame_hex(to, code)


def test_chain_table_covers_every_message_of_every_version() -> None:
    covered = {(c[0], c[1], c[2]) for c in _chain_cases()}
    for direction, spans in (("to_server", TO_SERVER_SPAN), ("to_client", TO_CLIENT_SPAN)):
        for tag, (lo, hi) in spans.items():
            for v in range(lo, hi + 1):
                assert (direction, tag, v) in covered, (direction, tag, v)


def test_converting_to_the_same_version_reencodes_unchanged() -> None:
    for direction, _, version, _, hexframe in _samples():
        assert convert(direction, bytes.fromhex(hexframe), version).hex() == hexframe
