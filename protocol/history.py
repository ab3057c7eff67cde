"""The workflow history transport payload (PROTOCOL.md §4) and its codec.

A ``WorkflowHistory`` travels, BARE-encoded with no version prefix, in the
``history`` data fields (``WorkflowHistoryUpdated``, ``WorkflowHistoryResponse``,
``WorkflowReplayResponse``, ``Init.workflow_history``). ``schemas/
workflow-history-v1.bare`` is the source of truth for the classes below.

A path segment is either a name index (a plain ``int``, the wire type
``WorkflowNameIndex``) or a :class:`WorkflowLoopIterationMarker`. User values
(``output``, ``state``, ``message_data``) are value-codec bytes (§7).

The transport schema kept its name when RivetKit 2.3 appended
``WorkflowVersionCheckEntry`` (tag 8, §9.4); decoders built before that
reject it, so :func:`without_version_checks` gives the history an older peer
can read (§9.8).
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
    "WorkflowVersionCheckEntry",
    "decode_history",
    "encode_history",
    "has_version_checks",
    "without_version_checks",
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


@attrs.frozen
class WorkflowVersionCheckEntry:
    """What ``ctx.version(name, latest)`` resolved (tag 8, PROTOCOL.md §9.4)."""

    resolved: int
    latest: int


WorkflowEntryKind: TypeAlias = (
    WorkflowStepEntry
    | WorkflowLoopEntry
    | WorkflowSleepEntry
    | WorkflowMessageEntry
    | WorkflowRollbackCheckpointEntry
    | WorkflowJoinEntry
    | WorkflowRaceEntry
    | WorkflowRemovedEntry
    | WorkflowVersionCheckEntry
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


def has_version_checks(history: WorkflowHistory) -> bool:
    """Whether any entry of ``history`` is a ``WorkflowVersionCheckEntry``."""
    return any(type(e.kind) is WorkflowVersionCheckEntry for e in history.entries)


def without_version_checks(payload: bytes) -> bytes:
    """``payload`` minus its version-check entries and their metadata (§9.8).

    Returns ``payload`` itself when it has none, so the common case costs one
    decode. The name registry is kept whole: entries left refer to it by
    index, and an unused name is harmless.

    Raises:
        DecodeError: ``payload`` is not a history.
    """
    history = decode_history(payload)
    drop = {e.id for e in history.entries if type(e.kind) is WorkflowVersionCheckEntry}
    if not drop:
        return payload
    return encode_history(
        WorkflowHistory(
            name_registry=history.name_registry,
            entries=[e for e in history.entries if e.id not in drop],
            entry_metadata={k: v for k, v in history.entry_metadata.items() if k not in drop},
        )
    )
