"""uvicorn's ``httptools`` HTTP protocol with the server's request-head bounds.

httptools (the C parser Node.js uses, llhttp) parses a request in a few
microseconds where h11, pure Python, took about 190 µs for a replay's POST
and another 35 µs to write the answer: a quarter of the server's time for
one replay (``bench/peer``). ``protocol_classes`` in ``uvicorn_protocols``
uses this class where httptools installs and ``LimitedH11Protocol``
elsewhere; both keep the same promises:

* **A bounded time to receive a complete request head** (``header_timeout``),
  armed once per head while the connection waits for one, not restarted by
  bytes that trickle in.
* **A bounded head size** (``MAX_HEAD_BYTES``, 431). llhttp sets no bound
  of its own, and httptools gathers a header that arrives in pieces until
  it is whole, so the head is measured twice: the request line and headers
  as the parser reports them, and the raw bytes of a head still incomplete
  after a read.
* **A write-stall bound** and writes through ``CoalescingTransport``
  (``protocol_bounds.BoundedHttpProtocol``, shared with the h11 protocol),
  flushed when a response completes.
"""

from __future__ import annotations

import logging
from typing import Any, cast

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .protocol_bounds import HEAD_TOO_LARGE_RESPONSE, MAX_HEAD_BYTES, BoundedHttpProtocol
from .ws_transport import CoalescingTransport

__all__ = ["LimitedHttpToolsProtocol"]

_log = logging.getLogger("actorscope.server")


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head over the bound."""


class LimitedHttpToolsProtocol(BoundedHttpProtocol, HttpToolsProtocol):
    """uvicorn's httptools protocol with head time and size bounds and a write-stall bound."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A request whose head has begun and not yet ended, and its size.
        self._in_head = False
        self._head_size = 0
        self._head_raw = 0
        self._began_in_read = False
        self._ended_in_read = False

    # -- reading -------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._began_in_read = self._ended_in_read = False
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
                # httptools says where in this read the upgraded stream begins.
                start = upgrade.args[0] if upgrade.args else len(data)
                self._pass_on(data[start:])
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _HeadTooLarge):
                self._refuse_head()
            else:
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
            return
        if self._in_head:
            # A head still incomplete after this read: count its raw bytes
            # (httptools holds a header's pieces until it is whole). When a
            # message ended in this read, where the new head began is not
            # known: count from the next read (at most one read more).
            if self._began_in_read and self._ended_in_read:
                self._head_raw = 0
            else:
                self._head_raw += len(data)
            if self._head_raw > MAX_HEAD_BYTES:
                self._refuse_head()
                return
        self._watch_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_size = self._head_raw = 0
        self._began_in_read = True

    def on_url(self, url: bytes) -> None:
        self._grow_head(len(url) + 12)  # the method, the version, the spaces, CRLF
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._grow_head(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._stop_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._ended_in_read = True
        super().on_message_complete()

    def _grow_head(self, size: int) -> None:
        self._head_size += size
        if self._head_size > MAX_HEAD_BYTES:
            raise _HeadTooLarge

    def _refuse_head(self) -> None:
        _log.info("refused a request head over %d bytes", MAX_HEAD_BYTES)
        self._stop_head_timer()
        self.transport.write(HEAD_TOO_LARGE_RESPONSE)
        self.transport.close()

    # -- answering -----------------------------------------------------------------

    def on_response_complete(self) -> None:
        # The response leaves now, not at the end of the loop step (see
        # LimitedH11Protocol.on_response_complete).
        cast(CoalescingTransport, self.transport).flush()
        super().on_response_complete()
        self._watch_head()

    def handle_websocket_upgrade(self) -> None:
        self._upgrading()
        super().handle_websocket_upgrade()

    # -- the head timer --------------------------------------------------------------

    def _waiting_for_head(self) -> bool:
        if self._upgraded or self.transport.is_closing():
            return False
        if self._in_head:
            return True
        return (self.cycle is None or self.cycle.response_complete) and not self.pipeline
