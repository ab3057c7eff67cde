"""What the inspector client raises.

Hierarchy::

    InspectorClientError              root of everything the client raises
    ├── InspectorRequestError         the server answered a request with an ``Error`` frame
    ├── RequestNotSupported           the request does not exist in the negotiated version
    │                                 (raised before anything is sent: no round trip)
    ├── InspectorTimeout              no answer within the timeout (also a ``TimeoutError``)
    └── InspectorConnectionClosed     the socket closed (or was never open)
        └── InspectorConnectFailed    it never opened (nothing listens, handshake refused)

An ``Error`` frame's message is ``"{group}.{code}: {detail}"`` (server/errors.py
and PROTOCOL.md §5/§6), or a bare code such as ``inspector.events_dropped``;
``InspectorRequestError.code`` is the ``group.code`` part either way.
"""

from __future__ import annotations

__all__ = [
    "InspectorClientError",
    "InspectorConnectFailed",
    "InspectorConnectionClosed",
    "InspectorRequestError",
    "InspectorTimeout",
    "RequestNotSupported",
    "split_error_message",
]


class InspectorClientError(Exception):
    """Root of the client's exceptions."""


def split_error_message(message: str) -> tuple[str, str]:
    """Split an ``Error`` frame's text into ``(code, detail)``.

    ``"workflow.replay_in_flight: step two is running"`` →
    ``("workflow.replay_in_flight", "step two is running")``; a message with
    no ``": "`` is all code when it looks like one (``inspector.queue_dropped``),
    otherwise the code is empty.
    """
    head, sep, tail = message.partition(": ")
    if sep and "." in head and " " not in head:
        return head, tail
    if "." in message and " " not in message:
        return message, ""
    return "", message


class InspectorRequestError(InspectorClientError):
    """The server answered with an ``Error`` frame.

    Attributes:
        code: the stable ``group.code`` (``"workflow.replay_in_flight"``), or ``""``.
        detail: the human part after the code.
        message: the frame's whole text.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.code, self.detail = split_error_message(message)


class RequestNotSupported(InspectorClientError):
    """The request has no form in the negotiated protocol version.

    Raised locally, before anything is sent (the protocol layer's
    ``encode_to_server`` refuses with ``ConversionError``).

    Attributes:
        request: the request's name (``"workflow replay"``).
        version: the negotiated version.
        code: the code a capped server would answer with
            (``inspector.workflow_replay_unsupported``), or ``""``.
    """

    def __init__(self, request: str, version: int, code: str = "") -> None:
        super().__init__(
            f"{request} is not in protocol v{version}"
            + (f" ({code})" if code else "")
            + "; connect with a newer protocol_version"
        )
        self.request = request
        self.version = version
        self.code = code


class InspectorTimeout(InspectorClientError, TimeoutError):
    """No response arrived within the request timeout."""


class InspectorConnectionClosed(InspectorClientError):
    """The inspector socket is closed; ``code``/``reason`` are the close frame's."""

    def __init__(self, code: int | None, reason: str) -> None:
        if code is None:
            text = "inspector connection closed" + (f" ({reason})" if reason else "")
        else:
            text = f"inspector connection closed ({code}"
            text += f" {reason})" if reason else ")"
        super().__init__(text)
        self.code = code
        self.reason = reason


class InspectorConnectFailed(InspectorConnectionClosed):
    """The socket never opened: nothing listens there, or the handshake was refused."""

    def __init__(self, reason: str) -> None:
        super().__init__(None, reason)
        self.args = (reason,)

    def __str__(self) -> str:
        return self.reason
