"""Protocol v1: its schema, codec and the v1-only message classes.

``schemas/v1.bare`` pairs with this module. v1 has the event log
(``EventsRequest``, ``EventsResponse``, ``Event`` …) that later versions
dropped, and an ``Init`` with ``events`` instead of the queue and workflow
fields; those get their own classes here (``InitV1`` is the wire type
``Init``). Every other v1 type is the shared class from :mod:`.messages`.
``ToServerV1``/``ToClientV1`` wrap the v1 unions. v1 is the oldest version,
so the converters to and from it live in :mod:`.v2`.
"""

from __future__ import annotations

from typing import TypeAlias

import attrs

from . import messages
from .codec import Codec
from .messages import (
    ActionRequest,
    ActionResponse,
    Connection,
    ConnectionsRequest,
    ConnectionsResponse,
    ConnectionsUpdated,
    Error,
    PatchStateRequest,
    RpcsListRequest,
    RpcsListResponse,
    StateRequest,
    StateResponse,
    StateUpdated,
)
from .modelcheck import collect_bindings
from .schema import load_schema

__all__ = [
    "CODEC",
    "SCHEMA",
    "ActionEvent",
    "BroadcastEvent",
    "ClearEventsRequest",
    "Event",
    "EventBody",
    "EventsRequest",
    "EventsResponse",
    "EventsUpdated",
    "FiredEvent",
    "InitV1",
    "SubscribeEvent",
    "ToClientBody",
    "ToClientV1",
    "ToServerBody",
    "ToServerV1",
    "UnSubscribeEvent",
]

SCHEMA = load_schema("v1.bare", "v1")


@attrs.frozen
class ActionEvent:
    name: str
    args: bytes
    conn_id: str


@attrs.frozen
class BroadcastEvent:
    event_name: str
    args: bytes


@attrs.frozen
class SubscribeEvent:
    event_name: str
    conn_id: str


@attrs.frozen
class UnSubscribeEvent:
    event_name: str
    conn_id: str


@attrs.frozen
class FiredEvent:
    event_name: str
    args: bytes
    conn_id: str


EventBody: TypeAlias = ActionEvent | BroadcastEvent | SubscribeEvent | UnSubscribeEvent | FiredEvent


@attrs.frozen
class Event:
    id: str
    timestamp: int
    body: EventBody


@attrs.frozen
class EventsRequest:
    id: int


@attrs.frozen
class ClearEventsRequest:
    id: int


ToServerBody: TypeAlias = (
    PatchStateRequest
    | StateRequest
    | ConnectionsRequest
    | ActionRequest
    | EventsRequest
    | ClearEventsRequest
    | RpcsListRequest
)


@attrs.frozen
class ToServerV1:
    """The v1 ``ToServer`` (its body union has the event requests)."""

    body: ToServerBody


@attrs.frozen
class EventsResponse:
    rid: int
    events: list[Event]


@attrs.frozen
class EventsUpdated:
    events: list[Event]


@attrs.frozen
class InitV1:
    """The v1 ``Init``: ``events`` where v2+ has queue and workflow fields."""

    connections: list[Connection]
    events: list[Event]
    state: bytes | None
    is_state_enabled: bool
    rpcs: list[str]
    is_database_enabled: bool


ToClientBody: TypeAlias = (
    StateResponse
    | ConnectionsResponse
    | EventsResponse
    | ActionResponse
    | ConnectionsUpdated
    | EventsUpdated
    | StateUpdated
    | RpcsListResponse
    | Error
    | InitV1
)


@attrs.frozen
class ToClientV1:
    """The v1 ``ToClient``."""

    body: ToClientBody


CODEC = Codec(
    SCHEMA,
    collect_bindings(
        SCHEMA,
        {"Init": InitV1, "ToServer": ToServerV1, "ToClient": ToClientV1},
        globals(),
        vars(messages),
    ),
)
