"""The replay answer's ``history`` in the form each caller reads (PROTOCOL.md §8, §10.5).

``POST /inspector/workflow/replay`` answers ``{"history", "isWorkflowEnabled", ...}``.
§8 documents ``history`` as the decoded JSON object, and clients written
against §8 read it so. The RivetKit Inspector UI instead validates
``history`` as the §4 transport bytes, a JSON array of numbers 0-255 (and
shows an error although the replay ran when it gets anything else). The two
are told apart by what the request carries:

* a request with an ``Origin`` header whose host differs from the server's
  own (``Host``) — a page on another origin, as the Inspector UI always is —
  and whose ``Accept`` does not name ``application/json`` gets the bytes
  form, user values in CBOR (``?value_codec=msgpack`` for MessagePack);
* every other request (no ``Origin``: curl, scripts, ``actorscope inspect``;
  a page on this server's own origin; or ``Accept: application/json``) gets
  the decoded object of §8, exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from actorscope.protocol.values import CborCodec, ValueCodec, value_codec
from starlette.requests import Request

from . import errors
from .jsonvalues import history_to_json
from .wire_values import VALUE_CODEC_PARAM, wire_history_bytes

if TYPE_CHECKING:
    from actorscope.engine import HistorySnapshot

__all__ = ["replay_history", "wants_history_bytes"]


def wants_history_bytes(request: Request) -> bool:
    """True when the replay answer's ``history`` goes out as transport bytes (see above)."""
    origin = request.headers.get("origin")
    if not origin:
        return False
    if "application/json" in request.headers.get("accept", "").lower():
        return False
    origin_host = urlsplit(origin).netloc.lower()
    own_host = request.headers.get("host", "").lower()
    # "null" (a sandboxed page, a file:// page) parses to an empty host: foreign.
    return origin_host != own_host


def _codec(request: Request) -> ValueCodec:
    name = request.query_params.get(VALUE_CODEC_PARAM)
    if name is None:
        return CborCodec()
    try:
        return value_codec(name)
    except ValueError as exc:
        raise errors.invalid_request(str(exc)) from None


def replay_history(request: Request) -> Callable[[HistorySnapshot], Any]:
    """How ``history`` is rendered in the replay answer to ``request``.

    Called before the replay, so a bad ``?value_codec=`` is refused (400
    ``request.invalid``) before anything is rewound.
    """
    if not wants_history_bytes(request):
        return history_to_json
    codec = _codec(request)

    def as_bytes(snapshot: HistorySnapshot) -> list[int]:
        return list(wire_history_bytes(snapshot, codec))

    return as_bytes
