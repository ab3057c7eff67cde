"""Reading an inspector WebSocket handshake (PROTOCOL.md §1 and §6).

Pure functions over the ASGI ``websocket`` scope: which protocol version the
peer negotiated (if any), which actor it addresses, which token it presents
and which subprotocol the server selects. Nothing here touches a socket, so
the WebSocket endpoint can decide accept/close before doing any I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote

import attrs

__all__ = [
    "ACTOR_SUBPROTOCOL_PREFIX",
    "INVALID_PROTOCOL_VERSION",
    "RIVET_SUBPROTOCOL",
    "TOKEN_SUBPROTOCOL_PREFIX",
    "Handshake",
    "InvalidProtocolVersion",
    "parse_handshake",
]

#: Close reason for a bad ``?protocol_version=`` (close code 1002, PROTOCOL.md §1).
INVALID_PROTOCOL_VERSION = "inspector.invalid_protocol_version"

#: Selected whenever offered: browsers fail the handshake when the server picks
#: none of the subprotocols they offered (PROTOCOL.md §6).
RIVET_SUBPROTOCOL = "rivet"
ACTOR_SUBPROTOCOL_PREFIX = "rivet_actor."
TOKEN_SUBPROTOCOL_PREFIX = "rivet_inspector_token."

_BEARER = "bearer "


class InvalidProtocolVersion(ValueError):
    """``?protocol_version=`` is present but not a version this server speaks."""


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
        InvalidProtocolVersion: ``protocol_version`` is empty, not a decimal
            integer, or outside ``1..max_protocol_version`` (PROTOCOL.md §1:
            such peers are closed with 1002; a version above the server's cap
            is refused the same way rather than silently answered at another
            version than the peer asked for).
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
        protocol_version=_protocol_version(scope.get("query_string", b""), max_protocol_version),
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


def _protocol_version(query_string: bytes, max_protocol_version: int) -> int | None:
    raw = [
        value
        for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
        if key == "protocol_version"
    ]
    if not raw:
        return None
    # Every occurrence must be the same valid number: a peer that sends two
    # different versions has not negotiated anything.
    versions = {_one_version(value, max_protocol_version) for value in raw}
    if len(versions) != 1:
        raise InvalidProtocolVersion("conflicting protocol_version values")
    return versions.pop()


def _one_version(value: str, max_protocol_version: int) -> int:
    # str.isdigit alone accepts non-ASCII digits and int() accepts "+4" and
    # " 4"; only plain ASCII decimal digits are a version number here.
    if not (value.isascii() and value.isdigit()) or len(value) > 5:
        raise InvalidProtocolVersion(f"protocol_version {value!r} is not a version number")
    version = int(value)
    if not 1 <= version <= max_protocol_version:
        raise InvalidProtocolVersion(f"protocol_version {version} is not supported")
    return version
