"""A Python inspector client for actorscope and any RivetKit-compatible inspector (v1-v6).

* ``InspectorClient`` — asyncio, over ``websockets``: every request of the
  negotiated protocol version, live pushes (``client.py`` docs in
  ``connection.py``).
* ``SyncInspectorClient`` — the same, blocking, for scripts and notebooks.
* ``HttpInspector`` / ``ServerHttp`` — the HTTP API, including the operator
  routes (replay by path, dry run, audit, archived attempts).
* ``history_view`` / ``render`` — the workflow history as rows, a tree and a
  diff; replay plans and the replay audit as text.
* ``watch`` — the live view ``actorscope inspect watch`` draws.
"""

from .connection import InspectorClient, inspector_url
from .errors import (
    InspectorClientError,
    InspectorConnectionClosed,
    InspectorRequestError,
    InspectorTimeout,
    RequestNotSupported,
)
from .http import HttpInspector, InspectorHttpError, ServerHttp
from .models import (
    ConnectionsUpdate,
    ConnectionView,
    HistoryUpdate,
    InitView,
    Push,
    QueueUpdate,
    ScheduleFireView,
    SchedulesUpdate,
    ScheduleView,
    ServerError,
    StateUpdate,
)
from .sync import SyncInspectorClient

__all__ = [
    "ConnectionView",
    "ConnectionsUpdate",
    "HistoryUpdate",
    "HttpInspector",
    "InitView",
    "InspectorClient",
    "InspectorClientError",
    "InspectorConnectionClosed",
    "InspectorHttpError",
    "InspectorRequestError",
    "InspectorTimeout",
    "Push",
    "QueueUpdate",
    "RequestNotSupported",
    "ScheduleFireView",
    "ScheduleView",
    "SchedulesUpdate",
    "ServerError",
    "ServerHttp",
    "StateUpdate",
    "SyncInspectorClient",
    "inspector_url",
]
