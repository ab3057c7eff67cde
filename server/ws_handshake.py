"""Reading an inspector WebSocket handshake (PROTOCOL.md §1 and §6).

Pure functions over the ASGI ``websocket`` scope: which protocol version the
peer negotiated (if any), which actor it addresses, which token it presents
and which subprotocol the server selects. Nothing here touches a socket, so
the WebSocket endpoint can decide accept/close before doing any I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

import attrs
from actorscope.protocol.errors import InvalidProtocolVersion
from actorscope.protocol.negotiation import INVALID_PROTOCOL_VERSION, parse_protocol_version

__all__ = [
    "ACTOR_SUBPROTOCOL_PREFIX",
    "INVALID_PROTOCOL_VERSION",
    "RIVET_SUBPROTOCOL",
    "TOKEN_SUBPROTOCOL_PREFIX",
    "Handshake",
    "InvalidProtocolVersion",
    "parse_handshake",
]

#: Selected whenever offered: browsers fail the handshake when the server picks
#: none of the subprotocols they offered (PROTOCOL.md §6).
RIVET_SUBPROTOCOL = "rivet"
ACTOR_SUBPROTOCOL_PREFIX = "rivet_actor."
TOKEN_SUBPROTOCOL_PREFIX = "rivet_inspector_token."

_BEARER = "bearer "


@attrs.frozen
class Handshake:
    """What the peer asked for in its opening handshake.

    ``protocol_version`` is ``None`` in embedded mode (every frame carries
    its own u16 version prefix) and ``N`` in negotiated mode (bare payloads
    at version ``N`` both ways).
    """

    actor_id: str | None
    token: str | None
    protocol_version: int | None
    subprotocol: str | None


def parse_handshake(scope: Mapping[str, Any], max_protocol_version: int) -> Handshake:
    """Read the handshake of an ASGI ``websocket`` scope.

    Raises:
        InvalidProtocolVersion: ``protocol_version`` is not a version in
            ``1..max_protocol_version`` as :func:`~actorscope.protocol.negotiation.
            parse_protocol_version` reads it (PROTOCOL.md §9.2; such peers are
            closed with 1002, before auth). A version above the server's cap
            is refused the same way rather than silently answered at another
            version than the peer asked for.
    """
    offered: list[str] = list(scope.get("subprotocols") or ())
    path_params: Mapping[str, Any] = scope.get("path_params") or {}
    actor_id = path_params.get("actorId")
    if actor_id is None:
        actor_id = _prefixed(offered, ACTOR_SUBPROTOCOL_PREFIX)
    token = _prefixed(offered, TOKEN_SUBPROTOCOL_PREFIX)
    if token is None:
        token = _bearer_token(scope.get("headers") or ())
    return Handshake(
        actor_id=actor_id,
        token=token,
        protocol_version=parse_protocol_version(
            scope.get("query_string", b""), cap=max_protocol_version
        ),
        subprotocol=RIVET_SUBPROTOCOL if RIVET_SUBPROTOCOL in offered else None,
    )


def _prefixed(offered: Iterable[str], prefix: str) -> str | None:
    # Browsers cannot put arbitrary bytes in a subprotocol, so clients
    # percent-encode the id or token; unquoting a plain value is a no-op.
    for item in offered:
        if item.startswith(prefix):
            return unquote(item[len(prefix) :])
    return None


def _bearer_token(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name.lower() == b"authorization":
            text = value.decode("latin-1").strip()
            if text[: len(_BEARER)].lower() == _BEARER:
                return text[len(_BEARER) :].strip()
            return None
    return None
