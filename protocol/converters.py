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

__all__ = [
    "IDENTITY_STEPS",
    "Message",
    "downgrade",
    "is_to_client",
    "run_chain",
    "upgrade",
    "upgrade_chain",
]

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


# Steps that return their argument unchanged: v3 and v4 only added messages,
# with the very classes of the version before, so going up to them changes
# nothing. They are left out of the precomputed chains to keep decoding an
# older frame as cheap as decoding a newest one (test_converters checks that
# each of these really is the identity).
IDENTITY_STEPS: frozenset[_Step] = frozenset(
    {v3.upgrade_to_server, v3.upgrade_to_client, v4.upgrade_to_server, v4.upgrade_to_client}
)

_Chain = tuple[tuple[_Step, _Step], ...]
_VERSIONS = (1, 2, 3, 4)
# (from, to) -> the (server step, client step) pairs to apply, in order.
_UP_CHAINS: dict[tuple[int, int], _Chain] = {
    (a, b): tuple(
        (_UP_SERVER[n], _UP_CLIENT[n])
        for n in range(a + 1, b + 1)
        if not (_UP_SERVER[n] in IDENTITY_STEPS and _UP_CLIENT[n] in IDENTITY_STEPS)
    )
    for a in _VERSIONS
    for b in _VERSIONS
    if a <= b
}
_DOWN_CHAINS: dict[tuple[int, int], _Chain] = {
    (a, b): tuple((_DOWN_SERVER[n], _DOWN_CLIENT[n]) for n in range(a, b, -1))
    for a in _VERSIONS
    for b in _VERSIONS
    if a >= b
}


def is_to_client(msg: Message) -> bool:
    """Whether ``msg`` is a server->client message (of any version)."""
    return type(msg) is ToClient or type(msg) is ToClientV1


def upgrade_chain(from_version: int, to_version: int) -> _Chain:
    """The non-identity upgrade steps from one version to another (empty: nothing to do)."""
    return _UP_CHAINS[from_version, to_version]


def run_chain(msg: Message, chain: _Chain) -> Message:
    """Apply ``chain``'s steps, switching to client steps once a step yields a ToClient."""
    for server_step, client_step in chain:
        t = type(msg)
        msg = client_step(msg) if t is ToClient or t is ToClientV1 else server_step(msg)
    return msg


def upgrade(msg: Message, from_version: int, to_version: int) -> Message:
    """Apply the upgrades ``from_version``->``to_version`` (``from_version`` <= it)."""
    return run_chain(msg, _UP_CHAINS[from_version, to_version])


def downgrade(msg: Message, from_version: int, to_version: int) -> Message:
    """Apply the downgrades ``from_version``->``to_version`` (``from_version`` >= it)."""
    return run_chain(msg, _DOWN_CHAINS[from_version, to_version])
