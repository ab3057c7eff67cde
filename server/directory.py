"""The actor system: every instance by id, creation by (name, key), and auth.

``ActorSystem`` implements ``ActorDirectory`` (``inspector_api.py``): the
WebSocket inspector and the HTTP API find actors and check credentials here
(PROTOCOL.md §6 "Auth"). On start it reopens every actor recorded in the
store, which restarts their workflows; a sleeping workflow then wakes on its
persisted alarm by itself.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from actorscope.engine.replay import DEFAULT_KEEP_ATTEMPTS

from . import errors
from .actor import ActorInstance
from .definitions import Registry
from .inspector_api import CredentialClass
from .store import ActorExists, ActorRecord, ActorStore
from .traces import DEFAULT_TRACE_CAPACITY

__all__ = ["ActorSystem", "tokens_equal"]

log = logging.getLogger("actorscope.server")


def tokens_equal(given: str, expected: str) -> bool:
    """Constant-time comparison (PROTOCOL.md §6): never leak a prefix match."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


class Placement(Protocol):
    """Where actors live in a cluster (``cluster.ClusterNode``); ``None`` on a lone server."""

    async def place_new(self, record: ActorRecord) -> None:
        """Take the lease of a new actor before its record is written."""
        ...

    async def claim_existing(self, name: str, key: str) -> ActorInstance | None:
        """Open here the stored actor (name, key) if no node owns it; ``None`` if none is stored."""
        ...

    async def open_placed(
        self, record: ActorRecord, opener: Callable[[ActorRecord], Awaitable[ActorInstance]]
    ) -> ActorInstance:
        """Open the new actor with ``opener``, never while a drop of it runs."""
        ...

    async def creation_lost(self, record: ActorRecord) -> errors.InspectorError:
        """``store.create`` found (name, key) created by another node: undo ``place_new``."""
        ...


class ActorSystem:
    """Owns the actor instances of one server."""

    #: Set by a cluster node before ``start``: it, not ``start``, opens the actors.
    placement: Placement | None = None

    def __init__(
        self,
        registry: Registry,
        store: ActorStore,
        *,
        server_token: str | None,
        dev: bool = False,
        trace_capacity: int = DEFAULT_TRACE_CAPACITY,
        keep_attempts: int = DEFAULT_KEEP_ATTEMPTS,
    ) -> None:
        self.registry = registry
        self.store = store
        self.server_token = server_token
        self._dev = dev
        self._trace_capacity = trace_capacity
        self._keep_attempts = keep_attempts
        self._actors: dict[str, ActorInstance] = {}
        self._by_key: dict[tuple[str, str], str] = {}
        self._create_lock = asyncio.Lock()

    @property
    def dev_mode(self) -> bool:
        """Auth is off only in ``--dev`` with no server-wide token."""
        return self._dev and self.server_token is None

    async def start(self) -> None:
        if self.placement is not None:
            return
        records = await self.store.load_records()
        for record in sorted(records, key=lambda r: (r.create_ts, r.actor_id)):
            definition = self.registry.get(record.name)
            if definition is None:
                # Keep the data; the code that defines it may come back.
                log.warning(
                    "actor %s: no definition %r registered, not started",
                    record.actor_id,
                    record.name,
                )
                continue
            await self._open(record)

    async def stop(self) -> None:
        for actor in list(self._actors.values()):
            try:
                await actor.close()
            except Exception:
                log.exception("actor %s: close failed", actor.actor_id)
        self._actors.clear()
        self.store.close()

    async def drop(self, actor_id: str) -> None:
        """Close one actor and forget it here (its lease moved to another node)."""
        actor = self._actors.pop(actor_id, None)
        if actor is None:
            return
        self._by_key.pop((actor.record.name, actor.record.key), None)
        try:
            await actor.close()
        except Exception:
            # Its writes are refused by the fence by now: nothing to save.
            log.info("actor %s: closed after losing its lease", actor_id, exc_info=True)

    async def open_record(self, record: ActorRecord) -> ActorInstance:
        """Open a stored actor here (a cluster node took it over)."""
        return await self._open(record)

    async def _open(self, record: ActorRecord) -> ActorInstance:
        definition = self.registry.get(record.name)
        assert definition is not None
        actor = ActorInstance(
            record,
            definition,
            self.store,
            trace_capacity=self._trace_capacity,
            keep_attempts=self._keep_attempts,
        )
        self._actors[record.actor_id] = actor
        self._by_key[(record.name, record.key)] = record.actor_id
        try:
            await actor.open()
        except BaseException:
            # Never leave a half-open instance to be served (in a cluster it
            # would also hide the actor from the takeover that reopens it).
            if self._actors.get(record.actor_id) is actor:
                del self._actors[record.actor_id]
                self._by_key.pop((record.name, record.key), None)
            try:
                await actor.close()
            except Exception:
                log.info("actor %s: close after a failed open", record.actor_id, exc_info=True)
            raise
        return actor

    # lookup -------------------------------------------------------------------

    def get(self, actor_id: str) -> ActorInstance | None:
        return self._actors.get(actor_id)

    def actors(self, name: str | None = None) -> list[ActorInstance]:
        """Instances (of type ``name`` if given), oldest first."""
        # Insertion order is creation order (start() opens records sorted by
        # creation time), exact even for actors created in the same millisecond.
        return [a for a in self._actors.values() if name is None or a.record.name == name]

    async def get_or_create(self, name: str, key: str) -> ActorInstance:
        """The instance for (name, key), created on first use.

        Raises ``definition_not_found`` for an unregistered name.
        """
        definition = self.registry.get(name)
        if definition is None:
            raise errors.definition_not_found(name)
        async with self._create_lock:
            existing = self._by_key.get((name, key))
            if existing is not None:
                return self._actors[existing]
            if self.placement is not None:
                claimed = await self.placement.claim_existing(name, key)
                if claimed is not None:
                    return claimed
            record = ActorRecord(
                actor_id=secrets.token_hex(10),
                name=name,
                key=key,
                create_ts=int(time.time() * 1000),
                token=secrets.token_hex(24),
            )
            initial = definition.initial_state if definition.is_state_enabled else None
            if self.placement is not None:
                await self.placement.place_new(record)
            try:
                await self.store.create(record, initial)
            except ActorExists:
                # Only a shared store raises it, and only a cluster shares one.
                assert self.placement is not None
                raise await self.placement.creation_lost(record) from None
            log.info("actor %s created (%s/%s)", record.actor_id, name, key)
            if self.placement is not None:
                return await self.placement.open_placed(record, self._open)
            return await self._open(record)

    # auth -----------------------------------------------------------------------

    def is_server_token(self, token: str | None) -> bool:
        return (
            token is not None
            and self.server_token is not None
            and tokens_equal(token, self.server_token)
        )

    def authorize(self, actor_id: str, token: str | None) -> CredentialClass | None:
        if self.dev_mode:
            return "dev"
        if self.is_server_token(token):
            return "server"
        actor = self._actors.get(actor_id)
        if token is not None and actor is not None and tokens_equal(token, actor.record.token):
            return "actor"
        return None

    def authorize_management(self, token: str | None) -> CredentialClass | None:
        """Management endpoints take the server-wide token only (or dev mode)."""
        if self.dev_mode:
            return "dev"
        return "server" if self.is_server_token(token) else None
