"""The version rules of one inspector connection, for the server and the client.

Sans-I/O: the server's WebSocket session and the Python client both hold one
of these objects and hand it frames and messages; neither writes these rules
itself (PROTOCOL.md §1, §5, §6, §9.2, §9.8):

* :func:`parse_protocol_version` — what ``?protocol_version=`` means: the
  first occurrence counts, form-urlencoded, read as a decimal u16 (``06`` and
  ``%2B6`` are 6; ``+6`` decodes to `` 6`` and is refused), and accepted only
  in ``1..cap``. Anything else is :class:`InvalidProtocolVersion`, which the
  server turns into close 1002 before it looks at the token.
* :class:`ServerSide` — which version the server answers at (negotiated N;
  embedded: :data:`~.versions.EMBEDDED_FIRST_VERSION` or the cap before the
  peer's first frame, then the version the peer last sent, never above the
  cap), what a server capped below a frame's version makes of the request
  (its ``Error{…_unsupported}``), which pushes a peer's version can carry
  (none that would arrive as an ``Error``), and histories without
  version-check entries for peers older than
  :data:`~.versions.VERSION_CHECK_ENTRIES_SINCE`.
* :class:`ClientSide` — a negotiated client: the query it connects with,
  requests encoded at its version (``ConversionError`` for one that does not
  exist there, nothing sent) and replies decoded at it.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import attrs

from . import messages as m
from .errors import InvalidProtocolVersion
from .framing import decode_to_client, decode_to_server, downgrade_to_server, encode_to_client
from .framing import encode_to_server as _encode_to_server
from .history import without_version_checks
from .versions import (
    EMBEDDED_FIRST_VERSION,
    NEWEST_VERSION,
    VERSION_CHECK_ENTRIES_SINCE,
    VERSIONS,
    exists,
    has_type,
)

__all__ = [
    "CLOSE_INVALID_PROTOCOL_VERSION",
    "INVALID_PROTOCOL_VERSION",
    "QUERY_PARAMETER",
    "ClientSide",
    "ServerSide",
    "carries",
    "check_version",
    "encode_for",
    "for_peer",
    "parse_protocol_version",
]

QUERY_PARAMETER = "protocol_version"
#: Close code and reason for a refused ``?protocol_version=`` (§9.2).
CLOSE_INVALID_PROTOCOL_VERSION = 1002
INVALID_PROTOCOL_VERSION = "inspector.invalid_protocol_version"

_U16_MAX = (1 << 16) - 1
_DIGITS = frozenset("0123456789")


def check_version(version: int, *, name: str = "protocol_version") -> int:
    """``version`` itself if this package speaks it, else ``ValueError`` (our misuse)."""
    if version not in VERSIONS:
        known = ", ".join(map(str, VERSIONS))
        raise ValueError(f"{name} must be one of {known}, not {version!r}")
    return version


def parse_protocol_version(
    query_string: str | bytes, *, cap: int = NEWEST_VERSION
) -> int | None:
    """The negotiated version of a WebSocket URL's query, or ``None`` (embedded mode).

    Args:
        query_string: the raw query (``protocol_version=6&x=1``), not decoded.
        cap: the newest version this side serves; a higher N is refused, since
            a negotiated peer only reads frames at N and a capped server never
            writes above its cap.

    Raises:
        InvalidProtocolVersion: the parameter is present but its first value
            is not a version in ``1..cap``.
    """
    if isinstance(query_string, bytes):
        query_string = query_string.decode("latin-1")
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        if key == QUERY_PARAMETER:
            return _version_value(value, cap)
    return None


def _version_value(value: str, cap: int) -> int:
    # A decimal u16 as Rust's str::parse::<u16> reads it: one optional "+",
    # then ASCII digits only (no spaces, no "-", no other Unicode digits);
    # leading zeros are fine.
    digits = value[1:] if value.startswith("+") else value
    if not digits or not set(digits) <= _DIGITS:
        raise InvalidProtocolVersion(f"protocol_version {value!r} is not a version number")
    version = int(digits)
    if version > _U16_MAX or not 1 <= version <= cap:
        raise InvalidProtocolVersion(f"protocol_version {version} is not supported")
    return version


_HISTORY_TYPES = frozenset(
    {m.WorkflowHistoryUpdated, m.WorkflowHistoryResponse, m.WorkflowReplayResponse}
)

#: The inspector UI's tab for schedules (a built-in tab id, PROTOCOL.md §9.3).
SCHEDULES_TAB = "schedules"


def for_peer(msg: m.ToClient, version: int) -> m.ToClient:
    """``msg`` as a peer at ``version`` may receive it, still in the newest model.

    * Peers below :data:`VERSION_CHECK_ENTRIES_SINCE` get workflow histories
      (in ``Init``, pushes and responses) without ``WorkflowVersionCheckEntry``
      entries and their metadata, because their decoders reject tag 8 (§9.8).
    * A peer whose version has ``tabConfig`` but no schedule messages (v5)
      gets the schedules tab hidden in its ``Init``: it could never fill it.

    Everything else is returned as is (the same object).
    """
    body = msg.body
    if type(body) is m.Init:
        return _init_for_peer(msg, body, version)
    if version >= VERSION_CHECK_ENTRIES_SINCE or type(body) not in _HISTORY_TYPES:
        return msg  # the per-frame path: two comparisons for every other reply
    match body:
        case m.WorkflowHistoryUpdated(history=payload):
            history = without_version_checks(payload)
            if history is not payload:
                return m.ToClient(m.WorkflowHistoryUpdated(history))
        case m.WorkflowHistoryResponse(history=bytes() as payload):
            history = without_version_checks(payload)
            if history is not payload:
                return m.ToClient(attrs.evolve(body, history=history))
        case m.WorkflowReplayResponse(history=bytes() as payload):
            history = without_version_checks(payload)
            if history is not payload:
                return m.ToClient(attrs.evolve(body, history=history))
    return msg


def _init_for_peer(msg: m.ToClient, body: m.Init, version: int) -> m.ToClient:
    new = body
    if version < VERSION_CHECK_ENTRIES_SINCE and body.workflow_history is not None:
        history = without_version_checks(body.workflow_history)
        if history is not body.workflow_history:
            new = attrs.evolve(new, workflow_history=history)
    tabs_without_schedules = has_type(m.TabConfigEntry.__name__, version) and not exists(
        m.SchedulesUpdated.__name__, version
    )
    already = any(t.id == SCHEDULES_TAB and t.hidden for t in body.tab_config)
    if tabs_without_schedules and not already:
        hidden = m.TabConfigEntry(id=SCHEDULES_TAB, label=None, icon=None, hidden=True)
        tabs = [t for t in body.tab_config if t.id != SCHEDULES_TAB]
        new = attrs.evolve(new, tab_config=[*tabs, hidden])
    return msg if new is body else m.ToClient(new)


class ServerSide:
    """The server's view of one connection's versions.

    Args:
        negotiated: the version from :func:`parse_protocol_version`, or
            ``None`` for embedded mode.
        cap: the newest version this server speaks (``--max-protocol-version``).
    """

    __slots__ = ("cap", "negotiated", "prefixed", "version")

    def __init__(self, negotiated: int | None, cap: int = NEWEST_VERSION) -> None:
        check_version(cap, name="cap")
        if negotiated is not None and not 1 <= negotiated <= cap:
            raise ValueError(f"negotiated version {negotiated} is above the cap {cap}")
        self.cap = cap
        self.negotiated = negotiated
        #: Embedded mode: every frame carries its u16 version prefix.
        self.prefixed = negotiated is None
        #: The version answers and pushes go out at right now.
        self.version = negotiated if negotiated is not None else min(EMBEDDED_FIRST_VERSION, cap)

    def decode(self, frame: bytes | bytearray | memoryview) -> m.ToServer | m.ToClient:
        """The request in ``frame`` as this server serves it, or the Error to answer.

        Embedded mode: the frame's own version becomes the answer version
        (capped). A frame above the cap is what a server of the cap's version
        makes of it: the same request, or ``Error{inspector.…_unsupported}``.

        Raises:
            DecodeError: the bytes do not decode (answer ``inspector.invalid_frame``).
        """
        version, request = decode_to_server(frame, self.negotiated)
        cap = self.cap
        if self.negotiated is None:
            self.version = version if version < cap else cap
        if version > cap and type(request) is m.ToServer:
            return downgrade_to_server(request, cap)
        return request

    def encode(self, msg: m.ToClient) -> bytes:
        """``msg`` (newest model) as a frame for this peer right now."""
        return encode_for(msg, self.version, self.prefixed)

    def carries(self, message_name: str) -> bool:
        """Whether a push named ``message_name`` reaches this peer (:func:`carries`)."""
        return exists(message_name, self.version)


def carries(message_name: str, version: int) -> bool:
    """Whether a push named ``message_name`` goes to a peer at ``version``.

    A push the peer's version does not have would arrive as an ``Error``
    frame (§5); the server does not send it at all (§5, §9.2: no
    ``SchedulesUpdated`` below v6, no ``QueueUpdated`` to v1).
    """
    return exists(message_name, version)


def encode_for(msg: m.ToClient, version: int, prefixed: bool) -> bytes:
    """Encode ``msg`` for a peer at ``version``: :func:`for_peer`, then the downgrades."""
    return encode_to_client(for_peer(msg, version), version, prefix=prefixed)


class ClientSide:
    """A negotiated-mode client's view of its connection (PROTOCOL.md §1).

    Args:
        version: the version to negotiate (default: the newest).

    Raises:
        ValueError: a version this package does not speak.
    """

    __slots__ = ("version",)

    def __init__(self, version: int = NEWEST_VERSION) -> None:
        self.version = check_version(version)

    @property
    def query(self) -> str:
        """The query string to connect with (``protocol_version=6``)."""
        return f"{QUERY_PARAMETER}={self.version}"

    def supports(self, message_name: str) -> bool:
        """Whether a request or reply named ``message_name`` exists at this version."""
        return exists(message_name, self.version)

    def encode(self, msg: m.ToServer) -> bytes:
        """A request as a bare payload at this version.

        Raises:
            ConversionError: the request does not exist at this version;
                ``.reply`` is the Error a server there would have answered.
        """
        return _encode_to_server(msg, self.version, prefix=False)

    def decode(self, frame: bytes | bytearray | memoryview) -> m.ToClient:
        """A reply or push (bare payload at this version) in the newest model."""
        return decode_to_client(frame, self.version)[1]
