"""How actors are declared: ``ActorDefinition``, the context actions receive, the registry.

An actor type is plain Python: a name, an initial state (or ``None`` when the
actor keeps no state), actions (sync or async callables taking an
:class:`ActorContext` and the caller's arguments), optionally a workflow run
through the engine (``async def wf(wctx, actor)``) and optionally a database
setup function that creates the tables of the actor's own SQLite file.
Instances of a definition are created by (name, key) in ``directory.py``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

import attrs
from actorscope.engine.checkpoints import DEFAULT_KEEP_CHECKPOINTS

if TYPE_CHECKING:
    from actorscope.engine import WorkflowContext

    from .schedules import ScheduleApi

__all__ = [
    "Action",
    "ActorContext",
    "ActorDefinition",
    "DatabaseSetup",
    "Registry",
    "Workflow",
]


class ActorContext(Protocol):
    """What an action or a workflow step sees of its actor.

    ``state`` is the live state value: mutate it in place or assign a new
    one. After each action and each workflow history write the server saves
    it (and pushes ``StateUpdated``) if its encoding changed; a step that
    wants its change on disk before the step is recorded awaits
    :meth:`save_state` itself.
    """

    @property
    def actor_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def key(self) -> str: ...

    @property
    def state(self) -> Any: ...
    @state.setter
    def state(self, value: Any) -> None: ...

    async def save_state(self) -> None:
        """Persist the state now and push ``StateUpdated`` if it changed."""

    def broadcast(self, event: str, *args: Any) -> None:
        """Send ``{"type": "event", "name": event, "args": [...]}`` to every client."""

    @property
    def db(self) -> sqlite3.Connection:
        """The actor's own SQLite database (raises when it has none)."""

    @property
    def schedule(self) -> ScheduleApi:
        """Run this actor's actions later: ``at``, ``after``, ``every``, ``cron``, ``cancel``."""


#: An action: ``fn(ctx, *args)``, returning a msgpack-able value (or awaitable of one).
Action = Callable[..., Any]
#: A workflow run handler: ``async def wf(wctx, actor) -> output``.
Workflow = Callable[["WorkflowContext", ActorContext], Awaitable[Any]]
#: Creates the tables of a new actor database (runs once, on the first open).
DatabaseSetup = Callable[[sqlite3.Connection], None]


def _actions(value: dict[str, Action] | None) -> dict[str, Action]:
    return dict(value or {})


def _checkpoints(value: bool | int | None) -> int:
    """``state_checkpoints``: how many checkpoints to keep (0: none)."""
    if value is None or value is False or value == 0:
        return 0
    if value is True:
        return DEFAULT_KEEP_CHECKPOINTS
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"state_checkpoints must be a bool or a positive int, got {value!r}")
    return value


@attrs.frozen
class ActorDefinition:
    """One actor type.

    Attributes:
        name: the type name instances are created under (``PUT /actors``).
        initial_state: the state a new instance starts with (copied per
            instance); ``None`` means the actor has no state.
        actions: action name → callable ``fn(ctx, *args)``.
        workflow: the run handler, a durable workflow (ENGINE.md).
        database: creates the schema of the actor's own SQLite database.
        state_checkpoints: keep the state as it was when each workflow step
            finished, so a replay can restore it (``restoreState``): ``True``
            keeps the last 100 checkpoints (plus the initial state), an
            ``int`` that many, ``False`` (the default) none. Needs a state
            and a workflow. Each checkpoint costs one stored copy of the
            encoded state, written in the step's own batch, and only when
            the step changed the state.
    """

    name: str
    initial_state: Any = None
    actions: dict[str, Action] = attrs.field(factory=dict, converter=_actions)
    workflow: Workflow | None = None
    database: DatabaseSetup | None = None
    state_checkpoints: int = attrs.field(default=0, converter=_checkpoints, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if self.state_checkpoints and (self.workflow is None or self.initial_state is None):
            raise ValueError(
                f"actor definition {self.name!r}: state_checkpoints needs a state "
                "(initial_state) and a workflow"
            )

    @property
    def is_state_enabled(self) -> bool:
        return self.initial_state is not None


class Registry:
    """Actor definitions by name."""

    def __init__(self, definitions: Iterable[ActorDefinition] = ()) -> None:
        self._definitions: dict[str, ActorDefinition] = {}
        for definition in definitions:
            self.add(definition)

    def add(self, definition: ActorDefinition) -> None:
        """Register ``definition``; a name can be registered once."""
        if definition.name in self._definitions:
            raise ValueError(f"actor definition {definition.name!r} is already registered")
        self._definitions[definition.name] = definition

    def get(self, name: str) -> ActorDefinition | None:
        return self._definitions.get(name)

    def names(self) -> list[str]:
        return sorted(self._definitions)

    def __iter__(self) -> Iterator[ActorDefinition]:
        return iter(self._definitions.values())

    def __len__(self) -> int:
        return len(self._definitions)
