"""The newest (v4) inspector message model (PROTOCOL.md §3).

One ``attrs`` frozen, slotted class per message and shared struct, fields in
wire order with snake_case names (``isStateEnabled`` -> ``is_state_enabled``).
``data`` fields are ``bytes``, ``uint`` fields ``int``, absent optionals
``None``. ``schemas/v4.bare`` is the source of truth; :mod:`.modelcheck`
proves at import that these classes match it.

Versions 2 and 3 use these same classes (their unions are subsets of v4's, in
the same relative order), so upgrading a v2/v3 message costs nothing. v1-only
classes (``EventsRequest``, ``InitV1``, …) live in :mod:`.v1`.

Construct messages directly (``ToServer(StateRequest(id=1))``); build them
from bytes with :mod:`.framing`, never in ``__init__``.
"""

from __future__ import annotations

from typing import TypeAlias

import attrs

__all__ = [
    "ActionRequest",
    "ActionResponse",
    "Connection",
    "ConnectionsRequest",
    "ConnectionsResponse",
    "ConnectionsUpdated",
    "DatabaseSchemaRequest",
    "DatabaseSchemaResponse",
    "DatabaseTableRowsRequest",
    "DatabaseTableRowsResponse",
    "Error",
    "Init",
    "PatchStateRequest",
    "QueueMessageSummary",
    "QueueRequest",
    "QueueResponse",
    "QueueStatus",
    "QueueUpdated",
    "RpcsListRequest",
    "RpcsListResponse",
    "StateRequest",
    "StateResponse",
    "StateUpdated",
    "ToClient",
    "ToClientBody",
    "ToServer",
    "ToServerBody",
    "TraceQueryRequest",
    "TraceQueryResponse",
    "WorkflowHistoryRequest",
    "WorkflowHistoryResponse",
    "WorkflowHistoryUpdated",
    "WorkflowReplayRequest",
    "WorkflowReplayResponse",
]

# -- shared structs --------------------------------------------------------


@attrs.frozen
class Connection:
    id: str
    details: bytes  # value codec (PROTOCOL.md §7)


@attrs.frozen
class QueueMessageSummary:
    id: int
    name: str
    created_at_ms: int


@attrs.frozen
class QueueStatus:
    size: int
    max_size: int
    messages: list[QueueMessageSummary]
    truncated: bool


@attrs.frozen
class Error:
    message: str


# -- requests (client -> server) ---------------------------------------------


@attrs.frozen
class PatchStateRequest:
    state: bytes


@attrs.frozen
class StateRequest:
    id: int


@attrs.frozen
class ConnectionsRequest:
    id: int


@attrs.frozen
class ActionRequest:
    id: int
    name: str
    args: bytes


@attrs.frozen
class RpcsListRequest:
    id: int


@attrs.frozen
class TraceQueryRequest:
    id: int
    start_ms: int
    end_ms: int
    limit: int


@attrs.frozen
class QueueRequest:
    id: int
    limit: int


@attrs.frozen
class WorkflowHistoryRequest:
    id: int


@attrs.frozen
class WorkflowReplayRequest:
    id: int
    entry_id: str | None  # None: replay from the first step


@attrs.frozen
class DatabaseSchemaRequest:
    id: int


@attrs.frozen
class DatabaseTableRowsRequest:
    id: int
    table: str
    limit: int
    offset: int


# Members in v4 union tag order (PROTOCOL.md §3 table).
ToServerBody: TypeAlias = (
    PatchStateRequest
    | StateRequest
    | ConnectionsRequest
    | ActionRequest
    | RpcsListRequest
    | TraceQueryRequest
    | QueueRequest
    | WorkflowHistoryRequest
    | WorkflowReplayRequest
    | DatabaseSchemaRequest
    | DatabaseTableRowsRequest
)


@attrs.frozen
class ToServer:
    body: ToServerBody


# -- responses and pushes (server -> client) ----------------------------------


@attrs.frozen
class StateResponse:
    rid: int
    state: bytes | None
    is_state_enabled: bool


@attrs.frozen
class ConnectionsResponse:
    rid: int
    connections: list[Connection]


@attrs.frozen
class ActionResponse:
    rid: int
    output: bytes


@attrs.frozen
class ConnectionsUpdated:
    connections: list[Connection]


@attrs.frozen
class QueueUpdated:
    queue_size: int


@attrs.frozen
class StateUpdated:
    state: bytes


@attrs.frozen
class WorkflowHistoryUpdated:
    history: bytes  # a WorkflowHistory payload (PROTOCOL.md §4), see .history


@attrs.frozen
class RpcsListResponse:
    rid: int
    rpcs: list[str]


@attrs.frozen
class TraceQueryResponse:
    rid: int
    payload: bytes


@attrs.frozen
class QueueResponse:
    rid: int
    status: QueueStatus


@attrs.frozen
class WorkflowHistoryResponse:
    rid: int
    history: bytes | None
    is_workflow_enabled: bool


@attrs.frozen
class WorkflowReplayResponse:
    rid: int
    history: bytes | None
    is_workflow_enabled: bool


@attrs.frozen
class Init:
    connections: list[Connection]
    state: bytes | None
    is_state_enabled: bool
    rpcs: list[str]
    is_database_enabled: bool
    queue_size: int
    workflow_history: bytes | None
    is_workflow_enabled: bool


@attrs.frozen
class DatabaseSchemaResponse:
    rid: int
    schema: bytes


@attrs.frozen
class DatabaseTableRowsResponse:
    rid: int
    result: bytes


# Members in v4 union tag order (PROTOCOL.md §3 table).
ToClientBody: TypeAlias = (
    StateResponse
    | ConnectionsResponse
    | ActionResponse
    | ConnectionsUpdated
    | QueueUpdated
    | StateUpdated
    | WorkflowHistoryUpdated
    | RpcsListResponse
    | TraceQueryResponse
    | QueueResponse
    | WorkflowHistoryResponse
    | WorkflowReplayResponse
    | Error
    | Init
    | DatabaseSchemaResponse
    | DatabaseTableRowsResponse
)


@attrs.frozen
class ToClient:
    body: ToClientBody
