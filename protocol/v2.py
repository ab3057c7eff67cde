"""Protocol v2: its schema and codec, and the converters between v1 and v2.

``schemas/v2.bare`` pairs with this module. v2 dropped v1's event log and
added traces, the queue and workflow history; its messages are the shared
classes of :mod:`.messages` (its ``Init`` is :class:`~.messages.InitV2`, which
v3 and v4 keep). The four converters below are the v1↔v2 step of
PROTOCOL.md §5, one per direction of travel and of the message; none raises on
a well-formed message.
"""

from __future__ import annotations

from typing import TypeAlias

from . import codes, messages
from .codec import Codec
from .messages import (
    ActionRequest,
    ActionResponse,
    ConnectionsRequest,
    ConnectionsResponse,
    ConnectionsUpdated,
    Error,
    InitV2,
    PatchStateRequest,
    QueueRequest,
    QueueResponse,
    QueueUpdated,
    RpcsListRequest,
    RpcsListResponse,
    StateRequest,
    StateResponse,
    StateUpdated,
    ToClient,
    ToServer,
    TraceQueryRequest,
    TraceQueryResponse,
    WorkflowHistoryRequest,
    WorkflowHistoryResponse,
    WorkflowHistoryUpdated,
)
from .modelcheck import collect_bindings
from .schema import load_schema
from .v1 import (
    ClearEventsRequest,
    EventsRequest,
    EventsResponse,
    EventsUpdated,
    InitV1,
    ToClientV1,
    ToServerV1,
)

__all__ = [
    "CLIENT_UPGRADE_IS_IDENTITY",
    "CODEC",
    "SCHEMA",
    "SERVER_UPGRADE_IS_IDENTITY",
    "ToClientBody",
    "ToServerBody",
    "downgrade_to_client",
    "downgrade_to_server",
    "upgrade_to_client",
    "upgrade_to_server",
]

SCHEMA = load_schema("v2.bare", "v2")

ToServerBody: TypeAlias = (
    PatchStateRequest
    | StateRequest
    | ConnectionsRequest
    | ActionRequest
    | RpcsListRequest
    | TraceQueryRequest
    | QueueRequest
    | WorkflowHistoryRequest
)

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
    | Error
    | InitV2
)

CODEC = Codec(SCHEMA, collect_bindings(SCHEMA, {"Init": InitV2}, globals(), vars(messages)))

# Bodies that mean the same in v1 and v2 and pass through unchanged.
_COMMON_REQUESTS = (
    PatchStateRequest,
    StateRequest,
    ConnectionsRequest,
    ActionRequest,
    RpcsListRequest,
)
_COMMON_RESPONSES = (
    StateResponse,
    ConnectionsResponse,
    ActionResponse,
    ConnectionsUpdated,
    StateUpdated,
    RpcsListResponse,
    Error,
)
# v2 requests a v1 server cannot serve, and the Error it answers (§5).
_UNSUPPORTED_IN_V1: dict[type, str] = {
    TraceQueryRequest: codes.TRACE_UNSUPPORTED,
    QueueRequest: codes.QUEUE_UNSUPPORTED,
    WorkflowHistoryRequest: codes.WORKFLOW_HISTORY_UNSUPPORTED,
}
# v2 responses and pushes a v1 client cannot receive (§5 table, "going down to v1").
_DROPPED_IN_V1: dict[type, str] = {
    WorkflowHistoryUpdated: codes.WORKFLOW_HISTORY_DROPPED,
    WorkflowHistoryResponse: codes.WORKFLOW_HISTORY_DROPPED,
    QueueUpdated: codes.QUEUE_DROPPED,
    QueueResponse: codes.QUEUE_DROPPED,
    TraceQueryResponse: codes.TRACE_DROPPED,
}


# Whether upgrade_to_server / upgrade_to_client return their argument
# unchanged (v1 -> v2 rebuilds the wrappers and replaces the event log and
# Init). The converter chain skips identity steps.
SERVER_UPGRADE_IS_IDENTITY = False
CLIENT_UPGRADE_IS_IDENTITY = False


def upgrade_to_server(msg: ToServerV1) -> ToServer | ToClient:
    """A v1 request as v2: the event requests have no v2 meaning (§5)."""
    body = msg.body
    if isinstance(body, EventsRequest | ClearEventsRequest):
        return ToClient(Error(codes.EVENTS_DROPPED))
    return ToServer(body)


def downgrade_to_server(msg: ToServer) -> ToServerV1 | ToClientV1:
    """A v2 request as a v1 server sees it, or the Error that server answers."""
    body = msg.body
    code = _UNSUPPORTED_IN_V1.get(type(body))
    if code is not None:
        return ToClientV1(Error(code))
    if isinstance(body, _COMMON_REQUESTS):
        return ToServerV1(body)
    raise TypeError(f"{type(body).__name__} is not a v2 request")


def upgrade_to_client(msg: ToClientV1) -> ToClient:
    """A v1 response or push as v2 (§5 "responses and pushes coming up")."""
    body = msg.body
    if isinstance(body, InitV1):
        return ToClient(
            InitV2(
                connections=body.connections,
                state=body.state,
                is_state_enabled=body.is_state_enabled,
                rpcs=body.rpcs,
                is_database_enabled=body.is_database_enabled,
                queue_size=0,
                workflow_history=None,
                is_workflow_enabled=False,
            )
        )
    if isinstance(body, EventsResponse | EventsUpdated):
        return ToClient(Error(codes.EVENTS_DROPPED))
    return ToClient(body)


def downgrade_to_client(msg: ToClient) -> ToClientV1:
    """A v2 response or push as v1 (§5 table): an Error where v1 has no such message."""
    body = msg.body
    code = _DROPPED_IN_V1.get(type(body))
    if code is not None:
        return ToClientV1(Error(code))
    if isinstance(body, InitV2):
        return ToClientV1(
            InitV1(
                connections=body.connections,
                events=[],
                state=body.state,
                is_state_enabled=body.is_state_enabled,
                rpcs=body.rpcs,
                is_database_enabled=body.is_database_enabled,
            )
        )
    if isinstance(body, _COMMON_RESPONSES):
        return ToClientV1(body)
    raise TypeError(f"{type(body).__name__} is not a v2 response")
