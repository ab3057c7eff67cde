"""The one façade both inspector transports call (PROTOCOL.md §6 and §8).

The HTTP API and the WebSocket inspector never reach into actors directly:
they call an ``ActorInspector``, so the two can never disagree about what a
request means. Refusals are ``InspectorError`` (``server/errors.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, Protocol

import attrs

if TYPE_CHECKING:
    # Only an annotation here; importing lazily keeps this module importable
    # on its own (attrs does not evaluate string annotations).
    from actorscope.engine.snapshot import HistorySnapshot
    from actorscope.protocol.values import ValueCodec

__all__ = [
    "ActorDirectory",
    "ActorInspector",
    "ConnectionInfo",
    "ConnectionsChanged",
    "CredentialClass",
    "HistoryChanged",
    "InspectorEvent",
    "QueueChanged",
    "QueueInfo",
    "QueueMessageInfo",
    "ScheduleErrorInfo",
    "ScheduleFireInfo",
    "ScheduleInfo",
    "SchedulesChanged",
    "StateChanged",
    "TraceResult",
]

#: Which kind of credential let a caller in; audit records keep this, never the token.
CredentialClass = Literal["server", "actor", "dev"]


@attrs.frozen
class ConnectionInfo:
    id: str
    details: Any


@attrs.frozen
class QueueMessageInfo:
    id: int
    name: str
    created_at_ms: int


@attrs.frozen
class QueueInfo:
    size: int
    max_size: int
    messages: list[QueueMessageInfo]
    truncated: bool


@attrs.frozen
class TraceResult:
    otlp: dict[str, Any]
    clamped: bool


@attrs.frozen
class StateChanged:
    state: Any


@attrs.frozen
class ConnectionsChanged:
    connections: list[ConnectionInfo]


@attrs.frozen
class QueueChanged:
    size: int


@attrs.frozen
class HistoryChanged:
    history: HistorySnapshot


@attrs.frozen
class ScheduleInfo:
    """One schedule as the inspector shows it (PROTOCOL.md §9.3 ``Schedule``).

    ``kind`` is ``"at"`` (one-shot), ``"every"`` or ``"cron"``; ``args`` are
    the action's arguments as Python values (each transport encodes them);
    times are milliseconds since the epoch.
    """

    id: str
    name: str | None
    kind: str
    action: str
    args: list[Any]
    next_run_at_ms: int
    last_run_at_ms: int | None
    expression: str | None
    timezone: str | None
    interval_ms: int | None
    max_history: int | None


@attrs.frozen
class ScheduleErrorInfo:
    group: str
    code: str
    message: str
    metadata: Any


@attrs.frozen
class ScheduleFireInfo:
    """One fire of a schedule (PROTOCOL.md §9.3 ``ScheduleFire``).

    ``result`` is ``"running"``, ``"ok"``, ``"error"`` or ``"skipped"``.
    """

    action: str
    scheduled_at_ms: int
    fired_at_ms: int
    finished_at_ms: int | None
    result: str
    error: ScheduleErrorInfo | None


@attrs.frozen
class SchedulesChanged:
    schedules: list[ScheduleInfo]


InspectorEvent = (
    StateChanged | ConnectionsChanged | QueueChanged | HistoryChanged | SchedulesChanged
)


class ActorInspector(Protocol):
    """What an inspector may see and do with one actor instance."""

    @property
    def actor_id(self) -> str: ...
    @property
    def is_state_enabled(self) -> bool: ...
    @property
    def is_database_enabled(self) -> bool: ...
    @property
    def is_workflow_enabled(self) -> bool: ...

    def state(self) -> Any:
        """The current state value, or ``None`` when state is not enabled."""

    def encoded_state(self, codec: ValueCodec) -> bytes:
        """``codec.encode(self.state())``; the bytes may be reused while the state is unchanged.

        Every ``StateRequest`` answers with the state's wire bytes, and the
        state changes far less often than it is read.
        """

    async def patch_state(self, value: Any) -> None:
        """Replace the state; raises ``state_not_enabled``."""

    def connections(self) -> list[ConnectionInfo]: ...

    def rpcs(self) -> list[str]:
        """Action names, sorted."""

    async def call_action(self, name: str, args: list[Any]) -> Any:
        """Run an action as the inspector; raises ``action_not_found``."""

    async def queue_status(self, limit: int) -> QueueInfo: ...

    async def traces(self, start_ms: int, end_ms: int, limit: int) -> TraceResult: ...

    async def workflow_history(self) -> HistorySnapshot | None:
        """``None`` when the actor has no workflow."""

    async def replay(
        self, entry_id: str | None, *, credential: CredentialClass, transport: str
    ) -> HistorySnapshot:
        """Rewind through ``replay_from_step``; engine refusals become ``InspectorError``."""

    async def database_schema(self) -> Any:
        """Raises ``database_not_enabled``."""

    async def database_rows(self, table: str, limit: int, offset: int) -> list[dict[str, Any]]:
        """Raises ``database_not_enabled`` / ``table_not_found``."""

    async def schedules(self) -> list[ScheduleInfo]:
        """Pending schedules, sorted by ``next_run_at_ms`` then ``id``."""

    async def schedule_history(self, schedule_id: str, limit: int) -> list[ScheduleFireInfo]:
        """The newest ``limit`` fires, oldest first; raises ``schedule_not_found``."""

    async def delete_schedule(self, schedule_id: str, kind: str) -> bool:
        """Cancel a schedule; ``False`` when there is none of that id and kind.

        ``kind`` must be ``at``, ``every`` or ``cron`` (else ``request.invalid``).
        """

    def subscribe(self, listener: Callable[[InspectorEvent], None]) -> Callable[[], None]:
        """Call ``listener`` on every change; returns the unsubscribe function.

        Listeners run synchronously in the event loop and must not block: a
        transport puts the event on its own bounded queue.
        """


class ActorDirectory(Protocol):
    """Finds actors and checks inspector credentials (PROTOCOL.md §6 "Auth")."""

    @property
    def dev_mode(self) -> bool:
        """True when auth is off (``--dev`` with no server-wide token)."""

    def get(self, actor_id: str) -> ActorInspector | None: ...

    def authorize(self, actor_id: str, token: str | None) -> CredentialClass | None:
        """The credential class ``token`` grants for ``actor_id`` (constant-time
        comparisons), or ``None``. In dev mode every caller gets ``"dev"``."""
