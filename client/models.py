"""Friendly, decoded views of what the inspector sends (PROTOCOL.md §3).

The wire model (``actorscope.protocol.messages``) carries user values as
value-codec bytes (§7). The client hands its callers these classes instead:
user values decoded, workflow history parsed into the protocol's
``WorkflowHistory`` (§4). Pushes (``Init`` and the ``…Updated`` messages) come
out of ``InspectorClient.pushes()`` as the ``Push`` union below.
"""

from __future__ import annotations

from typing import Any

import attrs
from actorscope.protocol.history import WorkflowHistory

__all__ = [
    "ConnectionView",
    "ConnectionsUpdate",
    "HistoryUpdate",
    "InitView",
    "Push",
    "QueueUpdate",
    "ServerError",
    "StateUpdate",
]


@attrs.frozen
class ConnectionView:
    """A live client connection; ``details`` decoded with the value codec."""

    id: str
    details: Any


@attrs.frozen
class InitView:
    """The ``Init`` frame the server sends on open (v1 ``Init`` upgraded per §5)."""

    connections: list[ConnectionView]
    state: Any
    is_state_enabled: bool
    rpcs: list[str]
    is_database_enabled: bool
    queue_size: int
    workflow_history: WorkflowHistory | None
    is_workflow_enabled: bool


@attrs.frozen
class StateUpdate:
    """``StateUpdated``: the actor's new state."""

    state: Any


@attrs.frozen
class ConnectionsUpdate:
    """``ConnectionsUpdated``: the full list after a connect or disconnect."""

    connections: list[ConnectionView]


@attrs.frozen
class QueueUpdate:
    """``QueueUpdated``: the queue's new size."""

    size: int


@attrs.frozen
class HistoryUpdate:
    """``WorkflowHistoryUpdated``: the whole history after a write."""

    history: WorkflowHistory


@attrs.frozen
class ServerError:
    """An ``Error`` frame no request was waiting for (a refused ``PatchStateRequest``
    on another client's behalf, ``inspector.events_dropped``, …)."""

    code: str
    message: str


Push = InitView | StateUpdate | ConnectionsUpdate | QueueUpdate | HistoryUpdate | ServerError
