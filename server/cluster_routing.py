"""Any node answers: route each request for an actor to where the actor lives.

An ASGI middleware in front of the server's app, installed only in a
cluster. For a request naming an actor (``/gateway/{actorId}/…``: the
inspector HTTP routes and WebSocket, client connections, the queue;
``/actors/{actorId}/…``):

1. the actor is open here: served here (WebSockets are tracked so that they
   are closed, code 1012, if the actor later moves away);
2. another node holds its lease: forwarded (``forwarding.py``) to that
   node's registered address, unchanged, so the owner authorizes, serves
   and audits it once;
3. no one holds it: it is placed here (its lease taken, then served), unless
   it is pinned to another node (503 ``cluster.actor_pinned``).

A request already forwarded by another node (``X-Actorscope-Forwarded-By``)
is never forwarded again: the lease moved meanwhile, and the answer is 503.

The cluster views are answered here too: ``GET /actors`` lists every actor
of the cluster with its node; ``GET /nodes`` shows nodes, leases and the
takeover counts; ``PUT /actors`` for an existing actor owned elsewhere is
forwarded to its owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from . import errors
from .cluster import ClusterNode, not_owner
from .forwarding import FORWARDED_BY
from .http_api import bearer_token, error_response

__all__ = ["ClusterRouter"]

_PREFIXES = ("/gateway/", "/actors/")


class ClusterRouter:
    """Wraps ``app``; see the module docstring."""

    def __init__(self, app: ASGIApp, node: ClusterNode) -> None:
        self.app = app
        self.node = node
        # end_event_streams(app) looks for the wrapped app's state.
        self.state = getattr(app, "state", None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if scope["type"] == "http" and path in ("/actors", "/nodes"):
            await self._cluster_view(scope, receive, send)
            return
        actor_id = _actor_of(path)
        if actor_id is None:
            await self.app(scope, receive, send)
            return
        try:
            where = await self._locate(actor_id, forwarded=_forwarded(scope))
        except errors.InspectorError as exc:
            await _refuse(scope, receive, send, exc)
            return
        if where is None:
            await self._serve_here(actor_id, scope, receive, send)
        elif scope["type"] == "http":
            response = await self.node.forwarder.http(Request(scope, receive), where)
            await response(scope, receive, send)
        else:
            await self.node.forwarder.websocket(
                WebSocket(scope, receive, send), "ws" + where[len("http") :]
            )

    async def _locate(self, actor_id: str, *, forwarded: bool) -> str | None:
        """``None``: serve here; else the owner's address. Places unowned actors here."""
        node = self.node
        assert node.system is not None
        if node.system.get(actor_id) is not None:
            return None
        lease = await node.leases.owner(actor_id)
        if lease is not None and lease.node_id != node.node_id:
            if forwarded:
                raise not_owner(actor_id)
            address = await node.address_of(lease.node_id)
            if address is None:
                raise not_owner(actor_id)
            return address
        record = await node.store.load_record(actor_id)
        if record is None:
            return None  # unknown here and everywhere: the routes answer 404
        if await node.claim(record) is None:
            # Someone took it between our look and our claim: ask again, once.
            lease = await node.leases.owner(actor_id)
            if lease is None or forwarded:
                raise not_owner(actor_id)
            address = await node.address_of(lease.node_id)
            if address is None:
                raise not_owner(actor_id)
            return address
        return None

    async def _serve_here(self, actor_id: str, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        # A socket outlives requests: when the actor leaves this node its
        # task is cancelled and the socket closed, so the client reconnects
        # (and is forwarded to the new owner).
        sockets = self.node.sockets.setdefault(actor_id, set())

        async def serve() -> None:
            await self.app(scope, receive, send)

        task = asyncio.get_running_loop().create_task(serve())
        sockets.add(task)
        try:
            await asyncio.wait({task})
        finally:
            sockets.discard(task)
            if not task.done():
                task.cancel()
        if task.cancelled():
            # Cancelled by ClusterNode._drop: the actor is gone from this node.
            with contextlib.suppress(Exception):
                await send({"type": "websocket.close", "code": 1012, "reason": "actor moved"})
            return
        task.result()

    async def _cluster_view(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        node = self.node
        assert node.system is not None
        method, path = scope["method"], scope["path"]
        if path == "/actors" and method == "PUT":
            body = await request.body()
            target = await self._owner_of_named(body)
            replay = _replaying(body)
            if target is None:
                await self.app(scope, replay, send)
            else:
                response = await node.forwarder.http(Request(scope, replay), target)
                await response(scope, receive, send)
            return
        if method != "GET":
            await self.app(scope, receive, send)
            return
        if node.system.authorize_management(bearer_token(request)) is None:
            await error_response(errors.unauthorized())(scope, receive, send)
            return
        if path == "/nodes":
            answer: Response = JSONResponse(await node.nodes_json())
        else:
            name = request.query_params.get("name") or None
            answer = JSONResponse({"actors": await node.actors_json(name)})
        await answer(scope, receive, send)

    async def _owner_of_named(self, body: bytes) -> str | None:
        """The owner's address of the stored actor a ``PUT /actors`` names, if another node."""
        try:
            parsed = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return None  # the route itself answers 400
        if not isinstance(parsed, dict):
            return None
        name, key = parsed.get("name"), parsed.get("key", "")
        node = self.node
        for record in await node.store.load_records():
            if record.name == name and record.key == key:
                lease = await node.leases.owner(record.actor_id)
                if lease is None or lease.node_id == node.node_id:
                    return None
                return await node.address_of(lease.node_id)
        return None


def _actor_of(path: str) -> str | None:
    for prefix in _PREFIXES:
        if path.startswith(prefix):
            actor_id = path[len(prefix) :].split("/", 1)[0]
            return actor_id or None
    return None


def _forwarded(scope: Scope) -> bool:
    name = FORWARDED_BY.encode()
    return any(k.lower() == name for k, _ in scope.get("headers", []))


def _replaying(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # no more body; wait for the disconnect forever
        raise AssertionError("unreachable")

    return receive


async def _refuse(scope: Scope, receive: Receive, send: Send, exc: errors.InspectorError) -> None:
    if scope["type"] == "http":
        await error_response(exc)(scope, receive, send)
        return
    # A WebSocket refused before its handshake is accepted (the server answers 403).
    await send({"type": "websocket.close", "code": 1013, "reason": exc.frame_message()[:120]})
