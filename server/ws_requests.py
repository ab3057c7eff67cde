"""Answers to inspector requests, in the newest (v6) message model.

One handler per request type (PROTOCOL.md §3), each calling the
``ActorInspector`` façade and building the reply; the WebSocket session
encodes the reply for the peer's version. Handlers that only read in-memory
facts are plain functions so the per-frame hot path awaits nothing; the rest
are coroutines. User values cross the wire through the server's value codec
(§7); workflow histories through ``history_bytes`` (§4).

``Init.tabConfig`` (v5+, PROTOCOL.md §9.3) is derived from the actor: each
built-in tab the actor has nothing for is sent hidden — ``workflow`` without
a workflow, ``database`` without a database, ``state`` without state,
``queue`` without a queue (only workflow actors have one), ``schedules`` and
``console`` without actions (a schedule runs an action; the console calls
them). ``connections`` is always shown. A v5 peer additionally gets
``schedules`` hidden (its version carries no schedules; see
``protocol.negotiation.for_peer``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from actorscope.protocol.messages import (
    ActionRequest,
    ActionResponse,
    Connection,
    ConnectionsRequest,
    ConnectionsResponse,
    DatabaseSchemaRequest,
    DatabaseSchemaResponse,
    DatabaseTableRowsRequest,
    DatabaseTableRowsResponse,
    Init,
    PatchStateRequest,
    QueueMessageSummary,
    QueueRequest,
    QueueResponse,
    QueueStatus,
    RpcsListRequest,
    RpcsListResponse,
    Schedule,
    ScheduleDeleteRequest,
    ScheduleDeleteResponse,
    ScheduleError,
    ScheduleFire,
    ScheduleHistoryRequest,
    ScheduleHistoryResponse,
    SchedulesRequest,
    SchedulesResponse,
    StateRequest,
    TabConfigEntry,
    ToClient,
    TraceQueryRequest,
    TraceQueryResponse,
    WorkflowHistoryRequest,
    WorkflowHistoryResponse,
    WorkflowReplayRequest,
    WorkflowReplayResponse,
)
from actorscope.protocol.negotiation import ServerSide
from actorscope.protocol.values import ValueCodec

from .errors import action_failed, invalid_request
from .inspector_api import (
    ActorInspector,
    ConnectionInfo,
    CredentialClass,
    QueueInfo,
    ScheduleFireInfo,
    ScheduleInfo,
)
from .state_frames import StateFrames
from .wire_values import wire_history_bytes

if TYPE_CHECKING:
    from actorscope.engine.snapshot import HistorySnapshot

__all__ = [
    "ASYNC_HANDLERS",
    "SCHEDULE_HISTORY_MAX",
    "SCHEDULE_KINDS",
    "SYNC_HANDLERS",
    "AsyncHandler",
    "RequestContext",
    "SyncHandler",
    "build_init",
    "history_bytes",
    "tab_config",
    "wire_connections",
    "wire_fires",
    "wire_schedules",
]

#: ``ScheduleHistoryRequest.limit`` is clamped to ``1..SCHEDULE_HISTORY_MAX`` (§9.3).
SCHEDULE_HISTORY_MAX = 1000
#: The kinds a ``ScheduleDeleteRequest`` may name (§9.3).
SCHEDULE_KINDS = ("at", "cron", "every")


class RequestContext:
    """What every handler needs: the actor, the value codec, who is asking, and
    the connection's versions (for handlers that answer with a frame)."""

    __slots__ = ("credential", "inspector", "state_frames", "value_codec", "versions")

    def __init__(
        self,
        inspector: ActorInspector,
        value_codec: ValueCodec,
        credential: CredentialClass,
        versions: ServerSide,
    ) -> None:
        self.inspector = inspector
        self.value_codec = value_codec
        self.credential = credential
        self.versions = versions
        self.state_frames = StateFrames()


#: A synchronous handler's answer: a message, a frame already encoded for
#: the connection (``bytes``), or ``None`` (nothing to answer).
SyncHandler = Callable[[RequestContext, Any], ToClient | bytes | None]
AsyncHandler = Callable[[RequestContext, Any], Awaitable[ToClient | None]]


def history_bytes(snapshot: HistorySnapshot, codec: ValueCodec | None = None) -> bytes:
    """The §4 ``WorkflowHistory`` bytes of an engine snapshot, user values in ``codec`` (§11)."""
    return wire_history_bytes(snapshot, codec)


def wire_connections(codec: ValueCodec, connections: list[ConnectionInfo]) -> list[Connection]:
    """Façade connections as wire ``Connection`` structs (details through the codec)."""
    encode = codec.encode
    return [Connection(id=c.id, details=encode(c.details)) for c in connections]


