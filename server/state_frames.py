"""``StateResponse`` frames made from one encoding per state, not one per request.

A ``StateRequest`` is what inspectors send most (the RivetKit UI polls it),
and its answer differs from the previous one only in the request id while
the state is unchanged. Building the message and running it through the
downgrades and the encoder cost more of a sequential round trip than
decoding the request did (``bench/peer``).

``StateFrames`` encodes the response once per (state bytes, enabled flag,
version, framing) with the codec itself, and splices each request's id into
that encoding. The splice is exact because ``rid`` is a BARE ``uint`` (a
varint) in every version's schema and nothing else in the frame depends on
it; this is checked when a template is made (two ids of different varint
lengths must come out as the codec writes them), and a template that fails
the check is not used: the codec encodes every answer then.
"""

from __future__ import annotations

from actorscope.protocol.bare import uvarint_bytes
from actorscope.protocol.messages import StateResponse, ToClient
from actorscope.protocol.negotiation import ServerSide

__all__ = ["StateFrames"]

#: The id the check encodes besides 0: a two-byte varint.
_CHECK_ID = 300


class StateFrames:
    """One connection's ``StateResponse`` template."""

    __slots__ = ("_enabled", "_head", "_prefixed", "_state", "_tail", "_version")

    def __init__(self) -> None:
        self._state: bytes | None = None
        self._enabled = False
        self._version = 0  # no version is 0: the first frame makes a template
        self._prefixed = False
        self._head = b""
        self._tail: bytes | None = None

    def frame(self, versions: ServerSide, rid: int, state: bytes | None, enabled: bool) -> bytes:
        """What ``versions.encode(ToClient(StateResponse(rid, state, enabled)))`` returns."""
        if not (
            state is self._state
            and enabled is self._enabled
            and versions.version == self._version
            and versions.prefixed is self._prefixed
        ):
            self._learn(versions, state, enabled)
        tail = self._tail
        if tail is None or type(rid) is not int:
            return versions.encode(ToClient(StateResponse(rid, state, enabled)))
        return self._head + uvarint_bytes(rid) + tail

    def _learn(self, versions: ServerSide, state: bytes | None, enabled: bool) -> None:
        self._state = state
        self._enabled = enabled
        self._version = versions.version
        self._prefixed = versions.prefixed
        zero = versions.encode(ToClient(StateResponse(0, state, enabled)))
        other = versions.encode(ToClient(StateResponse(_CHECK_ID, state, enabled)))
        at = next((i for i, (a, b) in enumerate(zip(zero, other, strict=False)) if a != b), None)
        self._tail = None
        if at is None or zero[at] != 0:
            return
        head, tail = zero[:at], zero[at + 1 :]
        if other == head + uvarint_bytes(_CHECK_ID) + tail:
            self._head, self._tail = head, tail
