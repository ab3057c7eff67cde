"""Protocol v6: its schema and codec, and the v5↔v6 converters.

``schemas/v6.bare`` pairs with this module. v6 added actor schedules
(PROTOCOL.md §9.3): three requests appended to ``ToServerBody`` (so request
tags stay v4's), a push and three responses *inserted* into ``ToClientBody``
(so every client-bound member from ``RpcsListResponse`` on has a new tag:
the codec is per version, never keyed on tags shared across versions), and
``Init.schedules``. Its unions are frozen here; today they are also the
newest model's (:mod:`.messages`), which a later version will move past.
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
    DatabaseSchemaRequest,
    DatabaseSchemaResponse,
    DatabaseTableRowsRequest,
    DatabaseTableRowsResponse,
    Error,
    Init,
    InitV5,
    PatchStateRequest,
    QueueRequest,
    QueueResponse,
    QueueUpdated,
    RpcsListRequest,
    RpcsListResponse,
    ScheduleDeleteRequest,
    ScheduleDeleteResponse,
    ScheduleHistoryRequest,
    ScheduleHistoryResponse,
    SchedulesRequest,
    SchedulesResponse,
    SchedulesUpdated,
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
    WorkflowReplayRequest,
    WorkflowReplayResponse,
)
from .modelcheck import collect_bindings
from .schema import load_schema

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

SCHEMA = load_schema("v6.bare", "v6")

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
    | SchedulesRequest
    | ScheduleHistoryRequest
    | ScheduleDeleteRequest
)

ToClientBody: TypeAlias = (
    StateResponse
    | ConnectionsResponse
    | ActionResponse
    | ConnectionsUpdated
    | QueueUpdated
    | StateUpdated
    | WorkflowHistoryUpdated
    | SchedulesUpdated
    | RpcsListResponse
    | TraceQueryResponse
    | QueueResponse
    | WorkflowHistoryResponse
    | WorkflowReplayResponse
    | SchedulesResponse
    | ScheduleHistoryResponse
    | ScheduleDeleteResponse
    | Error
    | Init
    | DatabaseSchemaResponse
    | DatabaseTableRowsResponse
)

CODEC = Codec(SCHEMA, collect_bindings(SCHEMA, globals(), vars(messages)))

_SCHEDULE_REQUESTS = (SchedulesRequest, ScheduleHistoryRequest, ScheduleDeleteRequest)
_SCHEDULE_MESSAGES = (
    SchedulesUpdated,
    SchedulesResponse,
    ScheduleHistoryResponse,
    ScheduleDeleteResponse,
)

# Requests are v5's plus the appended schedule requests; Init is rebuilt on
# the way up.
SERVER_UPGRADE_IS_IDENTITY = True
CLIENT_UPGRADE_IS_IDENTITY = False


def upgrade_to_server(msg: ToServer) -> ToServer:
    """A v5 request as v6: unchanged (v6 only appended requests)."""
    return msg


def downgrade_to_server(msg: ToServer) -> ToServer | ToClient:
    """A v6 request as a v5 server sees it: schedule requests get an Error (§9.8)."""
    if isinstance(msg.body, _SCHEDULE_REQUESTS):
        return ToClient(Error(codes.SCHEDULES_UNSUPPORTED))
    return msg


def upgrade_to_client(msg: ToClient) -> ToClient:
    """A v5 response or push as v6: ``Init`` gains an empty ``schedules`` (§9.5)."""
    body = msg.body
    if type(body) is InitV5:
        return ToClient(
            Init(
                connections=body.connections,
                state=body.state,
                is_state_enabled=body.is_state_enabled,
                rpcs=body.rpcs,
                is_database_enabled=body.is_database_enabled,
                queue_size=body.queue_size,
                workflow_history=body.workflow_history,
                is_workflow_enabled=body.is_workflow_enabled,
                tab_config=body.tab_config,
                schedules=[],
            )
        )
    return msg


def downgrade_to_client(msg: ToClient) -> ToClient:
    """A v6 response or push as v5: schedule messages become an Error, ``Init``
    loses ``schedules`` (§9.5 table)."""
    body = msg.body
    if isinstance(body, _SCHEDULE_MESSAGES):
        return ToClient(Error(codes.SCHEDULES_DROPPED))
    if type(body) is Init:
        return ToClient(
            InitV5(
                connections=body.connections,
                state=body.state,
                is_state_enabled=body.is_state_enabled,
                rpcs=body.rpcs,
                is_database_enabled=body.is_database_enabled,
                queue_size=body.queue_size,
                workflow_history=body.workflow_history,
                is_workflow_enabled=body.is_workflow_enabled,
                tab_config=body.tab_config,
            )
        )
    return msg
