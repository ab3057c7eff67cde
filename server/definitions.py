"""How actors are declared: ``Actor``, the context actions receive, the registry.

An actor type is plain Python: a name, an initial state (or ``None`` when the
actor keeps no state), actions (sync or async callables taking an
:class:`ActorContext` and the caller's arguments), optionally a workflow run
through the engine (``async def wf(wctx, actor)``) and optionally a database
setup function that creates the tables of the actor's own SQLite file.

Users declare one with :class:`Actor` (keywords, decorators, or both);
the server runs the frozen :class:`ActorDefinition` an ``Actor`` turns into.
Instances of a definition are created by (name, key) in ``directory.py``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload

import attrs

from actorscope.engine.checkpoints import DEFAULT_KEEP_CHECKPOINTS

if TYPE_CHECKING:
    from actorscope.engine import WorkflowContext

    from .schedule_api import ScheduleApi

__all__ = [
    "Action",
    "Actor",
    "ActorContext",
    "ActorDefinition",
    "DatabaseSetup",
    "Registry",
    "Workflow",
    "parse_create",
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

_A = TypeVar("_A", bound=Action)
_W = TypeVar("_W", bound=Workflow)
_D = TypeVar("_D", bound=DatabaseSetup)


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


class Actor:
    """An actor type, declared with keywords, decorators, or both::

        counter = Actor("counter", state={"count": 0})

        @counter.action
        def increment(ctx: ActorContext, n: int = 1) -> int:
            ctx.state["count"] += n
            return ctx.state["count"]

    ``state`` is the initial state, copied for every new instance (``None``:
    the actor keeps no state). ``@actor.action`` registers an action under
    its function name, ``@actor.action("other-name")`` under another;
    ``@actor.workflow`` sets the run handler ``async def wf(wctx, actor)``;
    ``@actor.database`` sets the function that creates the tables of the
    actor's own SQLite database. Each decorator returns the function as it was.
    ``state_checkpoints=True`` (or a number to keep) keeps the state as each
    workflow step left it, so a replay can restore it (see
    :class:`ActorDefinition`).
    """

    def __init__(
        self,
        name: str,
        *,
        state: Any = None,
        actions: Mapping[str, Action] | None = None,
        workflow: Workflow | None = None,
        database: DatabaseSetup | None = None,
        state_checkpoints: bool | int = False,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("an actor's name must be a non-empty string")
        self.name = name
        self.state = state
        self.actions: dict[str, Action] = dict(actions or {})
        self.state_checkpoints = state_checkpoints
        self._workflow = workflow
        self._database = database

    @overload
    def action(self, fn: _A, /) -> _A: ...
    @overload
    def action(self, name: str, /) -> Callable[[_A], _A]: ...

    def action(self, fn_or_name: _A | str, /) -> _A | Callable[[_A], _A]:
        """Register an action (decorator), under its function name or the name given."""
        if isinstance(fn_or_name, str):
            name = fn_or_name

            def register(fn: _A) -> _A:
                self.actions[name] = fn
                return fn

            return register
        self.actions[fn_or_name.__name__] = fn_or_name
        return fn_or_name

    def workflow(self, fn: _W) -> _W:
        """Set the actor's workflow (decorator): ``async def wf(wctx, actor)``."""
        self._workflow = fn
        return fn

    def database(self, fn: _D) -> _D:
        """Set the function that creates the actor database's tables (decorator)."""
        self._database = fn
        return fn

    def definition(self) -> ActorDefinition:
        """The frozen definition the server runs (what is declared so far)."""
        return ActorDefinition(
            self.name,
            self.state,
            self.actions,
            self._workflow,
            self._database,
            state_checkpoints=self.state_checkpoints,
        )

    def __repr__(self) -> str:
        return f"Actor({self.name!r}, actions={sorted(self.actions)})"


def _resolve(entry: ActorDefinition | Actor) -> ActorDefinition:
    return entry.definition() if isinstance(entry, Actor) else entry


class Registry:
    """The actor types one server runs, by name.

    Takes :class:`Actor` declarations or :class:`ActorDefinition` values. An
    ``Actor`` is read when the server looks it up, so actions decorated after
    the registry was built still count. ``create`` names instances
    (``"NAME"`` or ``"NAME:KEY"``, or ``(name, key)``) that a server of this
    registry creates, or reopens, when it starts.
    """

    def __init__(
        self,
        definitions: Iterable[ActorDefinition | Actor] = (),
        *,
        create: Iterable[str | tuple[str, str]] = (),
    ) -> None:
        self._definitions: dict[str, ActorDefinition | Actor] = {}
        for definition in definitions:
            self.add(definition)
        self.create: tuple[tuple[str, str], ...] = tuple(
            parse_create(item) if isinstance(item, str) else item for item in create
        )

    def add(self, definition: ActorDefinition | Actor) -> None:
        """Register ``definition``; a name can be registered once."""
        if not isinstance(definition, ActorDefinition | Actor):
            raise TypeError(
                f"a registry holds actorscope.Actor declarations, not {type(definition).__name__}"
            )
        if definition.name in self._definitions:
            raise ValueError(f"actor definition {definition.name!r} is already registered")
        self._definitions[definition.name] = definition

    def get(self, name: str) -> ActorDefinition | None:
        entry = self._definitions.get(name)
        return None if entry is None else _resolve(entry)

    def names(self) -> list[str]:
        return sorted(self._definitions)

    def __iter__(self) -> Iterator[ActorDefinition]:
        return (_resolve(entry) for entry in self._definitions.values())

    def __len__(self) -> int:
        return len(self._definitions)


def parse_create(spec: str) -> tuple[str, str]:
    """``NAME[:KEY]`` as ``(name, key)``; without ``:KEY`` the key is ``""``.

    The empty key is what ``PUT /actors`` uses when the body has no ``key``:
    one instance per name.
    """
    name, _, key = spec.partition(":")
    if not name:
        raise ValueError(f"expected NAME or NAME:KEY, not {spec!r}")
    return name, key
