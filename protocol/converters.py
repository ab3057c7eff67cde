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

from .messages import ToClient
from .v1 import ToClientV1
from .versions import MODULES, VERSIONS

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
_Chain = tuple[tuple[_Step, _Step], ...]

# (server step, client step) keyed by the newer version n: _UP[n] takes a
# version n-1 message to version n, _DOWN[n] takes version n to n-1.
_UP: dict[int, tuple[_Step, _Step]] = {
    n: (m.upgrade_to_server, m.upgrade_to_client) for n, m in MODULES.items() if n > VERSIONS[0]
}
_DOWN: dict[int, tuple[_Step, _Step]] = {
    n: (m.downgrade_to_server, m.downgrade_to_client) for n, m in MODULES.items() if n > VERSIONS[0]
}

# Steps that return their argument unchanged: a version that only added
# messages, with the very classes of the version before, changes nothing on
# the way up (requests from v3 on; responses in v3 and v4; each module says so
# with SERVER_UPGRADE_IS_IDENTITY / CLIENT_UPGRADE_IS_IDENTITY and
# test_converters checks it). They are left out of the precomputed chains so
# decoding an older frame costs about what decoding a newest one does.
_NEWER = [m for n, m in MODULES.items() if n > VERSIONS[0]]
IDENTITY_STEPS: frozenset[_Step] = frozenset(
    [m.upgrade_to_server for m in _NEWER if m.SERVER_UPGRADE_IS_IDENTITY]
    + [m.upgrade_to_client for m in _NEWER if m.CLIENT_UPGRADE_IS_IDENTITY]
)


def _server_upgrades(a: int, b: int) -> _Chain:
    # A request chain needs step n when the request step does something, or
    # when an earlier step may already have turned the request into its Error
    # reply (v1 EventsRequest) and the response step at n does something.
    steps: list[tuple[_Step, _Step]] = []
    may_be_reply = False
    for n in range(a + 1, b + 1):
        m = MODULES[n]
        if not m.SERVER_UPGRADE_IS_IDENTITY or (may_be_reply and not m.CLIENT_UPGRADE_IS_IDENTITY):
            steps.append(_UP[n])
        may_be_reply = may_be_reply or not m.SERVER_UPGRADE_IS_IDENTITY
    return tuple(steps)


def _client_upgrades(a: int, b: int) -> _Chain:
    return tuple(_UP[n] for n in range(a + 1, b + 1) if not MODULES[n].CLIENT_UPGRADE_IS_IDENTITY)


# (from, to) -> the (server step, client step) pairs to apply, in order; one
# table per direction of the message being decoded.
_UP_CHAINS_SERVER: dict[tuple[int, int], _Chain] = {
    (a, b): _server_upgrades(a, b) for a in VERSIONS for b in VERSIONS if a <= b
}
_UP_CHAINS_CLIENT: dict[tuple[int, int], _Chain] = {
    (a, b): _client_upgrades(a, b) for a in VERSIONS for b in VERSIONS if a <= b
}
_DOWN_CHAINS: dict[tuple[int, int], _Chain] = {
    (a, b): tuple(_DOWN[n] for n in range(a, b, -1))
    for a in VERSIONS
    for b in VERSIONS
    if a >= b
}


def is_to_client(msg: Message) -> bool:
    """Whether ``msg`` is a server->client message (of any version)."""
    return type(msg) is ToClient or type(msg) is ToClientV1


def upgrade_chain(from_version: int, to_version: int, *, to_client: bool) -> _Chain:
    """The non-identity upgrade steps from one version to another (empty: nothing to do).

    ``to_client`` picks the chain for a server->client message; otherwise
    for a request.
    """
    table = _UP_CHAINS_CLIENT if to_client else _UP_CHAINS_SERVER
    return table[from_version, to_version]


def run_chain(msg: Message, chain: _Chain) -> Message:
    """Apply ``chain``'s steps, switching to client steps once a step yields a ToClient."""
    for server_step, client_step in chain:
        t = type(msg)
        msg = client_step(msg) if t is ToClient or t is ToClientV1 else server_step(msg)
    return msg


def upgrade(msg: Message, from_version: int, to_version: int) -> Message:
    """Apply the upgrades ``from_version``->``to_version`` (``from_version`` <= it)."""
    table = _UP_CHAINS_CLIENT if is_to_client(msg) else _UP_CHAINS_SERVER
    return run_chain(msg, table[from_version, to_version])


def downgrade(msg: Message, from_version: int, to_version: int) -> Message:
    """Apply the downgrades ``from_version``->``to_version`` (``from_version`` >= it)."""
    return run_chain(msg, _DOWN_CHAINS[from_version, to_version])
