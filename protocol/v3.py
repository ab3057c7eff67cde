"""Protocol v3: its schema and codec, and the converters between v2 and v3.

``schemas/v3.bare`` pairs with this module. v3 added the database requests
and responses; everything else is v2 unchanged, with the same classes, so
upgrading from v2 is the identity and downgrading only replaces the database
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

SCHEMA = load_schema("v3.bare", "v3")

ToServerBody: TypeAlias = (
    PatchStateRequest
    | StateRequest
    | ConnectionsRequest
    | ActionRequest
    | RpcsListRequest
    | TraceQueryRequest
    | QueueRequest
    | WorkflowHistoryRequest
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
    | Error
    | InitV2
    | DatabaseSchemaResponse
    | DatabaseTableRowsResponse
)

CODEC = Codec(SCHEMA, collect_bindings(SCHEMA, {"Init": InitV2}, globals(), vars(messages)))

_DATABASE_REQUESTS = (DatabaseSchemaRequest, DatabaseTableRowsRequest)
_DATABASE_RESPONSES = (DatabaseSchemaResponse, DatabaseTableRowsResponse)


# Whether upgrade_to_server / upgrade_to_client return their argument
# unchanged (every v2 message is a v3 message, same classes). The converter
# chain skips identity steps.
SERVER_UPGRADE_IS_IDENTITY = True
CLIENT_UPGRADE_IS_IDENTITY = True


def upgrade_to_server(msg: ToServer) -> ToServer:
    """A v2 request as v3: every v2 request exists unchanged in v3."""
    return msg


def downgrade_to_server(msg: ToServer) -> ToServer | ToClient:
    """A v3 request as a v2 server sees it, or the Error it answers (§5)."""
    if isinstance(msg.body, _DATABASE_REQUESTS):
        return ToClient(Error(codes.DATABASE_UNSUPPORTED))
    return msg


def upgrade_to_client(msg: ToClient) -> ToClient:
    """A v2 response or push as v3: unchanged."""
    return msg


def downgrade_to_client(msg: ToClient) -> ToClient:
    """A v3 response or push as v2: database responses become an Error (§5 table)."""
    if isinstance(msg.body, _DATABASE_RESPONSES):
        return ToClient(Error(codes.DATABASE_DROPPED))
    return msg
