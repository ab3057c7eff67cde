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
takeover counts; ``PUT``/``POST /actors`` for an existing actor owned
elsewhere is forwarded to its owner, and of two nodes creating one (name,
key) at the same moment only one creates it (``_create``).
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
from .cluster import OWNED_ELSEWHERE, ClusterNode, not_owner
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
        if path == "/actors" and method in ("PUT", "POST"):
            await self._create(scope, receive, send, await request.body())
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

    async def _create(self, scope: Scope, receive: Receive, send: Send, body: bytes) -> None:
        """``PUT``/``POST /actors``: one actor per (name, key) in the whole cluster.

        A stored actor is served where it lives (forwarded to its owner, or
        placed here if no one owns it), so ``PUT`` answers the existing actor
        and ``POST`` its 409 exactly as a lone server does. A new one is
        created here; when another node created the same (name, key) at the
        same moment, the database refuses our record (``pg_store.py``) and
        the request goes to the winner, which answers it as for an existing actor.
        """
        named = _named(body, scope["method"])
        for _attempt in range(3):
            if named is not None:
                try:
                    target = await self._where_named(*named, forwarded=_forwarded(scope))
                except errors.InspectorError as exc:
                    await _refuse(scope, receive, send, exc)
                    return
                if target is not None:
                    request = Request(scope, _replaying(body))
                    response = await self.node.forwarder.http(request, target)
                    await response(scope, receive, send)
                    return
            if not await _serve_unless_owned_elsewhere(self.app, scope, _replaying(body), send):
                return
        # Owned elsewhere, yet not found there, three times: ownership keeps moving.
        busy = errors.InspectorError(
            503, "cluster", "owner_unavailable", "no node can serve this actor right now"
        )
        await _refuse(scope, receive, send, busy)

    async def _where_named(self, name: str, key: str, *, forwarded: bool) -> str | None:
        """``None``: create or serve here; else the owner's address of the stored (name, key)."""
        record = await self.node.store.find_named(name, key)
        if record is None:
            return None
        return await self._locate(record.actor_id, forwarded=forwarded)


async def _serve_unless_owned_elsewhere(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send
) -> bool:
    """Run ``app``; ``True`` (nothing sent) if it answered ``cluster.owned_elsewhere``.

    A 503 answer is held back until its body is complete, to read its code;
    every other answer goes out as it comes.
    """
    held: list[Message] = []
    swallowed = False

    async def filtered(message: Message) -> None:
        nonlocal swallowed
        start = message["type"] == "http.response.start"
        if not held and not (start and message["status"] == 503):
            await send(message)
            return
        held.append(message)
        if message["type"] != "http.response.body" or message.get("more_body"):
            return
        if _is_owned_elsewhere(held):
            swallowed = True
        else:
            for kept in held:
                await send(kept)
        held.clear()

    await app(scope, receive, filtered)
    return swallowed


def _is_owned_elsewhere(messages: list[Message]) -> bool:
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False
    return (
        isinstance(parsed, dict)
        and parsed.get("group") == "cluster"
        and parsed.get("code") == OWNED_ELSEWHERE
    )


def _named(body: bytes, method: str) -> tuple[str, str] | None:
    """The (name, key) a create names; ``None`` when there is nothing to look up.

    ``PUT`` without a key means the key ``""``; ``POST`` without one makes a
    fresh key, which no stored actor has. A malformed body is left to the
    route, which answers 400.
    """
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(parsed, dict):
        return None
    name, key = parsed.get("name"), parsed.get("key")
    if key is None and method == "PUT":
        key = ""
    if not isinstance(name, str) or not isinstance(key, str):
        return None
    return name, key


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
