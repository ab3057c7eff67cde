"""``SyncInspectorClient``: the inspector client for scripts and notebooks.

Design choice: the wrapper runs one private asyncio event loop in a daemon
thread for the life of the connection, and every method submits the matching
``InspectorClient`` coroutine to it and blocks for the result. A fresh
``asyncio.run`` per call would reconnect (and re-receive ``Init``) on every
call and lose pushes in between; a thread keeps one socket open, and it also
works inside Jupyter, whose own loop is already running in the main thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from types import TracebackType
from typing import Any, Self, TypeVar

from actorscope.protocol import messages as m
from actorscope.protocol.history import WorkflowHistory
from actorscope.protocol.values import ValueCodec
from actorscope.protocol.versions import NEWEST_VERSION

from .connection import InspectorClient
from .errors import InspectorConnectionClosed, InspectorTimeout
from .models import ConnectionView, InitView, Push, ScheduleFireView, ScheduleView

__all__ = ["SyncInspectorClient"]

_T = TypeVar("_T")


class SyncInspectorClient:
    """Blocking twin of ``InspectorClient`` (same arguments, same methods).

    ``with SyncInspectorClient(url, actor_id) as client: client.state()``.
    """

    def __init__(
        self,
        url: str,
        actor_id: str,
        token: str | None = None,
        protocol_version: int = NEWEST_VERSION,
        *,
        timeout: float = 10.0,
        codec: ValueCodec | None = None,
        max_pushes: int = 1000,
    ) -> None:
        self._args = (url, actor_id, token, protocol_version)
        self._kwargs: dict[str, Any] = {
            "timeout": timeout,
            "codec": codec,
            "max_pushes": max_pushes,
        }
        self.timeout = timeout
        self.version = protocol_version
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: InspectorClient | None = None

    # -- lifecycle ---------------------------------------------------------

    def connect(self) -> Self:
        """Start the loop thread, open the socket and wait for ``Init``."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="actorscope-inspector", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread

        async def _open() -> InspectorClient:
            # The client's asyncio objects must be created inside its loop.
            return await InspectorClient(*self._args, **self._kwargs).connect()

        try:
            self._client = self._run(_open())
        except BaseException:
            self._stop_loop()
            raise
        return self

    def close(self) -> None:
        """Close the socket and stop the loop thread."""
        if self._client is not None and self._loop is not None:
            self._run(self._client.close())
            self._client = None
        self._stop_loop()

    def __enter__(self) -> Self:
        return self.connect()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def init(self) -> InitView | None:
        """The ``Init`` the server sent on open."""
        return None if self._client is None else self._client.init

    # -- requests ----------------------------------------------------------

    def state(self) -> Any:
        return self._run(self._c.state())

    def patch_state(self, value: Any) -> None:
        self._run(self._c.patch_state(value))

    def action(self, name: str, *args: Any) -> Any:
        return self._run(self._c.action(name, *args))

    def connections(self) -> list[ConnectionView]:
        return self._run(self._c.connections())

    def rpcs(self) -> list[str]:
        return self._run(self._c.rpcs())

    def queue(self, limit: int = 50) -> m.QueueStatus:
        return self._run(self._c.queue(limit))

    def traces(self, start_ms: int, end_ms: int, limit: int = 1000) -> Any:
        return self._run(self._c.traces(start_ms, end_ms, limit))

    def workflow_history(self) -> WorkflowHistory | None:
        return self._run(self._c.workflow_history())

    def replay(self, entry_id: str | None = None) -> WorkflowHistory | None:
        return self._run(self._c.replay(entry_id))

    def database_schema(self) -> Any:
        return self._run(self._c.database_schema())

    def database_rows(self, table: str, limit: int = 100, offset: int = 0) -> Any:
        return self._run(self._c.database_rows(table, limit, offset))

    def schedules(self) -> list[ScheduleView]:
        return self._run(self._c.schedules())

    def schedule_history(self, schedule_id: str, limit: int = 100) -> list[ScheduleFireView]:
        return self._run(self._c.schedule_history(schedule_id, limit))

    def delete_schedule(self, schedule_id: str, kind: str) -> bool:
        return self._run(self._c.delete_schedule(schedule_id, kind))

    def next_push(self, timeout: float | None = None) -> Push:
        """The next push; raises ``InspectorTimeout`` when none arrives in time."""
        return self._run(self._c.next_push(timeout))

    def pushes(self, timeout: float | None = None) -> Iterator[Push]:
        """Yield pushes until the connection closes, or until none arrives for
        ``timeout`` seconds (then the iteration just ends)."""
        while True:
            try:
                yield self.next_push(timeout)
            except (InspectorTimeout, InspectorConnectionClosed):
                return

    # -- machinery ---------------------------------------------------------

    @property
    def _c(self) -> InspectorClient:
        if self._client is None:
            raise InspectorConnectionClosed(None, "not connected (use connect() or `with`)")
        return self._client

    def _run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        if self._loop is None:
            coro.close()
            raise InspectorConnectionClosed(None, "not connected (use connect() or `with`)")
        fut: Future[_T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return fut.result()

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join()
        if loop is not None:
            loop.close()
