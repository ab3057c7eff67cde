"""Exceptions raised by the workflow engine.

Hierarchy::

    EngineError                   root of everything the engine raises on purpose
    ├── HistoryDivergedError      the code asked for something else than the history
    │                             recorded at a location (ENGINE.md "Determinism")
    ├── DuplicateNameError        a name was used twice under the same parent location
    ├── StepNotFound              replay / path lookup named no entry (ENGINE.md replay rule 2)
    ├── ReplayTargetNotStep       replay named an entry that is not a Step (rule 2)
    ├── ReplayInFlight            replay refused: a step runs right now (rule 5)
    ├── StepExhausted             a step failed on its last allowed attempt
    ├── WorkflowBusy              another run of the same workflow is active in this process
    ├── AttemptNotFound           no archived replay attempt has that number
    ├── StateCheckpointsDisabled  a replay asked to restore state; the workflow keeps no
    │                             state checkpoints
    └── StateCheckpointUnavailable  the checkpoint a restore needs is no longer kept

Messages are short lowercase phrases that name the step or location.
"""

from __future__ import annotations

__all__ = [
    "AttemptNotFound",
    "DuplicateNameError",
    "EngineError",
    "HistoryDivergedError",
    "ReplayInFlight",
    "ReplayTargetNotStep",
    "StateCheckpointUnavailable",
    "StateCheckpointsDisabled",
    "StepExhausted",
    "StepNotFound",
    "WorkflowBusy",
]


class EngineError(Exception):
    """Root of the engine's exceptions."""


class HistoryDivergedError(EngineError):
    """The workflow code reached a location whose recorded entry differs.

    Attributes:
        location: the path of the location (``items/~1/reserve-1``).
        recorded: what the history holds there (``"step 'charge'"``).
        requested: what the code asked for (``"loop 'charge'"``).
    """

    def __init__(self, location: str, recorded: str, requested: str) -> None:
        super().__init__(
            f"history diverged at {location!r}: recorded {recorded}, code asked for {requested}"
        )
        self.location = location
        self.recorded = recorded
        self.requested = requested


class DuplicateNameError(EngineError):
    """A name was reused under the same parent location (ENGINE.md "Entries")."""

    def __init__(self, location: str) -> None:
        super().__init__(f"name already used at this location: {location!r}")
        self.location = location


class StepNotFound(EngineError):
    """No entry has the given id (or path).

    Attributes:
        entry_id: the id or path that was asked for.
        closest: the closest existing paths, when a path was asked for.
    """

    def __init__(self, entry_id: str, closest: tuple[str, ...] = ()) -> None:
        hint = f"; closest: {', '.join(closest)}" if closest else ""
        super().__init__(f"no workflow entry {entry_id!r}{hint}")
        self.entry_id = entry_id
        self.closest = closest


class ReplayTargetNotStep(EngineError):
    """The replay target exists but is not a Step entry."""

    def __init__(self, entry_id: str, kind: str, location: str) -> None:
        super().__init__(f"replay target {entry_id!r} at {location!r} is a {kind}, not a step")
        self.entry_id = entry_id
        self.kind = kind
        self.location = location


class ReplayInFlight(EngineError):
    """Replay refused because a step is running (ENGINE.md replay rule 5)."""

    def __init__(self, location: str, why: str, *, what: str = "step") -> None:
        super().__init__(f"cannot replay while {what} {location!r} {why}")
        self.location = location


class StepExhausted(EngineError):
    """A step failed and has no retries left.

    Attributes:
        location: the step's path.
        attempts: how many attempts were made.
        error: the last attempt's error message.
    """

    def __init__(self, location: str, attempts: int, error: str) -> None:
        super().__init__(f"step {location!r} exhausted after {attempts} attempt(s): {error}")
        self.location = location
        self.attempts = attempts
        self.error = error


class WorkflowBusy(EngineError):
    """A second run of a workflow was started while one is active."""

    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"workflow {workflow_id!r} is already running in this process")
        self.workflow_id = workflow_id


class AttemptNotFound(EngineError):
    """No archived replay attempt has that number."""

    def __init__(self, number: int) -> None:
        super().__init__(f"no archived attempt {number}")
        self.number = number


class StateCheckpointsDisabled(EngineError):
    """A replay asked to restore the state of a workflow that keeps no state checkpoints."""

    def __init__(self, workflow_id: str) -> None:
        super().__init__(
            f"workflow {workflow_id!r} keeps no state checkpoints: its state cannot be restored"
        )
        self.workflow_id = workflow_id


class StateCheckpointUnavailable(EngineError):
    """The state checkpoint a restore needs is not kept (evicted, or its capture failed)."""

    def __init__(self, location: str, why: str) -> None:
        super().__init__(f"no state checkpoint to restore before {location!r}: {why}")
        self.location = location
