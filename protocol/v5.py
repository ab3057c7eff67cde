"""Protocol v5: its schema and codec, and the v4↔v5 converters.

``schemas/v5.bare`` pairs with this module. v5 only gave ``Init`` the
``tabConfig`` list (PROTOCOL.md §9.3); every other message is v4's, with the
same classes, and the unions keep v4's tags. The v5 ``Init`` is
:class:`~.messages.InitV5`. Going up, ``Init`` gains an empty ``tabConfig``;
going down it loses it (§9.5).
"""

from __future__ import annotations

from typing import TypeAlias

from . import messages
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
    InitV2,
    InitV5,
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

SCHEMA = load_schema("v5.bare", "v5")

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
    | InitV5
    | DatabaseSchemaResponse
    | DatabaseTableRowsResponse
)

CODEC = Codec(SCHEMA, collect_bindings(SCHEMA, {"Init": InitV5}, globals(), vars(messages)))


# Requests are v4's, unchanged; Init is rebuilt on the way up.
SERVER_UPGRADE_IS_IDENTITY = True
CLIENT_UPGRADE_IS_IDENTITY = False


def upgrade_to_server(msg: ToServer) -> ToServer:
    """A v4 request as v5: unchanged."""
    return msg


def downgrade_to_server(msg: ToServer) -> ToServer:
    """A v5 request as a v4 server sees it: unchanged (v5 added no request)."""
    return msg


def upgrade_to_client(msg: ToClient) -> ToClient:
    """A v4 response or push as v5: ``Init`` gains an empty ``tab_config``."""
    body = msg.body
    if type(body) is InitV2:
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
                tab_config=[],
            )
        )
    return msg


def downgrade_to_client(msg: ToClient) -> ToClient:
    """A v5 response or push as v4: ``Init`` loses ``tab_config``."""
    body = msg.body
    if type(body) is InitV5:
        return ToClient(
            InitV2(
                connections=body.connections,
                state=body.state,
                is_state_enabled=body.is_state_enabled,
                rpcs=body.rpcs,
                is_database_enabled=body.is_database_enabled,
                queue_size=body.queue_size,
                workflow_history=body.workflow_history,
                is_workflow_enabled=body.is_workflow_enabled,
            )
        )
    return msg
