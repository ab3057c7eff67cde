"""The newest (v6) inspector message model (PROTOCOL.md §3, §9.3).

One ``attrs`` frozen, slotted class per message and shared struct, fields in
wire order with snake_case names (``isStateEnabled`` -> ``is_state_enabled``).
``data`` fields are ``bytes``, ``uint`` fields ``int``, absent optionals
``None``. ``schemas/v6.bare`` is the source of truth; :mod:`.modelcheck`
proves at import that these classes match it.

Versions 2 to 5 use these same classes wherever a message did not change
(every request, every response but ``Init``), so upgrading them costs
nothing. ``Init`` changed after v2 twice: :class:`InitV2` is the v2-v4 ``Init`` and
:class:`InitV5` the v5 one; they are here, beside the newest :class:`Init`,
because the shared :class:`ToClient` wrapper carries them. Each ``vN`` module
freezes its own unions (the members in its tag order); ``ToServerBody`` and
``ToClientBody`` below are the newest ones. v1-only classes
(``EventsRequest``, ``InitV1``, …) live in :mod:`.v1`.

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
    "InitV2",
    "InitV5",
    "PatchStateRequest",
    "QueueMessageSummary",
    "QueueRequest",
    "QueueResponse",
    "QueueStatus",
    "QueueUpdated",
    "RpcsListRequest",
    "RpcsListResponse",
    "Schedule",
    "ScheduleDeleteRequest",
    "ScheduleDeleteResponse",
    "ScheduleError",
    "ScheduleFire",
    "ScheduleHistoryRequest",
    "ScheduleHistoryResponse",
    "SchedulesRequest",
    "SchedulesResponse",
    "SchedulesUpdated",
    "StateRequest",
    "StateResponse",
    "StateUpdated",
    "TabConfigEntry",
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


@attrs.frozen
class TabConfigEntry:
    """A tab the inspector UI shows or hides (v5+, PROTOCOL.md §9.3)."""

    id: str
    label: str | None  # set for an author-declared tab
    icon: str | None
    hidden: bool  # a hidden built-in tab carries only its id


@attrs.frozen
class Schedule:
    """A pending schedule (v6+): ``kind`` is ``at``, ``every`` or ``cron``."""

    id: str
    name: str | None
    kind: str
    action: str
    args: bytes  # value codec: the action's argument list
    next_run_at: int  # ms since the epoch
    last_run_at: int | None
    expression: str | None  # cron only
    timezone: str | None  # cron only
    interval_ms: int | None  # every only
    max_history: int | None


@attrs.frozen
class ScheduleError:
    group: str
    code: str
    message: str
    metadata: bytes | None  # value codec


@attrs.frozen
class ScheduleFire:
    """One fire of a schedule: ``result`` is running, ok, error or skipped."""

    action: str
    scheduled_at: int
    fired_at: int
    finished_at: int | None
    result: str
    error: ScheduleError | None


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


@attrs.frozen
class SchedulesRequest:
    id: int


@attrs.frozen
class ScheduleHistoryRequest:
    id: int
    schedule_id: str
    limit: int  # the server clamps it to 1..1000


@attrs.frozen
class ScheduleDeleteRequest:
    id: int
    schedule_id: str
    kind: str  # at, every or cron


# Members in v6 union tag order (PROTOCOL.md §9.3 table).
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
class SchedulesUpdated:
    schedules: list[Schedule]


@attrs.frozen
class SchedulesResponse:
    rid: int
    schedules: list[Schedule]


@attrs.frozen
class ScheduleHistoryResponse:
    rid: int
    schedule_id: str
    history: list[ScheduleFire]


@attrs.frozen
class ScheduleDeleteResponse:
    rid: int
    schedule_id: str
    deleted: bool


@attrs.frozen
class Init:
    """The newest (v6) ``Init``: v5's plus ``schedules``."""

    connections: list[Connection]
    state: bytes | None
    is_state_enabled: bool
    rpcs: list[str]
    is_database_enabled: bool
    queue_size: int
    workflow_history: bytes | None
    is_workflow_enabled: bool
    tab_config: list[TabConfigEntry]
    schedules: list[Schedule]


@attrs.frozen
class InitV2:
    """``Init`` as v2, v3 and v4 carry it (the wire type ``Init`` there)."""

    connections: list[Connection]
    state: bytes | None
    is_state_enabled: bool
    rpcs: list[str]
    is_database_enabled: bool
    queue_size: int
    workflow_history: bytes | None
    is_workflow_enabled: bool


@attrs.frozen
class InitV5:
    """``Init`` as v5 carries it: v4's plus ``tab_config``."""

    connections: list[Connection]
    state: bytes | None
    is_state_enabled: bool
    rpcs: list[str]
    is_database_enabled: bool
    queue_size: int
    workflow_history: bytes | None
    is_workflow_enabled: bool
    tab_config: list[TabConfigEntry]


@attrs.frozen
class DatabaseSchemaResponse:
    rid: int
    schema: bytes


@attrs.frozen
class DatabaseTableRowsResponse:
    rid: int
    result: bytes


# Members in v6 union tag order (PROTOCOL.md §9.3 table).
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


# The older Inits the shared wrapper also carries (v2-v4, v5).
_OlderInit: TypeAlias = InitV2 | InitV5


@attrs.frozen
class ToClient:
    body: ToClientBody | _OlderInit
