"""Answers to inspector requests, in the newest (v4) message model.

One handler per request type (PROTOCOL.md §3), each calling the
``ActorInspector`` façade and building the reply; the WebSocket session
encodes the reply for the peer's version. Handlers that only read in-memory
facts are plain functions so the per-frame hot path awaits nothing; the rest
are coroutines. User values cross the wire through the server's value codec
(§7); workflow histories through ``history_bytes`` (§4).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from actorscope.protocol.history import WorkflowHistory, encode_history
from actorscope.protocol.jsonform import from_json
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
    StateRequest,
    StateResponse,
    ToClient,
    TraceQueryRequest,
    TraceQueryResponse,
    WorkflowHistoryRequest,
    WorkflowHistoryResponse,
    WorkflowReplayRequest,
    WorkflowReplayResponse,
)
from actorscope.protocol.values import ValueCodec

from .errors import invalid_request
from .inspector_api import ActorInspector, ConnectionInfo, CredentialClass

if TYPE_CHECKING:
    from actorscope.engine.snapshot import HistorySnapshot

__all__ = [
    "ASYNC_HANDLERS",
    "SYNC_HANDLERS",
    "AsyncHandler",
    "RequestContext",
    "SyncHandler",
    "build_init",
    "history_bytes",
    "wire_connections",
]


class RequestContext:
    """What every handler needs: the actor, the value codec, who is asking."""

    __slots__ = ("credential", "inspector", "value_codec")

    def __init__(
        self, inspector: ActorInspector, value_codec: ValueCodec, credential: CredentialClass
    ) -> None:
        self.inspector = inspector
        self.value_codec = value_codec
        self.credential = credential


SyncHandler = Callable[[RequestContext, Any], ToClient | None]
AsyncHandler = Callable[[RequestContext, Any], Awaitable[ToClient | None]]


def history_bytes(snapshot: HistorySnapshot) -> bytes:
    """The §4 ``WorkflowHistory`` bytes of an engine snapshot."""
    history = from_json(WorkflowHistory, snapshot.to_transport(), data=_raw)
    return encode_history(history)


def wire_connections(codec: ValueCodec, connections: list[ConnectionInfo]) -> list[Connection]:
    """Façade connections as wire ``Connection`` structs (details through the codec)."""
    encode = codec.encode
    return [Connection(id=c.id, details=encode(c.details)) for c in connections]


async def build_init(context: RequestContext) -> ToClient:
    """The newest-model ``Init`` sent when an inspector connects (§6)."""
    inspector = context.inspector
    codec = context.value_codec
    state_enabled = inspector.is_state_enabled
    workflow_enabled = inspector.is_workflow_enabled
    snapshot = await inspector.workflow_history() if workflow_enabled else None
    queue = await inspector.queue_status(0)
    return ToClient(
        Init(
            connections=wire_connections(codec, inspector.connections()),
            state=codec.encode(inspector.state()) if state_enabled else None,
            is_state_enabled=state_enabled,
            rpcs=list(inspector.rpcs()),
            is_database_enabled=inspector.is_database_enabled,
            queue_size=queue.size,
            workflow_history=history_bytes(snapshot) if snapshot is not None else None,
            is_workflow_enabled=workflow_enabled,
        )
    )


def _raw(data: bytes) -> bytes:
    # The engine's transport form already carries ``data`` fields as bytes.
    return data


# -- requests answered from memory -------------------------------------------


def _state(context: RequestContext, request: StateRequest) -> ToClient:
    inspector = context.inspector
    if not inspector.is_state_enabled:
        return ToClient(StateResponse(rid=request.id, state=None, is_state_enabled=False))
    state = context.value_codec.encode(inspector.state())
    return ToClient(StateResponse(rid=request.id, state=state, is_state_enabled=True))


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
    return ToClient(ActionResponse(rid=request.id, output=context.value_codec.encode(output)))


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
            history=history_bytes(snapshot) if snapshot is not None else None,
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
            rid=request.id, history=history_bytes(snapshot), is_workflow_enabled=True
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
}
