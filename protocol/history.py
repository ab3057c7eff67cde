"""The workflow history transport payload (PROTOCOL.md §4) and its codec.

A ``WorkflowHistory`` travels, BARE-encoded with no version prefix, in the
``history`` data fields (``WorkflowHistoryUpdated``, ``WorkflowHistoryResponse``,
``WorkflowReplayResponse``, ``Init.workflow_history``). ``schemas/
workflow-history-v1.bare`` is the source of truth for the classes below.

A path segment is either a name index (a plain ``int``, the wire type
``WorkflowNameIndex``) or a :class:`WorkflowLoopIterationMarker`. User values
(``output``, ``state``, ``message_data``) are value-codec bytes (§7).
"""

from __future__ import annotations

import enum
from typing import TypeAlias

import attrs

from .codec import Codec
from .modelcheck import collect_bindings
from .schema import load_schema

__all__ = [
    "CODEC",
    "SCHEMA",
    "WorkflowBranchStatus",
    "WorkflowBranchStatusType",
    "WorkflowEntry",
    "WorkflowEntryKind",
    "WorkflowEntryMetadata",
    "WorkflowEntryStatus",
    "WorkflowHistory",
    "WorkflowJoinEntry",
    "WorkflowLoopEntry",
    "WorkflowLoopIterationMarker",
    "WorkflowMessageEntry",
    "WorkflowNameIndex",
    "WorkflowPathSegment",
    "WorkflowRaceEntry",
    "WorkflowRemovedEntry",
    "WorkflowRollbackCheckpointEntry",
    "WorkflowSleepEntry",
    "WorkflowSleepState",
    "WorkflowStepEntry",
    "decode_history",
    "encode_history",
]

SCHEMA = load_schema("workflow-history-v1.bare", "workflow-history-v1")


class WorkflowEntryStatus(enum.Enum):
    PENDING = 0
    RUNNING = 1
    COMPLETED = 2
    FAILED = 3
    EXHAUSTED = 4


class WorkflowSleepState(enum.Enum):
    PENDING = 0
    COMPLETED = 1
    INTERRUPTED = 2


class WorkflowBranchStatusType(enum.Enum):
    PENDING = 0
    RUNNING = 1
    COMPLETED = 2
    FAILED = 3
    CANCELLED = 4


# An index into WorkflowHistory.name_registry (wire type u32).
WorkflowNameIndex: TypeAlias = int


@attrs.frozen
class WorkflowLoopIterationMarker:
    loop: int
    iteration: int


WorkflowPathSegment: TypeAlias = WorkflowNameIndex | WorkflowLoopIterationMarker


@attrs.frozen
class WorkflowBranchStatus:
    status: WorkflowBranchStatusType
    output: bytes | None
    error: str | None


@attrs.frozen
class WorkflowStepEntry:
    output: bytes | None
    error: str | None


@attrs.frozen
class WorkflowLoopEntry:
    state: bytes
    iteration: int
    output: bytes | None


@attrs.frozen
class WorkflowSleepEntry:
    deadline: int  # ms since the Unix epoch
    state: WorkflowSleepState


@attrs.frozen
class WorkflowMessageEntry:
    name: str
    message_data: bytes


@attrs.frozen
class WorkflowRollbackCheckpointEntry:
    name: str


@attrs.frozen
class WorkflowJoinEntry:
    branches: dict[str, WorkflowBranchStatus]


@attrs.frozen
class WorkflowRaceEntry:
    winner: str | None
    branches: dict[str, WorkflowBranchStatus]


@attrs.frozen
class WorkflowRemovedEntry:
    original_type: str
    original_name: str | None


WorkflowEntryKind: TypeAlias = (
    WorkflowStepEntry
    | WorkflowLoopEntry
    | WorkflowSleepEntry
    | WorkflowMessageEntry
    | WorkflowRollbackCheckpointEntry
    | WorkflowJoinEntry
    | WorkflowRaceEntry
    | WorkflowRemovedEntry
)


@attrs.frozen
class WorkflowEntry:
    id: str
    location: list[WorkflowPathSegment]
    kind: WorkflowEntryKind


@attrs.frozen
class WorkflowEntryMetadata:
    status: WorkflowEntryStatus
    error: str | None
    attempts: int
    last_attempt_at: int
    created_at: int
    completed_at: int | None
    rollback_completed_at: int | None
    rollback_error: str | None


@attrs.frozen
class WorkflowHistory:
    name_registry: list[str]
    entries: list[WorkflowEntry]
    entry_metadata: dict[str, WorkflowEntryMetadata]


CODEC = Codec(SCHEMA, collect_bindings(SCHEMA, globals()))

_decode = CODEC.decoders["WorkflowHistory"]
_encode = CODEC.encoders["WorkflowHistory"]


def decode_history(payload: bytes | bytearray | memoryview) -> WorkflowHistory:
    """Decode a history payload (no version prefix).

    Raises:
        DecodeError: the bytes are not exactly one ``WorkflowHistory``.
    """
    result: WorkflowHistory = _decode(bytes(payload), 0)
    return result


def encode_history(history: WorkflowHistory) -> bytes:
    """Encode ``history`` as a payload (no version prefix).

    Raises:
        EncodeError: a field holds a value its schema type cannot carry.
    """
    w = bytearray()
    _encode(history, w)
    return bytes(w)
