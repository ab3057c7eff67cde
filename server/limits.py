"""The server's limits on what one connection or request may cost it.

One place for the numbers, so the README's "Security model", ``--help`` and
the code agree:

* ``max_body_bytes`` — an HTTP request body larger than this is refused with
  413 ``request.too_large`` before it is read (``body_limit.py``); flag
  ``--max-body-bytes``.
* ``header_timeout`` — seconds a connection may take to send a complete
  request head (idle keep-alive connections included); after that it is
  closed (``uvicorn_protocols.py``); flag ``--header-timeout``.
* ``max_message_bytes`` — the largest inbound WebSocket *message*, counted
  after permessage-deflate decompression (PROTOCOL.md §5: 1 MiB, bigger
  closes with 1009). A compressed frame may be slightly larger than the
  message it carries, so the frame parser allows ``wire_allowance`` more.
* ``close_timeout`` — seconds a closing WebSocket peer gets to take its close
  frame before its transport is aborted.
* ``write_stall_timeout`` — seconds a connection's transport may stay full
  (the peer takes no bytes while the server has some to send) before it is
  aborted: an HTTP client or a WebSocket peer that stops reading must not
  hold its socket and task for good.
"""

from __future__ import annotations

import argparse
from typing import Any

import attrs

__all__ = [
    "DEFAULT_CLOSE_TIMEOUT",
    "DEFAULT_HEADER_TIMEOUT",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_WRITE_STALL_TIMEOUT",
    "MAX_MESSAGE_BYTES",
    "Limits",
    "add_limit_arguments",
    "limits_from_args",
]

#: Default largest HTTP request body (bytes).
DEFAULT_MAX_BODY_BYTES = 1 << 20
#: Default seconds to receive a complete request head.
DEFAULT_HEADER_TIMEOUT = 10.0
#: Largest inbound WebSocket message after decompression (PROTOCOL.md §5).
MAX_MESSAGE_BYTES = 1 << 20
#: Default seconds a closing WebSocket peer gets to take its close frame.
DEFAULT_CLOSE_TIMEOUT = 10.0
#: Default seconds a connection may stay unable to write before it is aborted.
DEFAULT_WRITE_STALL_TIMEOUT = 60.0


@attrs.frozen
class Limits:
    """What one request or connection may use (see the module docstring)."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    max_message_bytes: int = MAX_MESSAGE_BYTES
    close_timeout: float = DEFAULT_CLOSE_TIMEOUT
    write_stall_timeout: float = DEFAULT_WRITE_STALL_TIMEOUT

    def __attrs_post_init__(self) -> None:
        if self.max_body_bytes < 1 or self.max_message_bytes < 1:
            raise ValueError("size limits must be positive")
        if min(self.header_timeout, self.close_timeout, self.write_stall_timeout) <= 0:
            raise ValueError("timeouts must be positive")

    @property
    def wire_allowance(self) -> int:
        """How much larger than a message its (compressed) frame may be.

        Deflate's worst case on incompressible data is a few bytes per 16 KiB
        block (zlib's ``deflateBound``: under 0.05 %); 1/64 of the message
        limit plus 1 KiB is far above that and still bounds what is buffered.
        """
        return self.max_message_bytes // 64 + 1024


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``serve`` flags that change ``Limits``."""
    parser.add_argument(
        "--max-body-bytes",
        type=_positive_int,
        default=DEFAULT_MAX_BODY_BYTES,
        metavar="N",
        help="largest HTTP request body; bigger ones get 413 before they are read "
        f"(default {DEFAULT_MAX_BODY_BYTES})",
    )
    parser.add_argument(
        "--header-timeout",
        type=_positive_seconds,
        default=DEFAULT_HEADER_TIMEOUT,
        metavar="S",
        help="seconds a connection may take to send a complete request head; "
        f"idle and half-sent requests are closed after it (default {DEFAULT_HEADER_TIMEOUT:g})",
    )


def limits_from_args(args: Any) -> Limits:
    """``Limits`` from parsed ``serve`` arguments."""
    return Limits(max_body_bytes=args.max_body_bytes, header_timeout=args.header_timeout)
