"""Friendly, decoded views of what the inspector sends (PROTOCOL.md §3).

The wire model (``actorscope.protocol.messages``) carries user values as
value-codec bytes (§7). The client hands its callers these classes instead:
user values decoded, workflow history parsed into the protocol's
``WorkflowHistory`` (§4). Pushes (``Init`` and the ``…Updated`` messages) come
out of ``InspectorClient.pushes()`` as the ``Push`` union below.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs
from actorscope.protocol import messages as m
from actorscope.protocol.history import WorkflowHistory, decode_history
from actorscope.protocol.values import ValueCodec

__all__ = [
    "ConnectionView",
    "ConnectionsUpdate",
    "HistoryUpdate",
    "InitView",
    "Push",
    "QueueUpdate",
    "ScheduleErrorView",
    "ScheduleFireView",
    "ScheduleView",
    "SchedulesUpdate",
    "ServerError",
    "StateUpdate",
    "connections_from_wire",
    "fires_from_wire",
    "push_from_wire",
    "schedules_from_wire",
]


@attrs.frozen
class ConnectionView:
    """A live client connection; ``details`` decoded with the value codec."""

    id: str
    details: Any


@attrs.frozen
class ScheduleView:
    """A pending schedule (v6, PROTOCOL.md §9.3); ``args`` decoded, times in ms."""

    id: str
    name: str | None
    kind: str  # at, every or cron
    action: str
    args: Any
    next_run_at: int
    last_run_at: int | None
    expression: str | None
    timezone: str | None
    interval_ms: int | None
    max_history: int | None


@attrs.frozen
class ScheduleErrorView:
    group: str
    code: str
    message: str
    metadata: Any


@attrs.frozen
class ScheduleFireView:
    """One fire of a schedule; ``result`` is running, ok, error or skipped."""

    action: str
    scheduled_at: int
    fired_at: int
    finished_at: int | None
    result: str
    error: ScheduleErrorView | None


@attrs.frozen
class InitView:
    """The ``Init`` frame the server sends on open (v1 ``Init`` upgraded per §5)."""

    connections: list[ConnectionView]
    state: Any
    is_state_enabled: bool
    rpcs: list[str]
    is_database_enabled: bool
    queue_size: int
    workflow_history: WorkflowHistory | None
    is_workflow_enabled: bool
    #: v5+: the tabs the server says to show or hide (empty below v5).
    tab_config: list[m.TabConfigEntry] = attrs.Factory(list)
    #: v6: the pending schedules (empty below v6).
    schedules: list[ScheduleView] = attrs.Factory(list)


@attrs.frozen
class StateUpdate:
    """``StateUpdated``: the actor's new state."""

    state: Any


@attrs.frozen
class ConnectionsUpdate:
    """``ConnectionsUpdated``: the full list after a connect or disconnect."""

    connections: list[ConnectionView]


@attrs.frozen
class QueueUpdate:
    """``QueueUpdated``: the queue's new size."""

    size: int


@attrs.frozen
class HistoryUpdate:
    """``WorkflowHistoryUpdated``: the whole history after a write."""

    history: WorkflowHistory


@attrs.frozen
class SchedulesUpdate:
    """``SchedulesUpdated`` (v6): every pending schedule after a change."""

    schedules: list[ScheduleView]


@attrs.frozen
class ServerError:
    """An ``Error`` frame no request was waiting for (a refused ``PatchStateRequest``
    on another client's behalf, ``inspector.events_dropped``, …)."""

    code: str
    message: str


Push = (
    InitView
    | StateUpdate
    | ConnectionsUpdate
    | QueueUpdate
    | HistoryUpdate
    | SchedulesUpdate
    | ServerError
)


def connections_from_wire(conns: Iterable[m.Connection], codec: ValueCodec) -> list[ConnectionView]:
    """Wire ``Connection`` structs with their details decoded."""
    return [ConnectionView(id=c.id, details=codec.decode(c.details)) for c in conns]


def schedules_from_wire(items: Iterable[m.Schedule], codec: ValueCodec) -> list[ScheduleView]:
    """Wire ``Schedule`` structs with their args decoded."""
    return [
        ScheduleView(
            id=s.id,
            name=s.name,
            kind=s.kind,
            action=s.action,
            args=codec.decode(s.args),
            next_run_at=s.next_run_at,
            last_run_at=s.last_run_at,
            expression=s.expression,
            timezone=s.timezone,
            interval_ms=s.interval_ms,
            max_history=s.max_history,
        )
        for s in items
    ]


def fires_from_wire(items: Iterable[m.ScheduleFire], codec: ValueCodec) -> list[ScheduleFireView]:
    """Wire ``ScheduleFire`` structs with error metadata decoded."""
    out = []
    for f in items:
        error = None
        if f.error is not None:
            e = f.error
            metadata = None if e.metadata is None else codec.decode(e.metadata)
            error = ScheduleErrorView(e.group, e.code, e.message, metadata)
        out.append(
            ScheduleFireView(f.action, f.scheduled_at, f.fired_at, f.finished_at, f.result, error)
        )
    return out


def push_from_wire(body: object, codec: ValueCodec) -> Push | None:
    """The friendly view of a push body (``None`` for anything that is not a push)."""
    match body:
        case m.Init():
            history = body.workflow_history
            return InitView(
                connections=connections_from_wire(body.connections, codec),
                state=None if body.state is None else codec.decode(body.state),
                is_state_enabled=body.is_state_enabled,
                rpcs=list(body.rpcs),
                is_database_enabled=body.is_database_enabled,
                queue_size=body.queue_size,
                workflow_history=None if history is None else decode_history(history),
                is_workflow_enabled=body.is_workflow_enabled,
                tab_config=list(body.tab_config),
                schedules=schedules_from_wire(body.schedules, codec),
            )
        case m.StateUpdated():
            return StateUpdate(state=codec.decode(body.state))
        case m.ConnectionsUpdated():
            return ConnectionsUpdate(connections=connections_from_wire(body.connections, codec))
        case m.QueueUpdated():
            return QueueUpdate(size=body.queue_size)
        case m.WorkflowHistoryUpdated():
            return HistoryUpdate(history=decode_history(body.history))
        case m.SchedulesUpdated():
            return SchedulesUpdate(schedules=schedules_from_wire(body.schedules, codec))
    return None
