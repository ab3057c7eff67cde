"""Conversion between :class:`HistorySnapshot` and the §4 transport shape.

ARCHITECTURE.md: ``to_transport()`` returns PROTOCOL.md §4's
``WorkflowHistory`` in the JSON form of ``tests/vectors/`` (camelCase
fields, unions as ``{"tag", "val"}``, enums by name, absent optionals
``None``) **with ``data`` fields as raw bytes**, so the server builds the wire
model with ``protocol.jsonform.from_json(WorkflowHistory, t, data=lambda b: b)``
without the engine importing ``protocol/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .model import (
    BranchState,
    BranchStatus,
    Entry,
    EntryKind,
    EntryMetadata,
    EntryStatus,
    JoinKind,
    Location,
    LoopKind,
    LoopMarker,
    MessageKind,
    RaceKind,
    RemovedKind,
    RollbackCheckpointKind,
    Segment,
    SleepKind,
    SleepState,
    StepKind,
    VersionCheckKind,
)
from .snapshot import HistorySnapshot

__all__ = ["snapshot_from_transport", "snapshot_to_transport"]


def _location_out(location: Location) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for seg in location:
        if isinstance(seg, LoopMarker):
            val = {"loop": seg.loop, "iteration": seg.iteration}
            out.append({"tag": "WorkflowLoopIterationMarker", "val": val})
        else:
            out.append({"tag": "WorkflowNameIndex", "val": seg})
    return out


def _location_in(raw: list[Mapping[str, Any]]) -> Location:
    segs: list[Segment] = []
    for seg in raw:
        if seg["tag"] == "WorkflowLoopIterationMarker":
            segs.append(LoopMarker(int(seg["val"]["loop"]), int(seg["val"]["iteration"])))
        elif seg["tag"] == "WorkflowNameIndex":
            segs.append(int(seg["val"]))
        else:
            raise ValueError(f"unknown location segment tag {seg['tag']!r}")
    return tuple(segs)


def _branches_out(branches: dict[str, BranchStatus]) -> dict[str, Any]:
    return {
        name: {"status": b.status.value, "output": b.output, "error": b.error}
        for name, b in branches.items()
    }


def _branches_in(raw: Mapping[str, Mapping[str, Any]]) -> dict[str, BranchStatus]:
    return {
        name: BranchStatus(BranchState(b["status"]), b["output"], b["error"])
        for name, b in raw.items()
    }


def _kind_out(kind: EntryKind) -> dict[str, Any]:
    match kind:
        case StepKind(output=output, error=error):
            return {"tag": "WorkflowStepEntry", "val": {"output": output, "error": error}}
        case LoopKind(state=state, iteration=iteration, output=output):
            val = {"state": state, "iteration": iteration, "output": output}
            return {"tag": "WorkflowLoopEntry", "val": val}
        case SleepKind(deadline=deadline, state=state):
            val = {"deadline": deadline, "state": state.value}
            return {"tag": "WorkflowSleepEntry", "val": val}
        case MessageKind(name=name, message_data=data):
            return {"tag": "WorkflowMessageEntry", "val": {"name": name, "messageData": data}}
        case RollbackCheckpointKind(name=name):
            return {"tag": "WorkflowRollbackCheckpointEntry", "val": {"name": name}}
        case JoinKind(branches=branches):
            return {"tag": "WorkflowJoinEntry", "val": {"branches": _branches_out(branches)}}
        case RaceKind(winner=winner, branches=branches):
            val = {"winner": winner, "branches": _branches_out(branches)}
            return {"tag": "WorkflowRaceEntry", "val": val}
        case RemovedKind(original_type=original_type, original_name=original_name):
            val = {"originalType": original_type, "originalName": original_name}
            return {"tag": "WorkflowRemovedEntry", "val": val}
        case VersionCheckKind(resolved=resolved, latest=latest):
            val = {"resolved": resolved, "latest": latest}
            return {"tag": "WorkflowVersionCheckEntry", "val": val}
    raise TypeError(f"not an entry kind: {kind!r}")


def _kind_in(raw: Mapping[str, Any]) -> EntryKind:
    val = raw["val"]
    match raw["tag"]:
        case "WorkflowStepEntry":
            return StepKind(val["output"], val["error"])
        case "WorkflowLoopEntry":
            return LoopKind(val["state"], int(val["iteration"]), val["output"])
        case "WorkflowSleepEntry":
            return SleepKind(int(val["deadline"]), SleepState(val["state"]))
        case "WorkflowMessageEntry":
            return MessageKind(val["name"], val["messageData"])
        case "WorkflowRollbackCheckpointEntry":
            return RollbackCheckpointKind(val["name"])
        case "WorkflowJoinEntry":
            return JoinKind(_branches_in(val["branches"]))
        case "WorkflowRaceEntry":
            return RaceKind(val["winner"], _branches_in(val["branches"]))
        case "WorkflowRemovedEntry":
            return RemovedKind(val["originalType"], val["originalName"])
        case "WorkflowVersionCheckEntry":
            return VersionCheckKind(int(val["resolved"]), int(val["latest"]))
    raise ValueError(f"unknown entry kind tag {raw['tag']!r}")


def _meta_out(meta: EntryMetadata) -> dict[str, Any]:
    return {
        "status": meta.status.value,
        "error": meta.error,
        "attempts": meta.attempts,
        "lastAttemptAt": meta.last_attempt_at,
        "createdAt": meta.created_at,
        "completedAt": meta.completed_at,
        "rollbackCompletedAt": meta.rollback_completed_at,
        "rollbackError": meta.rollback_error,
    }


def _meta_in(raw: Mapping[str, Any]) -> EntryMetadata:
    return EntryMetadata(
        status=EntryStatus(raw["status"]),
        error=raw["error"],
        attempts=int(raw["attempts"]),
        last_attempt_at=int(raw["lastAttemptAt"]),
        created_at=int(raw["createdAt"]),
        completed_at=raw["completedAt"],
        rollback_completed_at=raw["rollbackCompletedAt"],
        rollback_error=raw["rollbackError"],
    )


def snapshot_to_transport(snapshot: HistorySnapshot) -> dict[str, Any]:
    """See :meth:`HistorySnapshot.to_transport`."""
    return {
        "nameRegistry": list(snapshot.name_registry),
        "entries": [
            {"id": e.id, "location": _location_out(e.location), "kind": _kind_out(e.kind)}
            for e in snapshot.entries
        ],
        "entryMetadata": {
            entry_id: _meta_out(meta) for entry_id, meta in snapshot.entry_metadata.items()
        },
    }


def snapshot_from_transport(obj: Mapping[str, Any]) -> HistorySnapshot:
    """See :meth:`HistorySnapshot.from_transport`."""
    entries = [
        Entry(raw["id"], _location_in(raw["location"]), _kind_in(raw["kind"]), seq)
        for seq, raw in enumerate(obj["entries"])
    ]
    metadata = {entry_id: _meta_in(raw) for entry_id, raw in obj["entryMetadata"].items()}
    return HistorySnapshot(list(obj["nameRegistry"]), entries, metadata)
