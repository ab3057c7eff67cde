"""The history data model: entries, their kinds, metadata and statuses.

These mirror PROTOCOL.md §4 one to one (the kind classes are the
``WorkflowEntryKind`` union members in declaration order) so that
:mod:`.transport` is a mechanical mapping. User values inside kinds
(``output``, ``state``, ``message_data``) are MessagePack bytes; the engine
decodes them only where the workflow code asks for them.

Everything here is immutable: the executor replaces an entry or its metadata
(``_replace``) instead of mutating it, so a :class:`~.snapshot.HistorySnapshot` can share
them with the live history without copying.
"""

from __future__ import annotations

import enum
from typing import NamedTuple, TypeAlias

import attrs

__all__ = [
    "KIND_NAMES",
    "BranchState",
    "BranchStatus",
    "Entry",
    "EntryKind",
    "EntryMetadata",
    "EntryStatus",
    "JoinKind",
    "Location",
    "LoopKind",
    "LoopMarker",
    "MessageKind",
    "RaceKind",
    "RemovedKind",
    "RollbackCheckpointKind",
    "Segment",
    "SleepKind",
    "SleepState",
    "StepKind",
    "VersionCheckKind",
    "WorkflowRecord",
    "WorkflowState",
    "kind_name",
]


class EntryStatus(enum.StrEnum):
    """``WorkflowEntryStatus`` (§4), in wire order."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    EXHAUSTED = "EXHAUSTED"


class SleepState(enum.StrEnum):
    """``WorkflowSleepState`` (§4), in wire order."""

    PENDING = "PENDING"
    COMPLETED = "COMPLETED"
    INTERRUPTED = "INTERRUPTED"


class BranchState(enum.StrEnum):
    """``WorkflowBranchStatusType`` (§4), in wire order."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class WorkflowState(enum.StrEnum):
    """The workflow-level state (ENGINE.md "Entries and where they live").

    Values are lowercase so ``RunResult.state == "completed"`` reads naturally.
    """

    PENDING = "pending"
    RUNNING = "running"
    SLEEPING = "sleeping"
    FAILED = "failed"
    COMPLETED = "completed"
    ROLLING_BACK = "rolling_back"
    CANCELLED = "cancelled"


class LoopMarker(NamedTuple):
    """A loop-iteration segment: ``loop`` is the loop's name index."""

    loop: int
    iteration: int


# A location segment is a name index (int) or a loop-iteration marker.
Segment: TypeAlias = int | LoopMarker
Location: TypeAlias = tuple[Segment, ...]


@attrs.frozen
class StepKind:
    output: bytes | None = None
    error: str | None = None


@attrs.frozen
class LoopKind:
    state: bytes
    iteration: int = 0
    output: bytes | None = None


@attrs.frozen
class SleepKind:
    deadline: int
    state: SleepState = SleepState.PENDING


@attrs.frozen
class MessageKind:
    name: str
    message_data: bytes = b""


@attrs.frozen
class RollbackCheckpointKind:
    name: str


@attrs.frozen
class BranchStatus:
    status: BranchState = BranchState.PENDING
    output: bytes | None = None
    error: str | None = None


@attrs.frozen
class JoinKind:
    branches: dict[str, BranchStatus]


@attrs.frozen
class RaceKind:
    winner: str | None
    branches: dict[str, BranchStatus]


@attrs.frozen
class RemovedKind:
    original_type: str
    original_name: str | None = None


@attrs.frozen
class VersionCheckKind:
    """What ``ctx.version(name, latest=...)`` recorded: the version this run takes.

    ``resolved`` is ``latest`` for a run that reached the check fresh, 1 for
    a run that had already gone past that point under older code
    (docs/PROTOCOL.md §9.4). A version check is matched by its location, not
    by its position among its siblings (see ``context.py``), and a replay
    keeps it.
    """

    resolved: int
    latest: int


EntryKind: TypeAlias = (
    StepKind
    | LoopKind
    | SleepKind
    | MessageKind
    | RollbackCheckpointKind
    | JoinKind
    | RaceKind
    | RemovedKind
    | VersionCheckKind
)

# Short names used in messages, in ``RemovedKind.original_type`` and by
# ``ctx.removed(name, original_kind)``; index = §4 union tag.
KIND_NAMES: tuple[str, ...] = (
    "step",
    "loop",
    "sleep",
    "message",
    "rollback_checkpoint",
    "join",
    "race",
    "removed",
    "version_check",
)
_KIND_CLASSES: tuple[type, ...] = (
    StepKind,
    LoopKind,
    SleepKind,
    MessageKind,
    RollbackCheckpointKind,
    JoinKind,
    RaceKind,
    RemovedKind,
    VersionCheckKind,
)
_KIND_NAME_OF: dict[type, str] = dict(zip(_KIND_CLASSES, KIND_NAMES, strict=True))


def kind_name(kind: EntryKind) -> str:
    """``"step"``, ``"loop"``, … for a kind instance."""
    return _KIND_NAME_OF[type(kind)]


# Entry and EntryMetadata are NamedTuples rather than attrs classes: a
# history load builds one of each per entry, and tuples are the cheapest
# immutable records Python has. Update with ``_replace``.


class Entry(NamedTuple):
    """One history entry.

    ``seq`` is the creation sequence number: a per-workflow counter that only
    grows (ENGINE.md replay rule 4 orders by it, never by timestamps).
    """

    id: str
    location: Location
    kind: EntryKind
    seq: int


class EntryMetadata(NamedTuple):
    """``WorkflowEntryMetadata`` (§4); timestamps are epoch milliseconds."""

    status: EntryStatus = EntryStatus.PENDING
    error: str | None = None
    attempts: int = 0
    last_attempt_at: int = 0
    created_at: int = 0
    completed_at: int | None = None
    rollback_completed_at: int | None = None
    rollback_error: str | None = None


@attrs.frozen
class WorkflowRecord:
    """The workflow-level record: state, output/error and the persisted wake time.

    ``wake_at`` mirrors the driver alarm but is written in the same batch as
    the history (the driver's alarm calls are not part of a batch), so it is
    the source of truth after a crash.
    """

    state: WorkflowState = WorkflowState.PENDING
    output: bytes | None = None
    error: str | None = None
    wake_at: int | None = None
