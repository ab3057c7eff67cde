"""Protocol v4: its schema and codec, and the v3↔v4 converters.

``schemas/v4.bare`` pairs with this module. v4 added workflow replay; its
unions are frozen here (the newest model in :mod:`.messages` has moved on),
with the shared classes and the v2-v4 ``Init`` (:class:`~.messages.InitV2`).
Upgrading from v3 is the identity and downgrading replaces only the replay
messages (PROTOCOL.md §5).
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

SCHEMA = load_schema("v4.bare", "v4")

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
    | InitV2
    | DatabaseSchemaResponse
    | DatabaseTableRowsResponse
)

CODEC = Codec(SCHEMA, collect_bindings(SCHEMA, {"Init": InitV2}, globals(), vars(messages)))


# Whether upgrade_to_server / upgrade_to_client return their argument
# unchanged (every v3 message is a v4 message, same classes). The converter
# chain skips identity steps.
SERVER_UPGRADE_IS_IDENTITY = True
CLIENT_UPGRADE_IS_IDENTITY = True


def upgrade_to_server(msg: ToServer) -> ToServer:
    """A v3 request as v4: every v3 request exists unchanged in v4."""
    return msg


def downgrade_to_server(msg: ToServer) -> ToServer | ToClient:
    """A v4 request as a v3 server sees it: replay is answered with an Error (§5)."""
    if type(msg.body) is WorkflowReplayRequest:
        return ToClient(Error(codes.WORKFLOW_REPLAY_UNSUPPORTED))
    return msg


def upgrade_to_client(msg: ToClient) -> ToClient:
    """A v3 response or push as v4: unchanged."""
    return msg


def downgrade_to_client(msg: ToClient) -> ToClient:
    """A v4 response or push as v3: a replay response becomes an Error (§5 table)."""
    if type(msg.body) is WorkflowReplayResponse:
        return ToClient(Error(codes.WORKFLOW_HISTORY_DROPPED))
    return msg
