"""The version chain: adjacent converters applied one step at a time (PROTOCOL.md §5).

Each step lives with the newer version's module (``v2.upgrade_to_server``
takes v1 to v2, ``v2.downgrade_to_client`` takes v2 to v1, …). To decode
version N we apply the upgrades N→newest in order; to encode the newest model
for version N, the downgrades newest→N in order. (TypeScript vbare 0.0.4 starts
its ``serialize`` loop at the wrong index for versions between the oldest and
the newest; stepping one version at a time is the intended behaviour.)

A step may turn a request into the ``ToClient(Error(...))`` the peer is
answered with; later steps then carry that Error along as a client message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import v2, v3, v4
from .messages import ToClient
from .v1 import ToClientV1

__all__ = ["Message", "downgrade", "is_to_client", "upgrade"]

# A message of any version and direction: ToServer, ToClient, ToServerV1, ToClientV1.
Message = Any

_Step = Callable[[Any], Any]

# _UP[n] takes a version n-1 message to version n; _DOWN[n] takes version n to n-1.
_UP_SERVER: dict[int, _Step] = {
    2: v2.upgrade_to_server,
    3: v3.upgrade_to_server,
    4: v4.upgrade_to_server,
}
_UP_CLIENT: dict[int, _Step] = {
    2: v2.upgrade_to_client,
    3: v3.upgrade_to_client,
    4: v4.upgrade_to_client,
}
_DOWN_SERVER: dict[int, _Step] = {
    2: v2.downgrade_to_server,
    3: v3.downgrade_to_server,
    4: v4.downgrade_to_server,
}
_DOWN_CLIENT: dict[int, _Step] = {
    2: v2.downgrade_to_client,
    3: v3.downgrade_to_client,
    4: v4.downgrade_to_client,
}


def is_to_client(msg: Message) -> bool:
    """Whether ``msg`` is a server→client message (of any version)."""
    return type(msg) is ToClient or type(msg) is ToClientV1


def upgrade(msg: Message, from_version: int, to_version: int) -> Message:
    """Apply the upgrades ``from_version``→``to_version`` (``from_version`` ≤ ``to_version``)."""
    for n in range(from_version + 1, to_version + 1):
        msg = (_UP_CLIENT if is_to_client(msg) else _UP_SERVER)[n](msg)
    return msg


def downgrade(msg: Message, from_version: int, to_version: int) -> Message:
    """Apply the downgrades ``from_version``→``to_version`` (``from_version`` ≥ ``to_version``)."""
    for n in range(from_version, to_version, -1):
        msg = (_DOWN_CLIENT if is_to_client(msg) else _DOWN_SERVER)[n](msg)
    return msg