def wire_schedules(codec: ValueCodec, schedules: list[ScheduleInfo]) -> list[Schedule]:
    """Façade schedules as wire ``Schedule`` structs (args through the codec, §9.3)."""
    return [
        Schedule(
            id=s.id,
            name=s.name,
            kind=s.kind,
            action=s.action,
            args=codec.encode(list(s.args)),
            # uint on the wire: a negative time is sent as 0 (§9.3).
            next_run_at=max(0, s.next_run_at_ms),
            last_run_at=None if s.last_run_at_ms is None else max(0, s.last_run_at_ms),
            expression=s.expression,
            timezone=s.timezone,
            interval_ms=s.interval_ms,
            max_history=s.max_history,
        )
        for s in schedules
    ]


def wire_fires(codec: ValueCodec, fires: list[ScheduleFireInfo]) -> list[ScheduleFire]:
    """Façade fires as wire ``ScheduleFire`` structs (error metadata through the codec)."""
    out = []
    for f in fires:
        error = None
        if f.error is not None:
            e = f.error
            metadata = None if e.metadata is None else codec.encode(e.metadata)
            error = ScheduleError(group=e.group, code=e.code, message=e.message, metadata=metadata)
        out.append(
            ScheduleFire(
                action=f.action,
                scheduled_at=max(0, f.scheduled_at_ms),
                fired_at=max(0, f.fired_at_ms),
                finished_at=None if f.finished_at_ms is None else max(0, f.finished_at_ms),
                result=f.result,
                error=error,
            )
        )
    return out


def _hidden(tab: str) -> TabConfigEntry:
    return TabConfigEntry(id=tab, label=None, icon=None, hidden=True)


def tab_config(inspector: ActorInspector, queue: QueueInfo) -> list[TabConfigEntry]:
    """The built-in tabs this actor has nothing for, hidden (module docstring)."""
    has_actions = bool(inspector.rpcs())
    shown = {
        "workflow": inspector.is_workflow_enabled,
        "database": inspector.is_database_enabled,
        "state": inspector.is_state_enabled,
        "queue": queue.max_size > 0,
        "schedules": has_actions,
        "console": has_actions,
    }
    return [_hidden(tab) for tab, show in shown.items() if not show]


async def build_init(context: RequestContext) -> ToClient:
    """The newest-model ``Init`` sent when an inspector connects (§6, §9.3)."""
    inspector = context.inspector
    codec = context.value_codec
    state_enabled = inspector.is_state_enabled
    workflow_enabled = inspector.is_workflow_enabled
    snapshot = await inspector.workflow_history() if workflow_enabled else None
    queue = await inspector.queue_status(0)
    schedules = await inspector.schedules()
    return ToClient(
        Init(
            connections=wire_connections(codec, inspector.connections()),
            state=inspector.encoded_state(codec) if state_enabled else None,
            is_state_enabled=state_enabled,
            rpcs=list(inspector.rpcs()),
            is_database_enabled=inspector.is_database_enabled,
            queue_size=queue.size,
            workflow_history=history_bytes(snapshot, codec) if snapshot is not None else None,
            is_workflow_enabled=workflow_enabled,
            tab_config=tab_config(inspector, queue),
            schedules=wire_schedules(codec, schedules),
        )
    )


# -- requests answered from memory -------------------------------------------


def _state(context: RequestContext, request: StateRequest) -> bytes:
    # The most frequent request: its frame comes from the connection's template.
    inspector = context.inspector
    versions, frames = context.versions, context.state_frames
    if not inspector.is_state_enabled:
        return frames.frame(versions, request.id, None, False)
    return frames.frame(versions, request.id, inspector.encoded_state(context.value_codec), True)


def _connections(context: RequestContext, request: ConnectionsRequest) -> ToClient:
    connections = wire_connections(context.value_codec, context.inspector.connections())
    return ToClient(ConnectionsResponse(rid=request.id, connections=connections))


def _rpcs(context: RequestContext, request: RpcsListRequest) -> ToClient:
    return ToClient(RpcsListResponse(rid=request.id, rpcs=list(context.inspector.rpcs())))


# -- requests that await the actor ---------------------------------------------


async def _patch_state(context: RequestContext, request: PatchStateRequest) -> None:
    value = _decode_value(context, request.state, "state")
    await context.inspector.patch_state(value)
    # PatchStateRequest has no id, so there is nothing to answer; the change
    # reaches every inspector (this one included) as a StateUpdated push.
    return None


async def _action(context: RequestContext, request: ActionRequest) -> ToClient:
    args = _decode_value(context, request.args, "args")
    if isinstance(args, tuple):
        args = list(args)
    if not isinstance(args, list):
        raise invalid_request("action args must encode a list")
    output = await context.inspector.call_action(request.name, args)
    try:
        encoded = context.value_codec.encode(output)
    except ValueError as exc:
        # Storable but not expressible in this peer's codec (§11): say so.
        raise action_failed(request.name, exc) from exc
    return ToClient(ActionResponse(rid=request.id, output=encoded))


