"""Protocol v4 (the newest): its schema and codec, and the v3↔v4 converters.

``schemas/v4.bare`` pairs with this module and with :mod:`.messages`, which
holds the v4 model itself. v4 added workflow replay; upgrading from v3 is the
identity and downgrading replaces only the replay messages (PROTOCOL.md §5).
"""

from __future__ import annotations

from . import codes, messages
from .codec import Codec
from .messages import (
    Error,
    ToClient,
    ToClientBody,
    ToServer,
    ToServerBody,
    WorkflowReplayRequest,
    WorkflowReplayResponse,
)
from .modelcheck import collect_bindings
from .schema import load_schema

__all__ = [
    "CODEC",
    "SCHEMA",
    "UPGRADES_ARE_IDENTITY",
    "ToClientBody",
    "ToServerBody",
    "downgrade_to_client",
    "downgrade_to_server",
    "upgrade_to_client",
    "upgrade_to_server",
]

SCHEMA = load_schema("v4.bare", "v4")

CODEC = Codec(SCHEMA, collect_bindings(SCHEMA, vars(messages)))


# Whether upgrade_to_server/upgrade_to_client return their argument unchanged
# (every v3 message is a v4 message, same classes).
# The converter chain skips identity steps.
UPGRADES_ARE_IDENTITY = True


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