async def _traces(context: RequestContext, request: TraceQueryRequest) -> ToClient:
    result = await context.inspector.traces(request.start_ms, request.end_ms, request.limit)
    payload = context.value_codec.encode(result.otlp)
    return ToClient(TraceQueryResponse(rid=request.id, payload=payload))


async def _queue(context: RequestContext, request: QueueRequest) -> ToClient:
    info = await context.inspector.queue_status(request.limit)
    status = QueueStatus(
        size=info.size,
        max_size=info.max_size,
        messages=[
            QueueMessageSummary(id=m.id, name=m.name, created_at_ms=m.created_at_ms)
            for m in info.messages
        ],
        truncated=info.truncated,
    )
    return ToClient(QueueResponse(rid=request.id, status=status))


async def _workflow_history(context: RequestContext, request: WorkflowHistoryRequest) -> ToClient:
    inspector = context.inspector
    enabled = inspector.is_workflow_enabled
    snapshot = await inspector.workflow_history() if enabled else None
    return ToClient(
        WorkflowHistoryResponse(
            rid=request.id,
            history=history_bytes(snapshot, context.value_codec) if snapshot is not None else None,
            is_workflow_enabled=enabled,
        )
    )


async def _workflow_replay(context: RequestContext, request: WorkflowReplayRequest) -> ToClient:
    # Refusals (no workflow, unknown entry, not a step, a step in flight) are
    # InspectorErrors with the HTTP API's codes; the session turns them into
    # Error frames (§6 "Replay").
    snapshot = await context.inspector.replay(
        request.entry_id, credential=context.credential, transport="websocket"
    )
    return ToClient(
        WorkflowReplayResponse(
            rid=request.id,
            history=history_bytes(snapshot, context.value_codec),
            is_workflow_enabled=True,
        )
    )


async def _database_schema(context: RequestContext, request: DatabaseSchemaRequest) -> ToClient:
    schema = await context.inspector.database_schema()
    return ToClient(
        DatabaseSchemaResponse(rid=request.id, schema=context.value_codec.encode(schema))
    )


async def _database_rows(context: RequestContext, request: DatabaseTableRowsRequest) -> ToClient:
    rows = await context.inspector.database_rows(request.table, request.limit, request.offset)
    return ToClient(
        DatabaseTableRowsResponse(rid=request.id, result=context.value_codec.encode(rows))
    )


async def _schedules(context: RequestContext, request: SchedulesRequest) -> ToClient:
    schedules = await context.inspector.schedules()
    return ToClient(
        SchedulesResponse(rid=request.id, schedules=wire_schedules(context.value_codec, schedules))
    )


async def _schedule_history(context: RequestContext, request: ScheduleHistoryRequest) -> ToClient:
    limit = min(max(request.limit, 1), SCHEDULE_HISTORY_MAX)
    fires = await context.inspector.schedule_history(request.schedule_id, limit)
    return ToClient(
        ScheduleHistoryResponse(
            rid=request.id,
            schedule_id=request.schedule_id,
            history=wire_fires(context.value_codec, fires),
        )
    )


async def _schedule_delete(context: RequestContext, request: ScheduleDeleteRequest) -> ToClient:
    if request.kind not in SCHEDULE_KINDS:
        raise invalid_request(f'invalid inspector schedule kind "{request.kind}"')
    deleted = await context.inspector.delete_schedule(request.schedule_id, request.kind)
    return ToClient(
        ScheduleDeleteResponse(rid=request.id, schedule_id=request.schedule_id, deleted=deleted)
    )


def _decode_value(context: RequestContext, data: bytes, what: str) -> Any:
    try:
        return context.value_codec.decode(data)
    except Exception as exc:  # a codec may raise anything on foreign bytes
        raise invalid_request(f"{what} is not a valid value: {exc}") from exc


#: Dispatch tables by request class (STYLE.md: a dict of handlers, not if/elif).
SYNC_HANDLERS: dict[type[Any], SyncHandler] = {
    StateRequest: _state,
    ConnectionsRequest: _connections,
    RpcsListRequest: _rpcs,
}
ASYNC_HANDLERS: dict[type[Any], AsyncHandler] = {
    PatchStateRequest: _patch_state,
    ActionRequest: _action,
    TraceQueryRequest: _traces,
    QueueRequest: _queue,
    WorkflowHistoryRequest: _workflow_history,
    WorkflowReplayRequest: _workflow_replay,
    DatabaseSchemaRequest: _database_schema,
    DatabaseTableRowsRequest: _database_rows,
    SchedulesRequest: _schedules,
    ScheduleHistoryRequest: _schedule_history,
    ScheduleDeleteRequest: _schedule_delete,
}
